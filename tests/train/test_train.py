"""Tests for modeinterp.train: DDPM trainer, atomic checkpoints, exact resume, EMA, load_model."""
import os

import numpy as np
import pytest
import torch

from modeinterp.train.checkpoint import read_checkpoint
from modeinterp.models import MLPDenoiser
from modeinterp.train import Trainer, diffusion_batch, load_model


pytestmark = pytest.mark.usefixtures("one_thread")


class StandInSchedule:
    """Minimal schedule: the Trainer only needs ``.T`` and ``.alphas_cumprod``."""

    def __init__(self, T=1000, beta_start=1e-3, beta_end=0.2):
        self.T = T
        self.betas = np.linspace(beta_start, beta_end, T, dtype=np.float64)
        self.alphas_cumprod = np.cumprod(1.0 - self.betas)


def two_modes(n=512, seed=0):
    g = torch.Generator().manual_seed(seed)
    modes = torch.tensor([[-1.5, 0.0], [1.5, 0.0], [0.0, 1.5]])
    return modes[torch.arange(n) % 3] + 0.05 * torch.randn(n, 2, generator=g)


def small_model(seed=0, **kw):
    torch.manual_seed(seed)
    return MLPDenoiser(2, hidden=32, time_dim=16, **kw)


def params(model):
    return [p.detach().clone() for p in model.parameters()]


def assert_same_params(a, b):
    sa, sb = a.state_dict(), b.state_dict()
    assert sa.keys() == sb.keys()
    for k in sa:
        assert torch.equal(sa[k], sb[k]), k


def test_default_schedule_is_paper_toy_linear():
    pytest.importorskip("modeinterp.schedules")
    tr = Trainer(small_model(), two_modes(30), batch_size=8, steps=1)
    assert tr.schedule.T == 1000
    expected = np.cumprod(1.0 - np.linspace(1e-3, 0.2, 1000))
    np.testing.assert_allclose(tr.schedule.alphas_cumprod, expected, rtol=1e-12)


def test_training_reduces_loss():
    tr = Trainer(MLPDenoiser(2), two_modes(), StandInSchedule(), batch_size=128, steps=300,
                 seed=1)
    hist = tr.fit(progress=False)
    assert hist.shape == (300,) and hist.dtype == np.float32 and np.isfinite(hist).all()
    first, last = hist[:30].mean(), hist[-30:].mean()
    assert last < 0.4 * first, (first, last)


@pytest.mark.parametrize("prediction", ["x0", "v"])
def test_other_targets_train(prediction):
    tr = Trainer(small_model(), two_modes(), StandInSchedule(), batch_size=128, steps=150,
                 prediction=prediction)
    hist = tr.fit(progress=False)
    assert hist[-20:].mean() < 0.7 * hist[:20].mean()


@pytest.mark.parametrize("ours,diffusers_name", [("eps", "epsilon"), ("x0", "sample"),
                                                 ("v", "v_prediction")])
def test_prediction_names_are_the_schedule_tables(ours, diffusers_name):
    """One vocabulary: the names Schedule.table takes (ours and diffusers') train the same."""
    a = Trainer(small_model(), two_modes(), StandInSchedule(), batch_size=8, steps=1,
                prediction=diffusers_name)
    assert a.prediction == ours


def test_diffusion_batch_targets():
    g = torch.Generator().manual_seed(3)
    x0, eps = torch.randn(5, 2, generator=g), torch.randn(5, 2, generator=g)
    ac = torch.rand(5, generator=g, dtype=torch.float64).clamp(0.01, 0.99)
    a, s = ac.sqrt().float(), (1 - ac).sqrt().float()
    x_t, tgt = diffusion_batch(x0, eps, a, s, "eps")
    torch.testing.assert_close(x_t, a[:, None] * x0 + s[:, None] * eps)
    assert torch.equal(tgt, eps)
    assert torch.equal(diffusion_batch(x0, eps, a, s, "x0")[1], x0)
    _, v = diffusion_batch(x0, eps, a, s, "v")
    # v-parameterisation identities: x0 = a·x_t − s·v, ε = s·x_t + a·v
    torch.testing.assert_close(a[:, None] * x_t - s[:, None] * v, x0)
    torch.testing.assert_close(s[:, None] * x_t + a[:, None] * v, eps)


