"""The shared argument checks (modeinterp.validation): what each accepts, converts and refuses."""
from pathlib import Path

import numpy as np
import pytest
import torch

from modeinterp import validation as v


def test_a_wrong_type_is_both_a_type_error_and_a_value_error():
    for exc in (TypeError, ValueError):
        with pytest.raises(exc, match="^n must be an int, got float$"):
            v.check_int("n", 2.5)


@pytest.mark.parametrize("value", [True, np.bool_(True), "3", 3.0, None])
def test_check_int_refuses_non_ints(value):
    with pytest.raises(v.ArgumentTypeError, match="^n must be an int"):
        v.check_int("n", value, 0)


def test_check_int_bounds_and_note():
    assert v.check_int("n", np.int64(3), 0, 3) == 3 and type(v.check_int("n", np.int8(2))) is int
    with pytest.raises(ValueError, match=r"^n must be >= 1, got 0$"):
        v.check_int("n", 0, 1)
    with pytest.raises(ValueError, match=r"^n must be <= 2, got 3$"):
        v.check_int("n", 3, hi=2)
    with pytest.raises(ValueError, match=r"^k must be in \[0, 4\] \(len\(scores\)\), got 5$"):
        v.check_int("k", 5, 0, 4, note="len(scores)")


def test_check_real_intervals():
    assert v.check_real("x", np.float32(0.5), 0, 1) == 0.5
    assert v.check_positive("std", 2) == 2.0 and v.check_fraction("p", 1) == 1.0
    cases = [(lambda: v.check_real("x", float("nan")), "x must be finite, got nan"),
             (lambda: v.check_real("x", float("inf"), lo=0), "x must be finite and >= 0, got inf"),
             (lambda: v.check_positive("lr", 0.0), "lr must be finite and > 0, got 0.0"),
             (lambda: v.check_real("x", 2.0, hi=1, hi_open=True), "x must be finite and < 1"),
             (lambda: v.check_fraction("q", 1.0, open_hi=True), r"q must be in \(0, 1\), got 1.0"),
             (lambda: v.check_fraction("p", 0.0), r"p must be in \(0, 1\], got 0.0")]
    for call, message in cases:
        with pytest.raises(ValueError, match=f"^{message}"):
            call()
    for bad in (True, "0.5", None, 1j):
        with pytest.raises(v.ArgumentTypeError, match="^x must be a real number"):
            v.check_real("x", bad)


def test_check_choice_bool_type_and_path():
    aliases = {"eps": "eps", "epsilon": "eps"}
    assert v.check_choice("prediction", "epsilon", aliases) == "eps"
    assert v.check_choice("rule", "b", ("a", "b")) == "b"
    with pytest.raises(ValueError, match=r"^rule must be one of \['a', 'b'\], got 'c'$"):
        v.check_choice("rule", "c", ("a", "b"))
    with pytest.raises(v.ArgumentTypeError, match="^rule must be a str"):
        v.check_choice("rule", 1, ("a", "b"))
    assert v.check_bool("amp", np.bool_(False)) is False
    with pytest.raises(v.ArgumentTypeError, match="^amp must be a bool, got int$"):
        v.check_bool("amp", 1)
    with pytest.raises(v.ArgumentTypeError, match="^config must be a mapping, got list$"):
        v.check_type("config", [], dict, "a mapping")
    assert v.check_path("path", Path("a") / "b") == str(Path("a") / "b")
    with pytest.raises(ValueError, match="^path must be a file path"):
        v.check_path("path", None)
    with pytest.raises(v.ArgumentTypeError, match="^path must be a file path"):
        v.check_path("path", 3)
    assert v.check_tensor("m2", None, optional=True) is None
    with pytest.raises(v.ArgumentTypeError, match="^m2 must be a torch.Tensor, got list$"):
        v.check_tensor("m2", [1.0])


def test_arrays():
    t = torch.tensor([1, 2], dtype=torch.int32)
    out = v.check_vector("scores", t)
    assert out.dtype == np.float64 and out.tolist() == [1.0, 2.0]
    src = np.array([1.0, 2.0])
    assert v.check_vector("betas", src) is not src  # a copy the caller may keep
    assert v.as_array("x", torch.ones(2, dtype=torch.bfloat16), np.float32).dtype == np.float32
    for bad, exc, message in [([[1.0]], ValueError, "must be 1-D"),
                              ([1.0, np.nan], ValueError, r"contains NaN \(1 of 2\)"),
                              ([1.0, np.inf], ValueError, "must be finite"),
                              (["a"], TypeError, "must hold real numbers"),
                              ([[1.0], [1.0, 2.0]], TypeError, "must be a real array")]:
        with pytest.raises(exc, match=f"^scores {message}"):
            v.check_vector("scores", bad)
    assert v.check_labels("labels", [0, 1, 1], 3).tolist() == [False, True, True]
    for bad, message in [([0, 1], "has length 2 but 3 were expected"),
                         ([0, 2, 1], "must be bool or 0/1"), ([[0, 1, 1]], "must be 1-D")]:
        with pytest.raises(ValueError, match=f"^labels {message}"):
            v.check_labels("labels", bad, 3)


def test_noise_key():
    assert v.check_noise_key(1, 2, 2 ** 64 - 4, 4) == (1, 2, 2 ** 64 - 4)
    assert v.check_noise_key(torch.tensor(5), 0, 0) == (5, 0, 0)  # anything with __index__
    with pytest.raises(ValueError, match=r"^offset \+ numel must be <= 2\^64"):
        v.check_noise_key(0, 0, 2 ** 64 - 4, 5)
    with pytest.raises(ValueError, match=r"^step must be in \[0, 2\^64\)"):
        v.check_noise_key(0, -1, 0)
    with pytest.raises(v.ArgumentTypeError, match="^seed must be an integer, got float$"):
        v.check_noise_key(1.0, 0, 0)
