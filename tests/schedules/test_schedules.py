"""Tests for modeinterp.schedules: beta schedules against their formulas, respacing, the
StepTable API and bad arguments (coefficient maths: test_step_tables.py). diffusers is used for
extra cross-checks only when it is importable.
"""
import math

import numpy as np
import pytest

from schedule_oracles import assert_close

from modeinterp.schedules import Schedule, StepCoef, respace_timesteps



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
