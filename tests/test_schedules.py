"""Tests for modeinterp.schedules: beta schedules, respacing and the per-step coefficient tables.

Every table is checked by applying its StepCoef exactly as DESIGN.md's fused step does (float64
numpy) and comparing with a direct, independent implementation of the DDPM posterior (DDPM paper
eq. 6–7) or DDIM eq. 12.  diffusers is used for extra cross-checks only when it is importable.
"""
import math

import numpy as np
import pytest

from modeinterp.schedules import Schedule, StepCoef, StepTable, respace_timesteps

RTOL = 1e-12


def assert_close(got, want, rtol=RTOL):
    scale = max(1.0, float(np.max(np.abs(want))))
    np.testing.assert_allclose(got, want, rtol=rtol, atol=rtol * scale)


def alphas_cumprod(betas):
    out = [1.0]
    for b in betas:
        out.append(out[-1] * (1.0 - float(b)))
    return np.array(out[1:])


# ----------------------------------------------------------------------------- beta schedules
def test_linear_quad_scaled_linear_match_direct_formulas():
    T = 1000
    i = np.arange(T)
    assert_close(Schedule.linear(T, 1e-4, 0.02).betas, 1e-4 + (0.02 - 1e-4) * i / (T - 1))
    assert_close(Schedule.linear().betas, Schedule.linear(1000, 1e-4, 0.02).betas)
    s, e = math.sqrt(1e-4), math.sqrt(0.02)
    assert_close(Schedule.quad(T, 1e-4, 0.02).betas, (s + (e - s) * i / (T - 1)) ** 2)
    s, e = math.sqrt(0.00085), math.sqrt(0.012)
    sl = Schedule.scaled_linear(T)
    assert_close(sl.betas, (s + (e - s) * i / (T - 1)) ** 2)
    assert sl.betas[0] == pytest.approx(0.00085, rel=1e-14)
    assert sl.betas[-1] == pytest.approx(0.012, rel=1e-14)
    assert Schedule.linear(1, 0.3, 0.5).betas.tolist() == [0.3]


