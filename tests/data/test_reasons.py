"""One reasons type for every oracle (modeinterp.data.protocol): ``classify`` gives a list with a
frozenset of reason names per sample, empty exactly for the in-support ones, named as the
summary's per-reason counts; ``reasons_key`` writes one as text."""

from __future__ import annotations

import pytest
import torch

from modeinterp.data import Gaussian1D, GaussianGrid, Region, oracle_summary, reasons_key


def _shapes():
    pytest.importorskip("scipy")
    from modeinterp.data import SimpleShapes

    return SimpleShapes(size=32, cache_dir=None)


def _digits():
    pytest.importorskip("sklearn")
    from modeinterp.data import Digits

    return Digits(cache_dir=None)


def _mixture_points(ds):
    """Samples, every neighbour midpoint (between) and a far point (elsewhere)."""
    mids = (ds.modes[ds.neighbour_pairs[:, 0]] + ds.modes[ds.neighbour_pairs[:, 1]]) / 2
    far = torch.full((1, ds.dim), 50.0, dtype=torch.float64)
    return torch.cat([ds.sample(40, seed=0).double(), mids, far])


def _image_points(ds):
    """Real images and uniform noise (hallucinations to both oracles)."""
    noise = torch.rand(8, *ds.sample_shape, generator=torch.Generator().manual_seed(0)) * 2 - 1
    return torch.cat([ds.sample(16, seed=0), noise])


DATASETS = {"gaussian1d": (Gaussian1D, _mixture_points),
            "gaussian2d": (GaussianGrid, _mixture_points),
            "shapes": (_shapes, _image_points), "digits": (_digits, _image_points)}


@pytest.mark.parametrize("name", sorted(DATASETS))
def test_classify_gives_a_frozenset_of_reason_names_per_sample(name):
    build, points = DATASETS[name]
    ds = build()
    assert ds.oracle != "none"
    x = points(ds)
    reasons = ds.classify(x)
    assert isinstance(reasons, list) and len(reasons) == len(x)
    assert all(isinstance(r, frozenset) and all(isinstance(n, str) for n in r) for r in reasons)
    assert [bool(r) for r in reasons] == ds.is_hallucination(x).tolist()
    assert any(reasons) and not all(reasons)
    if name != "digits":  # its summary counts the digits read, not reasons
        assert {n for r in reasons for n in r} <= set(oracle_summary(ds, x).reasons)


def test_mixture_reasons_name_its_regions():
    ds = GaussianGrid()
    x = _mixture_points(ds)
    by_code = {Region.IN_SUPPORT: frozenset(), Region.BETWEEN_NEIGHBOURS:
               frozenset({"between-neighbours"}), Region.ELSEWHERE: frozenset({"elsewhere"})}
    assert ds.classify(x) == [by_code[Region(c)] for c in ds.regions(x).tolist()]
    assert all(ds.classify(x, k=1e-3))  # the overrides reach classify too


def test_reasons_key_is_ok_or_the_sorted_names():
    assert reasons_key(frozenset()) == "ok"
    assert reasons_key(frozenset({"two-squares", "malformed"})) == "malformed+two-squares"
    assert reasons_key(frozenset({"elsewhere"})) == "elsewhere"