def test_same_seed_same_run_different_seed_differs():
    runs = []
    for seed in (0, 0, 1):
        tr = Trainer(small_model(), two_modes(100), StandInSchedule(), batch_size=32, steps=20,
                     seed=seed)
        runs.append((tr.fit(progress=False), tr.model))
    assert np.array_equal(runs[0][0], runs[1][0])
    assert_same_params(runs[0][1], runs[1][1])
    assert not np.array_equal(runs[0][0], runs[2][0])


def test_progress_bar_runs(capsys):
    tr = Trainer(small_model(), two_modes(50), StandInSchedule(), batch_size=16, steps=60)
    tr.fit(progress=True)
    assert "loss=" in capsys.readouterr().err


def make(tmp_path, name="ck.pt", steps=60, model_seed=0, **kw):
    # 150 samples, batch 64: batches straddle epochs; checkpoint every 20 steps; with EMA
    args = dict(batch_size=64, steps=steps, ema=0.9, seed=7, checkpoint=tmp_path / name,
                checkpoint_every=20)
    args.update(kw)
    return Trainer(small_model(model_seed), two_modes(150), StandInSchedule(), **args)


def assert_same_run(a, b):
    assert a.step == b.step
    assert np.array_equal(a.history, b.history)
    assert_same_params(a.model, b.model)
    assert_same_params(a.ema_model, b.ema_model)
    oa, ob = a.optimizer.state_dict()["state"], b.optimizer.state_dict()["state"]
    for i in oa:
        for k in oa[i]:
            assert torch.equal(oa[i][k], ob[i][k]), (i, k)


@pytest.mark.parametrize("how", ["stop_after", "callback_raises"])
def test_kill_and_resume_is_bitwise_identical(tmp_path, how):
    full = make(tmp_path, "full.pt")
    full.fit(progress=False)

    killed = make(tmp_path)
    if how == "stop_after":
        killed.fit(progress=False, stop_after=53)  # last checkpoint: step 40
        expected_ckpt_step = 40
    else:
        def crash(step, loss):
            if step == 33:
                raise KeyboardInterrupt("simulated kill")
        with pytest.raises(KeyboardInterrupt):
            killed.fit(progress=False, callback=crash)  # last checkpoint: step 20
        expected_ckpt_step = 20
    ck = read_checkpoint(tmp_path / "ck.pt")
    assert ck["step"] == expected_ckpt_step and len(ck["history"]) == expected_ckpt_step

    resumed = make(tmp_path, model_seed=123)  # fresh process stand-in: other initial weights
    hist = resumed.fit(progress=False)
    assert resumed.step == 60 and len(hist) == 60
    assert_same_run(resumed, full)
    # the final checkpoints agree too
    a, b = read_checkpoint(tmp_path / "ck.pt"), read_checkpoint(tmp_path / "full.pt")
    assert torch.equal(a["history"], b["history"])
    for k in a["model"]:
        assert torch.equal(a["model"][k], b["model"][k])


def test_focused_cosine_run_resumes_bitwise_and_rejects_other_focus(tmp_path):
    opts = dict(focus_below=30, focus_prob=0.8, lr_schedule="cosine")
    full = make(tmp_path, "full.pt", **opts)
    full.fit(progress=False)
    make(tmp_path, **opts).fit(progress=False, stop_after=47)
    resumed = make(tmp_path, model_seed=5, **opts)
    resumed.fit(progress=False)
    assert_same_run(resumed, full)
    with pytest.raises(ValueError, match="focus_below"):
        make(tmp_path, focus_below=40).fit(progress=False)
    with pytest.raises(ValueError, match="focus_below"):
        make(tmp_path).fit(progress=False)  # uniform t is another config


def test_a_run_with_a_longer_cosine_is_that_runs_start_and_its_length_is_part_of_the_run(tmp_path):
    longer = make(tmp_path, "long.pt", lr_schedule="cosine")  # 60 steps
    longer.fit(progress=False, stop_after=25)
    start = make(tmp_path, steps=25, lr_schedule="cosine", lr_decay_steps=60)
    start.fit(progress=False)
    assert_same_run(start, longer)
    assert start.lr_at(25) == longer.lr_at(25) > make(tmp_path, "other.pt", steps=25,
                                                         lr_schedule="cosine").lr_at(25)
    with pytest.raises(ValueError, match="lr_decay_steps"):
        make(tmp_path, steps=25, lr_schedule="cosine").fit(progress=False)  # another run
    with pytest.raises(ValueError, match="lr_decay_steps.*cosine"):
        make(tmp_path, "x.pt", lr_decay_steps=60)
    with pytest.raises(ValueError, match="lr_decay_steps"):
        make(tmp_path, "x.pt", lr_schedule="cosine", lr_decay_steps=0)


