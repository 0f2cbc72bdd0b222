"""Coefficient tables: every StepTable applied as the fused step, against the DDPM posterior and
DDIM eq. 12 written from the papers.

Every table is checked by applying its StepCoef exactly as docs/design.md's fused step does (float64
numpy) and comparing with a direct, independent implementation of the DDPM posterior (DDPM paper
eq. 6–7) or DDIM eq. 12.  diffusers is used for extra cross-checks only when it is importable.
"""
import numpy as np
import pytest

from schedule_oracles import alphas_cumprod, assert_close

from modeinterp.schedules import Schedule, StepCoef, StepTable



# ----------------------------------------------------------------------------- coefficient helpers
def fused(coef, x, out, z):
    """docs/design.md's fused step in float64; coef is a StepCoef or an (S, 7) array (one row a step,
    broadcast against (S, n) inputs)."""
    a, b, c0, c1, c2, sigma, clip = (np.asarray(v)[..., None] for v in np.moveaxis(
        np.asarray(coef, dtype=np.float64), -1, 0))
    x0 = a * x + b * out
    x0 = np.where(clip > 0, np.clip(x0, -clip, clip), x0)
    return c0 * x0 + c1 * x + c2 * out + sigma * z, x0


def x0_direct(pred, x, out, ab):
    if pred == "eps":
        return (x - np.sqrt(1 - ab) * out) / np.sqrt(ab)
    if pred == "v":
        return np.sqrt(ab) * x - np.sqrt(1 - ab) * out
    return out.copy()


def sample_inputs(pred, S, seed=0, n=256):
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((S, n))
    out = rng.standard_normal((S, n)) * (1.5 if pred == "x0" else 1.0)
    return x, out, rng.standard_normal((S, n))