@pytest.mark.parametrize("T,s,max_beta", [(1000, 0.008, 0.999), (50, 0.008, 0.999), (200, 0.0, 0.5)])
def test_cosine_matches_direct_formula(T, s, max_beta):
    f = np.cos((np.arange(T + 1) / T + s) / (1 + s) * np.pi / 2) ** 2
    want = np.minimum(1 - f[1:] / f[:-1], max_beta)
    sched = Schedule.cosine(T, s=s, max_beta=max_beta)
    assert_close(sched.betas, want)
    # Telescoping: where no beta was capped, alphas_cumprod[t] = f(t+1)/f(0).
    free = np.cumprod(want < max_beta).astype(bool)
    assert free[: T // 2].all()
    assert_close(sched.alphas_cumprod[free], (f[1:] / f[0])[free], rtol=1e-10)
    assert sched.betas.max() <= max_beta


def test_warmup_const_jsd_hand_cases():
    w = Schedule.warmup(10, 0.1, 0.5, warmup_frac=0.5)
    assert_close(w.betas, [0.1, 0.2, 0.3, 0.4, 0.5, 0.5, 0.5, 0.5, 0.5, 0.5])
    w10 = Schedule.warmup(1000, 1e-4, 0.02)  # default warmup_frac = 0.1
    assert_close(w10.betas[:100], np.linspace(1e-4, 0.02, 100))
    assert (w10.betas[100:] == 0.02).all()
    assert (Schedule.const(7, 0.25).betas == 0.25).all()
    j = Schedule.jsd(4)
    assert_close(j.betas, [1 / 4, 1 / 3, 1 / 2, 1.0])
    assert_close(j.alphas_cumprod, [3 / 4, 1 / 2, 1 / 4, 0.0])
    assert_close(Schedule.jsd(1000).betas, 1.0 / (1000 - np.arange(1000)))


def test_named_dispatch():
    T = 100
    pairs = [("linear", Schedule.linear(T)), ("quad", Schedule.quad(T)),
             ("scaled_linear", Schedule.scaled_linear(T)), ("cosine", Schedule.cosine(T)),
             ("squaredcos_cap_v2", Schedule.cosine(T)), ("warmup10", Schedule.warmup(T)),
             ("warmup50", Schedule.warmup(T, warmup_frac=0.5)), ("jsd", Schedule.jsd(T))]
    for name, want in pairs:
        np.testing.assert_array_equal(Schedule.named(name, T).betas, want.betas)
    np.testing.assert_array_equal(Schedule.named("const", T, beta=0.1).betas,
                                  Schedule.const(T, 0.1).betas)
    np.testing.assert_array_equal(Schedule.named("linear", T, beta_end=0.03).betas,
                                  Schedule.linear(T, beta_end=0.03).betas)
    with pytest.raises(ValueError, match="name.*linear.*cosine"):
        Schedule.named("nope", T)


def test_schedule_attributes_and_inputs():
    torch = pytest.importorskip("torch")
    betas = [0.1, 0.2, 0.3]
    for src in (betas, np.array(betas, dtype=np.float32), torch.tensor(betas), tuple(betas)):
        s = Schedule(src)
        assert s.T == len(s) == 3
        for arr in (s.betas, s.alphas, s.alphas_cumprod):
            assert isinstance(arr, np.ndarray) and arr.dtype == np.float64 and arr.shape == (3,)
    s = Schedule(betas)
    assert_close(s.alphas, [0.9, 0.8, 0.7])
    assert_close(s.alphas_cumprod, [0.9, 0.72, 0.504])
    src = np.array(betas)
    s, src[0] = Schedule(src), 0.5  # the schedule holds its own copy
    assert s.betas[0] == 0.1


@pytest.mark.parametrize("bad", [[], [[0.1, 0.2]], [0.1, float("nan")], [0.1, float("inf")],
                                 [0.0, 0.1], [-0.1, 0.1], [0.1, 1.5], [1.0, 0.1], [0.1, 1e-20]])
def test_schedule_rejects_bad_betas(bad):
    with pytest.raises(ValueError, match=r"^betas\b"):
        Schedule(bad)


def test_schedule_rejects_non_numeric_and_bad_builder_args():
    for bad in (["a", "b"], [True, False], [1j]):
        with pytest.raises(TypeError, match=r"^betas\b"):
            Schedule(bad)
    assert Schedule([0.5, 1.0]).alphas_cumprod[-1] == 0.0  # beta = 1 only at the end
    for call, arg in [(lambda: Schedule.linear(0), "T"), (lambda: Schedule.linear(10.0), "T"),
                      (lambda: Schedule.linear(True), "T"),
                      (lambda: Schedule.linear(10, beta_start=0.0), "beta_start"),
                      (lambda: Schedule.quad(10, beta_end=1.5), "beta_end"),
                      (lambda: Schedule.cosine(10, s=-1.0), "s"),
                      (lambda: Schedule.cosine(10, max_beta=0.0), "max_beta"),
                      (lambda: Schedule.warmup(10, warmup_frac=0.0), "warmup_frac"),
                      (lambda: Schedule.const(10, float("nan")), "beta"),
                      (lambda: Schedule.const(10, 1.0), "beta"),
                      (lambda: Schedule.jsd(-3), "T")]:
        with pytest.raises((ValueError, TypeError), match=rf"^{arg} must"):
            call()


def test_betas_match_diffusers():
    diffusers = pytest.importorskip("diffusers")
    for name, ours in [("linear", Schedule.linear(1000, 1e-4, 0.02)),
                       ("scaled_linear", Schedule.scaled_linear(1000, 1e-4, 0.02)),
                       ("squaredcos_cap_v2", Schedule.cosine(1000))]:
        ref = diffusers.DDPMScheduler(num_train_timesteps=1000, beta_start=1e-4, beta_end=0.02,
                                      beta_schedule=name).betas.double().numpy()
        np.testing.assert_allclose(ours.betas, ref, rtol=1e-6, atol=1e-9)


# ----------------------------------------------------------------------------- respacing
@pytest.mark.parametrize("spacing,S,want", [
    ("leading", 10, range(900, -1, -100)),
    ("trailing", 10, range(999, 0, -100)),
    ("linspace", 10, range(999, -1, -111)),
    ("leading", 3, [666, 333, 0]),
    ("trailing", 3, [999, 666, 332]),      # round(1000, 666.67, 333.33) − 1
    ("linspace", 3, [999, 500, 0]),        # round(0, 499.5, 999): 499.5 rounds half to even
    ("leading", 1, [0]),
    ("trailing", 1, [999]),
    ("linspace", 1, [0]),
])
def test_respacing_hand_examples(spacing, S, want):
    sched = Schedule.linear(1000)
    ts = sched.table(steps=S, spacing=spacing).timesteps
    assert ts.dtype == np.int64 and ts.tolist() == list(want)
    assert respace_timesteps(1000, S, spacing).tolist() == list(want)


@pytest.mark.parametrize("spacing", ["leading", "trailing", "linspace"])
def test_full_and_odd_respacing(spacing):
    sched = Schedule.linear(37)
    assert sched.table(spacing=spacing).timesteps.tolist() == list(range(36, -1, -1))
    for S in range(1, 38):
        ts = sched.table(steps=S, spacing=spacing).timesteps
        assert len(ts) == S and (np.diff(ts) < 0).all() and 0 <= ts[-1] and ts[0] <= 36


# ----------------------------------------------------------------------------- coefficient helpers
def fused(coef, x, out, z):
    """DESIGN.md's fused step in float64; coef is a StepCoef or an (S, 7) array (one row a step,
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
def test_table_api():
    table = Schedule.linear(100).table("ddim", "v", eta=0.3, steps=10, clip=2.0)
    assert len(table) == 10 and table.num_train_timesteps == 100
    assert table.clip == 2.0 and table.spacing == "leading"
    coefs = list(table)
    assert [t for t, _ in coefs] == list(range(90, -1, -10))
    arr = table.as_array()
    assert arr.shape == (10, 7) and arr.dtype == np.float64
    for i, (_, c) in enumerate(coefs):
        assert tuple(arr[i]) == tuple(c) and c == table.coef(i)
        assert table.timestep(i) == table.timesteps[i]
    assert c._fields == ("a", "b", "c0", "c1", "c2", "sigma", "clip")
    for name in ("a", "b", "c0", "c1", "c2", "sigma", "betas", "alphas_cumprod_t",
                 "alphas_cumprod_prev"):
        assert getattr(table, name).dtype == np.float64 and len(getattr(table, name)) == 10
    assert table.alphas_cumprod_prev[-1] == 1.0
    assert table.coef(0).clip == 2.0 and Schedule.linear(10).table(clip=0).coef(0).clip == 0.0
    with pytest.raises(IndexError, match="step index i=10"):
        table.coef(10)
    with pytest.raises(ValueError, match="step index i=-11"):
        table.coef(-11)
    with pytest.raises(TypeError, match="step index i must"):
        table.coef(1.0)
    with pytest.raises((AttributeError, TypeError)):
        table.clip = 3.0
    with pytest.raises(ValueError):
        table.a[0] = 1.0


def test_jsd_last_beta_one():
    sched = Schedule.jsd(100)
    assert sched.alphas_cumprod[-1] == 0.0
    for kw in ({"method": "ddpm"}, {"method": "ddim", "spacing": "trailing", "steps": 10}):
        with pytest.raises(ValueError, match="jsd.*t=99"):
            sched.table(prediction="eps", **kw)
    for method in ("ddpm", "ddim"):
        for pred in ("v", "x0"):
            table = sched.table(method, pred)
            assert np.isfinite(table.as_array()).all()
            first = table.coef(0)  # x̂0 at ᾱ = 0: v → −out, x0 → out
            assert (first.a, first.b) == ((0.0, -1.0) if pred == "v" else (0.0, 1.0))
        assert np.isfinite(sched.table(method, "eps", steps=10).as_array()).all()  # t=99 not kept


def test_underflowing_schedule_raises_naming_it():
    sched = Schedule.const(2000, 0.5)  # ᾱ underflows to 0 long before t = T−1
    with pytest.raises(ValueError, match="const"):
        sched.table("ddim", "x0")


@pytest.mark.parametrize("kwargs,arg,exc", [
    ({"method": "euler"}, "method", ValueError), ({"method": 1}, "method", TypeError),
    ({"prediction": "noise"}, "prediction", ValueError),
    ({"variance": "learned"}, "variance", ValueError),
    ({"method": "ddim", "variance": "learned"}, "variance", ValueError),
    ({"method": "ddim", "eta": -0.1}, "eta", ValueError), ({"eta": 0.5}, "eta", ValueError),
    ({"method": "ddim", "eta": float("nan")}, "eta", ValueError),
    ({"method": "ddim", "eta": "1"}, "eta", TypeError),
    ({"method": "ddim", "eta": 5.0}, "eta", ValueError),
    ({"steps": 0}, "steps", ValueError), ({"steps": 101}, "steps", ValueError),
    ({"steps": 10.0}, "steps", TypeError), ({"steps": True}, "steps", TypeError),
    ({"clip": -1.0}, "clip", ValueError), ({"clip": float("inf")}, "clip", ValueError),
    ({"clip": "1"}, "clip", TypeError), ({"spacing": "uniform"}, "spacing", ValueError),
    ({"use_clipped_model_output": "yes"}, "use_clipped_model_output", TypeError),
])
def test_table_bad_arguments(kwargs, arg, exc):
    with pytest.raises(exc, match=rf"^{arg}\b"):
        Schedule.linear(100).table(**kwargs)
