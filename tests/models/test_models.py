"""Tests for modeinterp.models: the paper's toy MLP denoiser."""
import math

import pytest
import torch

from modeinterp.models import MODELS, MLPDenoiser, build_model, timestep_embedding


pytestmark = pytest.mark.usefixtures("one_thread")


def n_params(model):
    return sum(p.numel() for p in model.parameters())


def block_params(h):
    # LN1, LN2 (weight+bias) + fc1, fc2 (no bias) + enc (with bias)
    return 2 * 2 * h + 3 * h * h + h


@pytest.mark.parametrize("dim", [1, 2])
def test_output_shape_and_dtype(dim):
    model = MLPDenoiser(dim)
    x = torch.randn(7, dim)
    t = torch.randint(0, 1000, (7,), dtype=torch.int64)
    out = model(x, t)
    assert out.shape == x.shape and out.dtype == torch.float32
    assert torch.isfinite(out).all()
    out64 = model(x.double(), t)  # computed in the parameters' dtype, returned as x's dtype
    assert out64.dtype == torch.float64
    torch.testing.assert_close(out64.float(), out)


def test_dim1_accepts_flat_batch_and_empty_batch():
    model = MLPDenoiser(1)
    x = torch.randn(5)
    t = torch.full((5,), 3, dtype=torch.int64)
    assert torch.equal(model(x, t), model(x[:, None], t)[:, 0])
    assert model(torch.randn(0, 1), torch.zeros(0, dtype=torch.int64)).shape == (0, 1)
    # scalar timestep broadcast to the batch
    torch.testing.assert_close(model(x, 3), model(x, t))
    assert torch.equal(model(x, torch.tensor(3)), model(x, 3))


def test_shared_timestep_embedded_once_matches_per_row(device):
    """An int, a 0-d tensor or a stride-0 (B,) t is embedded once and broadcast: the same
    numbers as B per-row embeddings (to 1e-12 in float64, to float32 rounding in float32)."""
    torch.manual_seed(2)
    model = MLPDenoiser(2, hidden=64, time_dim=32).to(device)
    x = torch.randn(300, 2, device=device)
    per_row = torch.full((300,), 417, dtype=torch.int64, device=device)
    shared = torch.tensor(417, device=device).expand(300)
    assert shared.stride(0) == 0
    one = model(x, shared)
    assert torch.equal(one, model(x, 417)) and torch.equal(one, model(x, torch.tensor(417)))
    torch.testing.assert_close(one, model(x, per_row), rtol=1e-5, atol=1e-5)
    model64 = model.double()
    torch.testing.assert_close(model64(x.double(), shared), model64(x.double(), per_row),
                               rtol=1e-12, atol=1e-12)
    # one embedding row goes through the blocks, not 300 (what makes the shared path cheaper)
    seen = []
    hook = model64.blocks[0].enc.register_forward_hook(lambda m, i, o: seen.append(o.shape))
    model64(x.double(), shared)
    model64(x.double(), per_row)
    hook.remove()
    assert seen == [(1, 64), (300, 64)]
    # the t-range check (CPU t only: on a GPU it would sync) still sees the shared value
    with pytest.raises(ValueError, match="lie in"):
        model(x, torch.tensor(1000).expand(300))


def test_parameter_counts_shared_vs_independent():
    d, h = 2, 128
    base = d * h + (h * h + h) + 2 * h + (h * d + d)  # in_fc, t_proj, out LN, out_fc
    indep = MLPDenoiser(d)
    shared = MLPDenoiser(d, share_blocks=True)
    assert block_params(h) == 49_792
    assert n_params(indep) == base + 3 * block_params(h)
    assert n_params(shared) == base + block_params(h)
    assert len(indep.blocks) == 3 and len(shared.blocks) == 1
    small = MLPDenoiser(1, hidden=16, n_blocks=4, time_dim=8)
    assert n_params(small) == 16 + (8 * 16 + 16) + 32 + 17 + 4 * block_params(16)