def expected_timesteps(T, steps, spacing):
    S = T if steps is None else steps
    if spacing == "leading":
        return [i * (T // S) for i in range(S)][::-1]
    if spacing == "trailing":
        return [int(round(T - i * T / S)) - 1 for i in range(S)]
    return [int(v) for v in np.linspace(0, T - 1, S).round()][::-1]


def chain_alphas(sched, table, steps, spacing):
    """(ᾱ_t, ᾱ_prev) as (S, 1) columns, from an independent cumprod and the expected timesteps."""
    ts = expected_timesteps(sched.T, steps, spacing)
    assert table.timesteps.tolist() == ts
    ab = alphas_cumprod(sched.betas)
    ab_t = ab[ts]
    ab_prev = np.append(ab_t[1:], 1.0)
    np.testing.assert_allclose(table.alphas_cumprod_t, ab_t, rtol=1e-13, atol=0)
    np.testing.assert_allclose(table.alphas_cumprod_prev, ab_prev, rtol=1e-13, atol=0)
    return ab_t[:, None], ab_prev[:, None]


def clamp(x0, clip):
    return np.minimum(np.maximum(x0, -clip), clip) if clip else x0


SCHEDULES = {"linear": Schedule.linear(1000), "cosine": Schedule.cosine(1000),
             "warmup": Schedule.warmup(200, 1e-3, 0.05, 0.5)}
RESPACE = [(None, "leading"), (10, "leading"), (7, "trailing"), (13, "linspace")]


# ----------------------------------------------------------------------------- DDPM
def ddpm_direct(x, out, z, ab_t, ab_prev, pred, variance, clip):
    """DDPM eq. 6–7 on the respaced chain: μ̃(x_t, x̂0) and β̃ / β with β_t = 1 − ᾱ_t/ᾱ_prev;
    no noise at the last step."""
    beta = 1 - ab_t / ab_prev
    alpha = 1 - beta
    x0 = clamp(x0_direct(pred, x, out, ab_t), clip)
    mean = (np.sqrt(ab_prev) * beta / (1 - ab_t)) * x0 \
        + (np.sqrt(alpha) * (1 - ab_prev) / (1 - ab_t)) * x
    var = beta if variance == "fixed-large" else (1 - ab_prev) / (1 - ab_t) * beta
    std = np.sqrt(var)
    std[-1] = 0.0
    return mean + std * z, x0


@pytest.mark.parametrize("sname", list(SCHEDULES))
@pytest.mark.parametrize("pred", ["eps", "x0", "v"])
@pytest.mark.parametrize("variance", ["fixed-large", "fixed-small"])
@pytest.mark.parametrize("steps,spacing", RESPACE)
@pytest.mark.parametrize("clip", [None, 1.0])
def test_ddpm_matches_posterior(sname, pred, variance, steps, spacing, clip):
    sched = SCHEDULES[sname]
    table = sched.table("ddpm", pred, variance, steps=steps, clip=clip, spacing=spacing)
    assert isinstance(table, StepTable) and table.method == "ddpm"
    ab_t, ab_prev = chain_alphas(sched, table, steps, spacing)
    x, out, z = sample_inputs(pred, len(table), seed=len(table))
    got, got_x0 = fused(table.as_array(), x, out, z)
    want, want_x0 = ddpm_direct(x, out, z, ab_t, ab_prev, pred, variance, clip)
    assert_close(got_x0, want_x0)
    assert_close(got, want)
    assert (table.as_array()[:, 6] == (clip or 0.0)).all()
    if clip:
        assert np.any(np.abs(want_x0) == clip)  # the clamp really was exercised


def test_ddpm_last_step_and_aliases():
    table = Schedule.linear(1000).table("ddpm", "epsilon", "fixed_small", steps=10)
    last = table.coef(-1)
    assert (last.c0, last.c1, last.c2, last.sigma) == (1.0, 0.0, 0.0, 0.0)
    assert table.prediction == "eps" and table.variance == "fixed-small"
    assert table.coef(len(table) - 1) == last
    assert Schedule.linear(100).table(prediction="sample").prediction == "x0"
    assert Schedule.linear(100).table(prediction="v_prediction").prediction == "v"


# ----------------------------------------------------------------------------- DDIM
def ddim_direct(x, out, z, ab_t, ab_prev, pred, eta, clip, use_clipped):
    """DDIM eq. 12 with σ_t(η) of eq. 16; ε̂ is the model's ε or derived from (x, x̂0)."""
    x0 = x0_direct(pred, x, out, ab_t)
    if pred == "eps":
        eps = out
    elif pred == "v":
        eps = np.sqrt(ab_t) * out + np.sqrt(1 - ab_t) * x
    else:
        eps = (x - np.sqrt(ab_t) * x0) / np.sqrt(1 - ab_t)  # from the unclipped x̂0
    x0 = clamp(x0, clip)
    if use_clipped:
        eps = (x - np.sqrt(ab_t) * x0) / np.sqrt(1 - ab_t)
    sigma = eta * np.sqrt((1 - ab_prev) / (1 - ab_t)) * np.sqrt(1 - ab_t / ab_prev)
    direction = np.sqrt(np.maximum(1 - ab_prev - sigma ** 2, 0.0)) * eps
    return np.sqrt(ab_prev) * x0 + direction + sigma * z, x0


@pytest.mark.parametrize("sname", ["linear", "cosine"])
@pytest.mark.parametrize("pred", ["eps", "x0", "v"])
@pytest.mark.parametrize("eta", [0.0, 0.5, 1.0])
@pytest.mark.parametrize("steps,spacing", RESPACE)
@pytest.mark.parametrize("clip,use_clipped", [(None, False), (1.0, False), (1.0, True),
                                              (None, True)])
def test_ddim_matches_eq12(sname, pred, eta, steps, spacing, clip, use_clipped):
    sched = SCHEDULES[sname]
    table = sched.table("ddim", pred, eta=eta, steps=steps, clip=clip, spacing=spacing,
                        use_clipped_model_output=use_clipped)
    assert table.method == "ddim" and table.eta == eta and table.variance is None
    ab_t, ab_prev = chain_alphas(sched, table, steps, spacing)
    x, out, z = sample_inputs(pred, len(table), seed=len(table) + 1)
    got, got_x0 = fused(table.as_array(), x, out, z)
    want, want_x0 = ddim_direct(x, out, z, ab_t, ab_prev, pred, eta, clip, use_clipped)
    assert_close(got_x0, want_x0)
    assert_close(got, want)
    last = table.coef(-1)
    assert last.sigma == 0.0 and last.c0 == pytest.approx(1.0, abs=1e-15)


def test_step_coef_path_matches_arrays():
    """coef(i) (the StepCoef the sampler launches with) gives the same step as the arrays."""
    table = Schedule.cosine(100).table("ddim", "x0", eta=0.7, steps=9, clip=1.0)
    x, out, z = sample_inputs("x0", len(table), seed=3)
    got_all, _ = fused(table.as_array(), x, out, z)
    for i, (t, coef) in enumerate(table):
        assert isinstance(coef, StepCoef) and all(type(v) is float for v in coef)
        assert t == table.timesteps[i]
        got, _ = fused(coef, x[i], out[i], z[i])
        np.testing.assert_array_equal(got, got_all[i])


def test_ddim_eta1_sigma_is_ddpm_fixed_small():
    sched = Schedule.cosine(500)
    for steps in (None, 25):
        ddim = sched.table("ddim", eta=1.0, steps=steps)
        ddpm = sched.table("ddpm", variance="fixed-small", steps=steps)
        assert_close(ddim.sigma, ddpm.sigma)


def test_ddim_matches_diffusers():
    diffusers = pytest.importorskip("diffusers")
    torch = pytest.importorskip("torch")
    for pred, dpred in [("eps", "epsilon"), ("v", "v_prediction")]:
        for eta, clip in [(0.0, None), (1.0, 1.0)]:
            ref = diffusers.DDIMScheduler(num_train_timesteps=1000, beta_schedule="linear",
                                          clip_sample=clip is not None, prediction_type=dpred,
                                          set_alpha_to_one=True, steps_offset=0)
            ref.set_timesteps(20)
            sched = Schedule(ref.betas.double().numpy())
            table = sched.table("ddim", pred, eta=eta, steps=20, clip=clip)
            assert table.timesteps.tolist() == ref.timesteps.tolist()
            for i, (t, coef) in enumerate(table):
                x, out, z = (v[0] for v in sample_inputs(pred, 1, seed=i))
                got, _ = fused(coef, x, out, z)
                want = ref.step(torch.from_numpy(out).float(), int(t), torch.from_numpy(x).float(),
                                eta=eta, variance_noise=torch.from_numpy(z).float()).prev_sample
                assert_close(got, want.double().numpy(), rtol=2e-4)


# ----------------------------------------------------------------------------- table API