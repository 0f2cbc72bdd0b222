"""Helpers shared by the schedule and coefficient-table tests."""

import numpy as np

RTOL = 1e-12


def assert_close(got, want, rtol=RTOL):
    scale = max(1.0, float(np.max(np.abs(want))))
    np.testing.assert_allclose(got, want, rtol=rtol, atol=rtol * scale)


def alphas_cumprod(betas):
    out = [1.0]
    for b in betas:
        out.append(out[-1] * (1.0 - float(b)))
    return np.array(out[1:])
