"""Bad input raises a Python exception naming the argument; nothing crashes."""

from __future__ import annotations

import math

import pytest
import torch

from modeinterp import ops

ops.load()  # these tests call torch.ops.modeinterp directly

COEF = (1.0, 0.5, 0.9, 0.1, 0.0, 0.3, 0.0)


def call(device, **kw):
    x = kw.pop("x", torch.randn(4, 6, device=device))
    out = kw.pop("out", torch.randn(4, 6, device=device))
    coef = kw.pop("coef", COEF)
    return ops.fused_step(x, out, coef, **kw)


def z(*shape, device="cpu", dtype=torch.float32):
    return torch.zeros(*shape, device=device, dtype=dtype)


CASES = [
    ("out", dict(out=z(4, 5))),
    ("noise", dict(noise=z(4, 5))),
    ("mean", dict(mean=z(4, 5), m2=z(4, 6))),
    ("m2", dict(mean=z(4, 6), m2=z(4, 5))),
    ("mean", dict(mean=z(4, 6, dtype=torch.float64), m2=z(4, 6))),
    ("m2", dict(mean=z(4, 6), m2=z(4, 6, dtype=torch.float16))),
    ("mean and m2", dict(mean=z(4, 6))),
    ("count", dict(count=-1)),
    ("coef.a", dict(coef=(math.nan,) + COEF[1:])),
    ("coef.sigma", dict(coef=COEF[:5] + (math.inf, 0.0))),
    ("coef.clip", dict(coef=COEF[:6] + (-math.inf,))),
    ("coef", dict(coef=(1.0, 2.0))),
    ("seed", dict(seed=-1)),
    ("seed", dict(seed=2**64)),
    ("step", dict(step=-3)),
    ("offset", dict(offset=-1)),
    ("offset", dict(offset=2**64 - 3)),
    ("x", dict(x=torch.zeros(4, 6, dtype=torch.int32))),
    ("x", dict(x=z(4, 6, dtype=torch.float64), out=z(4, 6, dtype=torch.float64))),
    ("out", dict(out=z(4, 6, dtype=torch.float16))),
    ("x", dict(x=[1.0, 2.0])),
    ("seed", dict(seed=1.5)),
    ("count", dict(count=2.0)),
]


@pytest.mark.parametrize("name,kw", CASES, ids=[f"{n}-{i}" for i, (n, _) in enumerate(CASES)])
def test_fused_step_bad_input_names_argument(device, name, kw):
    kw = {k: (v.to(device) if isinstance(v, torch.Tensor) else v) for k, v in kw.items()}
    with pytest.raises((ValueError, TypeError, RuntimeError), match=name.replace(".", r"\.")):
        call(device, **kw)


def test_aliased_accumulators_rejected(device):
    acc = z(4, 6, device=device)
    with pytest.raises(ValueError, match="mean and m2"):
        call(device, mean=acc, m2=acc)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a second device (CUDA)")
def test_mixed_devices_rejected():
    with pytest.raises(ValueError, match="out is on"):
        call("cuda", out=z(4, 6))
    with pytest.raises(ValueError, match="mean is on"):
        call("cuda", mean=z(4, 6), m2=z(4, 6))


def test_mixed_devices_rejected_on_meta():
    """Without a GPU, a meta tensor stands in for "another device"."""
    with pytest.raises((ValueError, RuntimeError), match="out"):
        call("cpu", out=torch.empty(4, 6, device="meta"))


I32, I64 = torch.int32, torch.int64
BAD_TENSORS = [
    ("out", dict(out=z(4, 5)), ValueError),
    ("out", dict(out=z(4, 6, dtype=torch.float16)), TypeError),
    ("noise", dict(noise=z(4, 6, dtype=I32)), TypeError),
    ("mean", dict(mean=z(6, 4).t(), m2=z(4, 6)), ValueError),  # not contiguous
    ("m2", dict(mean=z(4, 6), m2=z(4, 6, dtype=torch.float64)), TypeError),
    ("mean and m2", dict(m2=z(4, 6)), ValueError),
    ("counter", dict(counter=z(3, dtype=I64)), ValueError),
    ("counter", dict(counter=z(2, dtype=I32)), TypeError),
]


@pytest.mark.parametrize("where", ["op", "fake", "reference"])
@pytest.mark.parametrize("name,kw,exc", BAD_TENSORS,
                         ids=[f"{n}-{i}" for i, (n, _, _) in enumerate(BAD_TENSORS)])
def test_op_fake_kernel_and_reference_refuse_bad_tensors_alike(where, name, kw, exc):
    """The C++ op, its fake kernel (reached here with meta tensors) and the reference raise the
    same exception type naming the same argument: the Python side has one copy of the checks."""
    from modeinterp import reference

    device = "meta" if where == "fake" else "cpu"
    kw = {k: v.to(device) for k, v in kw.items()}  # .to keeps a transposed view's strides
    x = z(4, 6, device=device)
    impl = reference if where == "reference" else ops
    with pytest.raises(exc, match=name):
        impl.fused_step(x, kw.pop("out", x.clone()), COEF, **kw)