def test_focused_timesteps_follow_the_mixture():
    T, F, p, n = 1000, 30, 0.75, 200_000
    gen = torch.Generator().manual_seed(0)
    tr = Trainer(small_model(), two_modes(20), StandInSchedule(T), batch_size=4, steps=1,
                 focus_below=F, focus_prob=p)
    t = tr.timesteps(n, gen, "cpu").numpy()
    assert t.min() >= 0 and t.max() == T - 1
    below = p + (1 - p) * F / T  # P(t < F)
    assert abs((t < F).mean() - below) < 5 * np.sqrt(below * (1 - below) / n)
    # above F the draws are uniform: each timestep equally likely
    counts = np.bincount(t[t >= F] - F, minlength=T - F)
    expected = n * (1 - p) / T
    assert abs(counts.mean() - expected) < 0.05 * expected
    # uniform by default: the paper's draw, unchanged
    plain = Trainer(small_model(), two_modes(20), StandInSchedule(T), batch_size=4, steps=1)
    assert plain.timesteps.focus_below is None
    assert (plain.timesteps(n, gen, "cpu").numpy() < F).mean() < 2 * F / T


def test_resume_extends_a_finished_run(tmp_path):
    full = make(tmp_path, "full.pt", steps=60)
    full.fit(progress=False)
    short = make(tmp_path, steps=40)
    short.fit(progress=False)
    longer = make(tmp_path, steps=60)  # same config, more steps
    longer.fit(progress=False)
    assert_same_run(longer, full)
    again = make(tmp_path, steps=60)  # already done: nothing to train
    assert np.array_equal(again.fit(progress=False), full.history)


def test_resume_rejects_a_different_config(tmp_path):
    make(tmp_path, steps=20).fit(progress=False)
    with pytest.raises(ValueError, match=r"lr: checkpoint 0\.001, now 0\.002"):
        make(tmp_path, lr=2e-3).fit(progress=False)
    with pytest.raises(ValueError, match="model.hidden"):
        Trainer(MLPDenoiser(2, hidden=16, time_dim=16), two_modes(150), StandInSchedule(),
                batch_size=64, steps=40, ema=0.9, seed=7, checkpoint=tmp_path / "ck.pt",
                checkpoint_every=20).fit(progress=False)
    with pytest.raises(ValueError, match="data_sha256"):
        Trainer(small_model(), two_modes(150, seed=9), StandInSchedule(), batch_size=64,
                steps=40, ema=0.9, seed=7, checkpoint=tmp_path / "ck.pt",
                checkpoint_every=20).fit(progress=False)
    # resume=False starts afresh and overwrites
    fresh = make(tmp_path, lr=2e-3, steps=20)
    fresh.fit(resume=False, progress=False)
    assert read_checkpoint(tmp_path / "ck.pt")["config"]["trainer"]["lr"] == 2e-3


def test_checkpoint_is_atomic_and_survives_a_crash_mid_write(tmp_path, monkeypatch):
    tr = make(tmp_path, steps=20)
    tr.fit(progress=False)
    path = tmp_path / "ck.pt"
    assert os.listdir(tmp_path) == ["ck.pt"]  # no temporary file left behind
    before = path.read_bytes()
    ck = torch.load(path, weights_only=True)  # plain tensors/values only
    assert {"model", "optimizer", "ema", "step", "config", "rng", "history"} <= ck.keys()
    assert ck["config"]["model"] == tr.model.config()

    real_save = torch.save

    def crashing_save(obj, f, *a, **kw):
        f.write(b"partial garbage")  # some bytes reach the temp file, then the "crash"
        raise OSError("disk died")

    monkeypatch.setattr(torch, "save", crashing_save)
    tr.steps = 40
    with pytest.raises(OSError, match="disk died"):
        tr.fit(progress=False)
    monkeypatch.setattr(torch, "save", real_save)
    assert path.read_bytes() == before
    assert os.listdir(tmp_path) == ["ck.pt"]
    assert read_checkpoint(path)["step"] == 20

    # a new trainer resumes from the intact checkpoint and matches an uninterrupted run
    resumed = make(tmp_path, steps=40)
    resumed.fit(progress=False)
    full = make(tmp_path, "full.pt", steps=40)
    full.fit(progress=False)
    assert_same_run(resumed, full)