def test_shared_model_applies_one_block_n_times():
    torch.manual_seed(0)
    shared = MLPDenoiser(2, hidden=32, time_dim=16, share_blocks=True)
    indep = MLPDenoiser(2, hidden=32, time_dim=16)
    state = {k: v for k, v in shared.state_dict().items() if not k.startswith("blocks.")}
    for i in range(3):
        state.update({k.replace("blocks.0.", f"blocks.{i}."): v
                      for k, v in shared.state_dict().items() if k.startswith("blocks.0.")})
    indep.load_state_dict(state)
    x, t = torch.randn(9, 2), torch.randint(0, 1000, (9,))
    torch.testing.assert_close(shared(x, t), indep(x, t), rtol=0, atol=0)
    # one block applied once differs from three applications
    once = MLPDenoiser.from_config({**shared.config(), "n_blocks": 1})
    once.load_state_dict(shared.state_dict())
    assert not torch.allclose(once(x, t), shared(x, t))


def test_time_conditioning_changes_output():
    torch.manual_seed(1)
    model = MLPDenoiser(2)
    x = torch.randn(4, 2).repeat(2, 1)
    t = torch.tensor([0, 10, 500, 999, 1, 11, 501, 998])
    out = model(x, t)
    assert not torch.allclose(out[:4], out[4:])
    same = model(x, torch.full((8,), 250))
    torch.testing.assert_close(same[:4], same[4:], rtol=0, atol=0)


def test_config_roundtrip_and_registry():
    model = MLPDenoiser(2, hidden=48, n_blocks=2, time_dim=32, share_blocks=True, T=200)
    cfg = model.config()
    assert cfg == {"dim": 2, "hidden": 48, "n_blocks": 2, "time_dim": 32,
                   "share_blocks": True, "T": 200}
    clone = MLPDenoiser.from_config(cfg)
    clone.load_state_dict(model.state_dict())
    x, t = torch.randn(3, 2), torch.tensor([0, 100, 199])
    assert torch.equal(clone(x, t), model(x, t))
    assert MODELS["MLPDenoiser"] is MLPDenoiser
    assert build_model("MLPDenoiser", cfg).config() == cfg
    with pytest.raises(ValueError, match="unknown"):
        MLPDenoiser.from_config({**cfg, "width": 3})
    with pytest.raises(ValueError, match="unknown model class"):
        build_model("Nope", cfg)


def test_timestep_embedding_formula():
    t = torch.tensor([0, 1, 37, 999])
    emb = timestep_embedding(t, 8)
    half = 4
    for i, tv in enumerate(t.tolist()):
        for k in range(half):
            f = math.exp(-k * math.log(10000.0) / (half - 1))
            assert emb[i, k].item() == pytest.approx(math.sin(tv * f), abs=1e-4)
            assert emb[i, half + k].item() == pytest.approx(math.cos(tv * f), abs=1e-4)
    odd = timestep_embedding(t, 9)
    assert odd.shape == (4, 9) and torch.equal(odd[:, -1], torch.zeros(4))


def test_gradients_reach_every_parameter():
    model = MLPDenoiser(2, hidden=16, time_dim=8)
    model(torch.randn(6, 2), torch.randint(0, 1000, (6,))).pow(2).sum().backward()
    for name, p in model.named_parameters():
        assert p.grad is not None and torch.isfinite(p.grad).all(), name


def test_bad_inputs():
    model = MLPDenoiser(2, T=100)
    x = torch.randn(3, 2)
    with pytest.raises(ValueError, match="x_t"):
        model(torch.randn(3, 3), torch.zeros(3, dtype=torch.int64))
    with pytest.raises(ValueError, match="x_t"):
        model(torch.randn(3), torch.zeros(3, dtype=torch.int64))
    with pytest.raises(ValueError, match="t must have shape"):
        model(x, torch.zeros(4, dtype=torch.int64))
    with pytest.raises(ValueError, match=r"\[0, T=100\)"):
        model(x, torch.tensor([0, 5, 100]))
    with pytest.raises(ValueError, match=r"\[0, T=100\)"):
        model(x, torch.tensor([-1, 5, 10]))
    with pytest.raises(TypeError, match="t must"):
        model(x, [1, 2, 3])
    with pytest.raises(TypeError, match="x_t"):
        model([[0.0, 0.0]], torch.zeros(1, dtype=torch.int64))
    with pytest.raises(ValueError, match="dim"):
        MLPDenoiser(0)
    with pytest.raises(TypeError, match="hidden"):
        MLPDenoiser(2, hidden=12.5)
    with pytest.raises(TypeError, match="share_blocks"):
        MLPDenoiser(2, share_blocks="yes")