@pytest.mark.parametrize("where", ["op", "fake", "reference"])
def test_welford_op_fake_kernel_and_reference_refuse_bad_tensors_alike(where):
    from modeinterp import reference

    device = "meta" if where == "fake" else "cpu"
    impl = reference if where == "reference" else ops
    x, acc = z(3, 4, device=device), z(3, 4, device=device)
    cases = [(TypeError, "x", (acc, acc.clone(), x.to(I32))),
             (TypeError, "mean", (acc.double(), acc, x)),
             (ValueError, "m2", (acc, z(3, 5, device=device), x)),
             (ValueError, "mean must be contiguous", (z(4, 3, device=device).t(), acc, x))]
    for exc, name, args in cases:
        with pytest.raises(exc, match=name):
            impl.welford_update_(*args, 0)


def test_raw_op_is_safe_without_the_wrapper(device):
    """torch.ops callers bypass ops.py's checks; the C++ checks must still catch bad shapes."""
    x = torch.randn(3, 4, device=device)
    with pytest.raises(ValueError, match="m2"):
        torch.ops.modeinterp.fused_step(x, x, 1, 0, 1, 0, 0, 0, 0, None, 0, 0, 0,
                                        torch.zeros(3, 4, device=device),
                                        torch.zeros(2, device=device), 0, False)
    with pytest.raises(ValueError, match="count"):
        torch.ops.modeinterp.fused_step(x, x, 1, 0, 1, 0, 0, 0, 0, None, 0, 0, 0, None, None,
                                        -2, False)


def test_philox_normal_bad_input(device):
    with pytest.raises(ValueError, match="seed"):
        ops.philox_normal(4, seed=-1, step=0, device=device)
    with pytest.raises(ValueError, match="shape"):
        ops.philox_normal((2, -1), seed=0, step=0, device=device)
    with pytest.raises(ValueError, match="offset"):
        ops.philox_normal(10, seed=0, step=0, offset=2**64 - 2, device=device)


def test_trajectory_score_bad_input(device):
    m2 = torch.rand(3, 4, device=device)
    with pytest.raises(ValueError, match="count"):
        ops.trajectory_score(m2, 0)
    with pytest.raises(TypeError, match="m2"):
        ops.trajectory_score(m2.double(), 2)
    with pytest.raises(ValueError, match="m2"):
        ops.trajectory_score(torch.zeros(3, 0, device=device), 2)
    with pytest.raises(ValueError, match="batch"):
        ops.trajectory_score(torch.tensor(1.0, device=device), 2)


@pytest.mark.parametrize("where", ["op", "fake", "reference"])
def test_trajectory_score_op_fake_kernel_and_reference_refuse_bad_tensors_alike(where):
    from modeinterp import reference

    device = "meta" if where == "fake" else "cpu"
    impl = reference if where == "reference" else ops
    cases = [(TypeError, "m2 must be float32", z(3, 4, device=device, dtype=torch.float64)),
             (ValueError, "batch dimension", torch.zeros((), device=device)),
             (ValueError, "beyond the batch", z(3, 0, device=device))]
    for exc, message, m2 in cases:
        with pytest.raises(exc, match=message):
            impl.trajectory_score(m2, 2)
    assert impl.trajectory_score(z(0, 0, device=device), 2).shape == (0,)  # an empty batch is fine


BAD_COEFS = [
    ((1.0, 0.0, 1.0, 0.0, 0.0, 0.0, float("nan")), ValueError, "coef.clip must be finite"),
    ((True, 0.0, 1.0, 0.0, 0.0, 0.0, 0.0), TypeError, "coef.a must be a float"),
    ((1.0, 0.0, 1.0, 0.0, 0.0, "0.1", 0.0), TypeError, "coef.sigma must be a float"),
    ((1.0, 0.0, 1.0, 0.0, 0.0, 0.0), ValueError, "must hold 7 values"),
    (1.0, TypeError, "coef must be a StepCoef"),
    ((1.0, 0.0, 1.0, 0.0, 0.0, float("inf"), None), ValueError, "coef.sigma must be finite"),
]


@pytest.mark.parametrize("coef,exc,message", BAD_COEFS)
def test_ops_and_reference_refuse_the_same_coefficients_alike(coef, exc, message):
    from modeinterp import reference

    x = torch.zeros(2, 3)
    for impl in (ops, reference):
        with pytest.raises(exc, match=message):
            impl.fused_step(x, x, coef)


def test_clip_none_means_no_clipping_in_both():
    from modeinterp import reference

    x = torch.full((2, 3), 5.0)
    coef = (1.0, 0.0, 1.0, 0.0, 0.0, 0.0, None)
    assert torch.equal(ops.fused_step(x, x, coef), reference.fused_step(x, x, coef))
    assert float(ops.fused_step(x, x, coef)[0, 0]) == 5.0


@pytest.mark.parametrize("count,exc", [(True, TypeError), (-1, ValueError), (1.5, TypeError)])
def test_ops_and_reference_refuse_the_same_counts_alike(count, exc):
    from modeinterp import reference

    m2 = torch.zeros(2, 3)
    for impl in (ops, reference):
        with pytest.raises(exc, match="count"):
            impl.fused_step(m2, m2, (1.0,) * 7, mean=torch.zeros(2, 3), m2=m2, count=count)


def test_philox_fill_errors_name_the_op():
    with pytest.raises(TypeError, match="philox_fill_: output must be float32"):
        torch.ops.modeinterp.philox_fill_(torch.zeros(4, dtype=torch.float64), 0, 0, 0)
    with pytest.raises(ValueError, match="philox_fill_: output must be contiguous"):
        torch.ops.modeinterp.philox_fill_(torch.zeros(4, 2).t(), 0, 0, 0)