def test_ema_differs_from_raw_and_is_used_by_load_model(tmp_path):
    tr = make(tmp_path, steps=40, ema=0.95)
    tr.fit(progress=False)
    raw, ema = tr.model.state_dict(), tr.ema_model.state_dict()
    assert any(not torch.equal(raw[k], ema[k]) for k in raw)

    loaded = load_model(tmp_path / "ck.pt")
    assert isinstance(loaded, MLPDenoiser) and not loaded.training
    assert loaded.config() == tr.model.config()
    assert_same_params(loaded, tr.ema_model)
    assert_same_params(load_model(tmp_path / "ck.pt", ema=False), tr.model)

    x, t = torch.randn(4, 2), torch.tensor([0, 10, 500, 999])
    with torch.no_grad():
        assert torch.equal(loaded(x, t), tr.ema_model(x, t))

    # EMA by hand: ema_k = d·ema_{k-1} + (1-d)·θ_k, starting from the initial weights
    tr2 = Trainer(small_model(), two_modes(150), StandInSchedule(), batch_size=64, steps=1,
                  ema=0.9)
    init = params(tr2.model)
    tr2.fit(progress=False)
    for p0, p1, e in zip(init, tr2.model.parameters(), tr2.ema_model.parameters()):
        torch.testing.assert_close(e, 0.9 * p0 + 0.1 * p1.detach(), rtol=1e-6, atol=1e-7)


def test_load_model_without_ema_gives_raw_weights(tmp_path):
    tr = make(tmp_path, steps=20, ema=None)
    tr.fit(progress=False)
    assert tr.ema_model is None and read_checkpoint(tmp_path / "ck.pt")["ema"] is None
    assert_same_params(load_model(tmp_path / "ck.pt"), tr.model)


@pytest.mark.parametrize("kwargs, name", [
    (dict(data=torch.zeros(10)), "data"),
    (dict(data=torch.zeros(4, 5, 2)), "data"),
    (dict(data=torch.zeros(0, 2)), "data"),
    (dict(data=torch.full((4, 2), float("nan"))), "data"),
    (dict(data=torch.zeros(4, 3)), "data"),  # model.dim is 2
    (dict(batch_size=0), "batch_size"),
    (dict(batch_size=-5), "batch_size"),
    (dict(batch_size=2.5), "batch_size"),
    (dict(lr=0.0), "lr"),
    (dict(lr=-1e-3), "lr"),
    (dict(lr=float("nan")), "lr"),
    (dict(prediction="score"), "prediction"),
    (dict(ema=0.0), "ema"),
    (dict(ema=1.0), "ema"),
    (dict(ema=1.5), "ema"),
    (dict(ema=-0.1), "ema"),
    (dict(steps=-1), "steps"),
    (dict(checkpoint_every=0), "checkpoint_every"),
    (dict(seed=-1), "seed"),
    (dict(schedule=StandInSchedule(T=500)), "schedule"),  # model.T is 1000
    (dict(focus_below=0), "focus_below"),
    (dict(focus_below=1001), "focus_below"),
    (dict(focus_below=2.5), "focus_below"),
    (dict(focus_below=30, focus_prob=1.5), "focus_prob"),
    (dict(focus_prob=-0.1), "focus_prob"),
])
def test_bad_arguments_raise_value_error_naming_them(kwargs, name):
    args = dict(data=two_modes(20), schedule=StandInSchedule())
    args.update(kwargs)
    data, schedule = args.pop("data"), args.pop("schedule")
    with pytest.raises(ValueError, match=name):
        Trainer(small_model(), data, schedule, **args)


def test_bad_fit_arguments(tmp_path):
    tr = Trainer(small_model(), two_modes(20), StandInSchedule(), batch_size=4, steps=2)
    with pytest.raises(ValueError, match="stop_after"):
        tr.fit(progress=False, stop_after=-1)
    with pytest.raises(ValueError, match="path"):
        tr.save_checkpoint()
    (tmp_path / "junk.pt").write_bytes(b"not a checkpoint")
    with pytest.raises(Exception):
        load_model(tmp_path / "junk.pt")
    torch.save({"format": "other"}, tmp_path / "other.pt")
    with pytest.raises(ValueError, match="not a modeinterp Trainer checkpoint"):
        load_model(tmp_path / "other.pt")
