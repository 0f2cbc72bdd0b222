"""Tests for modeinterp.data: toy mixtures and their hallucination oracles."""
import math

import numpy as np
import pytest
import torch
from scipy.stats import chi

from modeinterp.data import (
    TAIL_PROB, Gaussian1D, GaussianGrid, MixtureDataset, Region, default_k_sigma,
)

NORM = math.sqrt(0.05**2 + 8.0)
ALL = [("gaussian1d", {}), ("gaussian1d", {"means": (1, 2, 4, 5)}),
       ("gaussian2d", {}), ("gaussian2d-diamond", {})]
IDS = ["1d-123", "1d-1245", "square", "diamond"]


def _close(a, b):  # torch.testing.assert_close lazily imports torch.distributed (~2 s)
    assert a.shape == b.shape and torch.allclose(a, b, rtol=1e-7, atol=1e-12), (a, b)


def _ds(name, kw):
    if name == "gaussian1d":
        return Gaussian1D(**kw)
    return GaussianGrid(layout="diamond" if name.endswith("diamond") else "square", **kw)


def _mid(ds, pair_row):
    a, b = ds.neighbour_pairs[pair_row].tolist()
    return ((ds.modes[a] + ds.modes[b]) / 2)[None]


# ----------------------------------------------------------------------------- k_sigma
@pytest.mark.parametrize("d, expected", [(1, 3.8906), (2, 4.2919), (3, 4.5943)])
def test_default_k_is_chi_quantile(d, expected):
    k = default_k_sigma(d)
    assert k == pytest.approx(chi.isf(TAIL_PROB, d), rel=1e-9)
    assert chi.sf(k, d) == pytest.approx(1e-4, rel=1e-6)
    assert k == pytest.approx(expected, abs=1e-3)


def test_datasets_use_default_k():
    assert Gaussian1D().k_sigma == pytest.approx(chi.isf(1e-4, 1), rel=1e-9)
    for layout in ("square", "diamond"):
        assert GaussianGrid(layout).k_sigma == pytest.approx(chi.isf(1e-4, 2), rel=1e-9)
    assert Gaussian1D(k_sigma=3.0).k_sigma == 3.0


# ------------------------------------------------------------------------ geometry
def test_normalisation_constant_and_square_modes():
    g = GaussianGrid()
    assert g.normalization == pytest.approx(2.8289, abs=1e-4)
    assert g.normalization == pytest.approx(NORM, rel=1e-12)
    assert g.std == pytest.approx(0.05 / NORM, rel=1e-12)
    ij = torch.tensor([(i, j) for i in range(-2, 3) for j in range(-2, 3)], dtype=torch.float64)
    _close(g.modes, 2 * ij / NORM)


def test_diamond_matches_paper_rotated_grid():
    g = GaussianGrid("diamond")
    assert g.normalization == pytest.approx(NORM, rel=1e-12)  # same normalisation as the square
    paper = [(-2, 0), (-1.5, 0.5), (-1, 1), (-0.5, 1.5), (0, 2),
             (-1.5, -0.5), (-1, 0), (-0.5, 0.5), (0, 1), (0.5, 1.5),
             (-1, -1), (-0.5, -0.5), (0, 0), (0.5, 0.5), (1, 1),
             (-0.5, -1.5), (0, -1), (0.5, -0.5), (1, 0), (1.5, 0.5),
             (0, -2), (0.5, -1.5), (1, -1), (1.5, -0.5), (2, 0)]
    _close(g.modes, 2 * torch.tensor(paper, dtype=torch.float64) / NORM)
    # it is the square grid rotated by 45 degrees (and scaled by 1/sqrt 2)
    c, s = math.cos(math.pi / 4), math.sin(math.pi / 4)
    rot = torch.tensor([[c, s], [-s, c]], dtype=torch.float64)
    _close(GaussianGrid().modes @ rot.T / math.sqrt(2), g.modes)


@pytest.mark.parametrize("layout, diagonal", [("square", False), ("diamond", True)])
def test_neighbour_pairs_are_the_nearest_pairs(layout, diagonal):
    g = GaussianGrid(layout)
    m = g.modes
    pairs = g.neighbour_pairs
    assert pairs.shape == (40, 2)
    d = torch.cdist(m, m) + torch.eye(25) * 1e9
    dmin = d.min()
    near = {tuple(sorted(p)) for p in (d < dmin * (1 + 1e-9)).nonzero().tolist()}
    assert near == {tuple(sorted(p)) for p in pairs.tolist()}
    delta = m[pairs[:, 1]] - m[pairs[:, 0]]
    if diagonal:
        _close(delta[:, 0].abs(), delta[:, 1].abs())
        assert dmin.item() == pytest.approx(math.sqrt(2) / NORM)
    else:
        assert ((delta == 0).sum(1) == 1).all()
        assert dmin.item() == pytest.approx(2 / NORM)


@pytest.mark.parametrize("layout", ["square", "diamond"])
def test_second_pairs_are_diagonals_of_the_square_and_long_axes_of_the_diamond(layout):
    g = GaussianGrid(layout)
    m = g.modes * NORM  # raw units
    pairs = g.second_pairs
    delta = m[pairs[:, 1]] - m[pairs[:, 0]]
    if layout == "square":  # 2·(±1, ±1): 2 diagonals per cell, 16 cells
        assert pairs.shape == (32, 2)
        _close(delta.abs(), torch.full_like(delta, 2.0))
    else:  # (±2, 0) or (0, ±2) raw: along the long axes
        assert pairs.shape == (32, 2)
        assert ((delta.abs() < 1e-9).sum(1) == 1).all()
        _close(delta.norm(dim=1), torch.full((32,), 2.0, dtype=torch.float64))
    # each second-nearest midpoint is a hallucination counted there, not between neighbours
    mid = (g.modes[pairs[:, 0]] + g.modes[pairs[:, 1]]) / 2
    s = g.summary(mid)
    assert s["n_elsewhere"] == s["n_between_second_neighbours"] == 32
    assert s["n_between_neighbours"] == 0
    # nearest-neighbour midpoints are not counted as second-nearest
    nn = g.neighbour_pairs
    s = g.summary((g.modes[nn[:, 0]] + g.modes[nn[:, 1]]) / 2)
    assert s["n_between_neighbours"] == 40 and s["n_between_second_neighbours"] == 0


def test_gaussian1d_pairs_follow_sorted_means():
    ds = Gaussian1D(means=(5, 1, 4, 2))
    assert [sorted(ds.modes[p].ravel().tolist()) for p in ds.neighbour_pairs.tolist()] == [
        [1, 2], [2, 4], [4, 5]]


# ------------------------------------------------------------------------- oracles
@pytest.mark.parametrize("name, kw", ALL, ids=IDS)
def test_modes_in_support_midpoints_between(name, kw):
    ds = _ds(name, kw)
    assert not ds.is_hallucination(ds.modes).any()
    assert (ds.regions(ds.modes) == Region.IN_SUPPORT).all()
    idx, dist = ds.nearest_mode(ds.modes)
    assert torch.equal(idx, torch.arange(ds.num_modes)) and (dist == 0).all()
    for row in range(ds.neighbour_pairs.shape[0]):
        mid = _mid(ds, row)
        assert ds.is_hallucination(mid).item()
        assert ds.regions(mid).item() == Region.BETWEEN_NEIGHBOURS
        pair, perp = ds.nearest_segment(mid)
        assert pair.item() == row and perp.item() == pytest.approx(0, abs=1e-12)
    far = torch.tensor([[50.0, 37.0][: ds.dim]])
    assert ds.is_hallucination(far).item() and ds.regions(far).item() == Region.ELSEWHERE
    assert ds.nearest_segment(far)[0].item() == -1


def test_gaussian1d_known_points():
    ds = Gaussian1D()
    x = torch.tensor([1.0, 1.1, 1.5, 2.5, 0.0, 3.5, 1.0 + 3.89 * 0.05, 1.0 + 3.90 * 0.05])
    assert ds.regions(x).tolist() == [0, 0, 1, 1, 2, 2, 0, 1]
    s = Gaussian1D(means=(1, 2, 4, 5)).summary(torch.tensor([[1.5], [3.0], [3.2], [4.5], [6.0]]))
    assert s["per_pair"] == [1, 2, 1] and s["n_elsewhere"] == 1 and s["n_between_neighbours"] == 4


def test_square_cell_centre_is_elsewhere_and_diamond_cell_centre_too():
    sq, dm = GaussianGrid(), GaussianGrid("diamond")
    centre = torch.tensor([[1.0, 1.0]]) / NORM  # between (0,0),(2,2) modes: a grid diagonal
    assert sq.is_hallucination(centre).item() and sq.regions(centre).item() == Region.ELSEWHERE
    # diamond: modes (0,0) and (2,0) raw are not grid neighbours; (1,0) is a cell centre
    centre = torch.tensor([[1.0, 0.0]]) / NORM
    assert dm.is_hallucination(centre).item() and dm.regions(centre).item() == Region.ELSEWHERE
    # diamond: midpoint of the diagonal neighbours (0,0)-(1,1) raw is between
    diag = torch.tensor([[0.5, 0.5]]) / NORM
    assert dm.regions(diag).item() == Region.BETWEEN_NEIGHBOURS


@pytest.mark.parametrize("layout", ["square", "diamond"])
def test_support_radius_and_tube_boundaries(layout):
    g = GaussianGrid(layout)
    r = g.k_sigma * g.std
    a, b = g.neighbour_pairs[7].tolist()
    ma, mb = g.modes[a], g.modes[b]
    u = (mb - ma) / (mb - ma).norm()
    perp = torch.stack([-u[1], u[0]])
    assert not g.is_hallucination((ma + 0.99 * r * u)[None]).item()
    assert g.is_hallucination((ma + 1.01 * r * u)[None]).item()
    mid = (ma + mb) / 2
    assert g.regions((mid + 0.99 * r * perp)[None]).item() == Region.BETWEEN_NEIGHBOURS
    assert g.regions((mid + 1.01 * r * perp)[None]).item() == Region.ELSEWHERE
    # tube and k overrides
    wide = (mid + 1.5 * r * perp)[None]
    assert g.regions(wide, tube=2 * g.k_sigma).item() == Region.BETWEEN_NEIGHBOURS
    assert GaussianGrid(layout, tube_sigma=2 * g.k_sigma).regions(wide).item() == 1
    assert g.is_hallucination((ma + 0.5 * r * u)[None], k=1.0).item()
    # beyond the end of a segment along its axis, outside the corner mode: not between
    corner = g.modes[0]
    out = corner - 2 * r * (g.modes[1] - corner) / (g.modes[1] - corner).norm()
    assert g.regions(out[None]).item() == Region.ELSEWHERE


# ---------------------------------------------------------------- training samples
@pytest.mark.parametrize("name, kw", ALL, ids=IDS)
def test_training_samples_in_support(name, kw):
    ds = _ds(name, kw)
    x, lab = ds.sample(200_000, seed=0, return_labels=True)
    s = ds.summary(x)
    assert s["n"] == 200_000
    assert s["n_in_support"] / s["n"] >= 0.999
    assert s["rate"] == pytest.approx(s["n_hallucinated"] / s["n"])
    assert s["n_in_support"] + s["n_between_neighbours"] + s["n_elsewhere"] == s["n"]
    assert sum(s["per_mode"]) == s["n_in_support"] and len(s["per_mode"]) == ds.num_modes
    assert sum(s["per_pair"]) == s["n_between_neighbours"]
    assert len(s["per_pair"]) == len(s["pairs"]) == ds.neighbour_pairs.shape[0]
    idx, _ = ds.nearest_mode(x)
    assert torch.equal(idx, lab)
    # per-mode spread matches std
    resid = x.double() - ds.modes[lab]
    assert resid.std().item() == pytest.approx(ds.std, rel=0.02)


# ---------------------------------------------------------------------- sampling
@pytest.mark.parametrize("name, kw", ALL, ids=IDS)
def test_sampling_deterministic_balanced_shapes(name, kw):
    ds = _ds(name, kw)
    a, la = ds.sample(1003, seed=7, return_labels=True)
    b, lb = ds.sample(1003, seed=7, return_labels=True)
    c = ds.sample(1003, seed=8)
    assert torch.equal(a, b) and torch.equal(la, lb) and not torch.equal(a, c)
    assert a.dtype == torch.float32 and a.shape == (1003, ds.dim)
    counts = torch.bincount(la, minlength=ds.num_modes)
    assert counts.max() - counts.min() <= 1 and counts.sum() == 1003
    assert not torch.equal(la, la.sort().values)  # shuffled
    x = ds.sample(ds.num_modes * 4, seed=1, return_labels=True)[1]
    assert (torch.bincount(x, minlength=ds.num_modes) == 4).all()
    assert ds.sample(0, seed=0).shape == (0, ds.dim)
    assert ds.modes.dtype == torch.float64 and ds.modes.shape == (ds.num_modes, ds.dim)
    assert isinstance(ds.std, float) and isinstance(ds.dim, int)


def test_outputs_shapes_and_empty_input():
    g = GaussianGrid()
    idx, dist = g.nearest_mode(np.zeros((5, 2)))  # numpy input is fine
    assert idx.dtype == torch.int64 and dist.dtype == torch.float64 and idx.shape == (5,)
    assert g.is_hallucination(torch.zeros(5, 2)).dtype == torch.bool
    assert g.regions(torch.zeros(5, 2)).dtype == torch.int64
    s = g.summary(torch.zeros(0, 2))
    assert s["n"] == 0 and s["rate"] == 0.0
    assert Gaussian1D().regions(torch.tensor([1.0, 1.5])).tolist() == [0, 1]  # (n,) ok in 1-D


# --------------------------------------------------------------------- protocol
def test_every_dataset_declares_its_oracle_and_shape():
    from modeinterp.data import Digits, ImageFolder, SimpleShapes
    from modeinterp.data.protocol import Dataset, oracle_summary

    assert [c.oracle for c in (Gaussian1D, GaussianGrid, SimpleShapes, Digits, ImageFolder)] == \
        ["exact", "exact", "exact", "proxy", "none"]
    g = GaussianGrid()
    assert isinstance(g, Dataset) and g.sample_shape == (2,)
    x = torch.cat([g.sample(50, seed=0), _mid(g, 0)])
    summary = oracle_summary(g, x)
    assert (summary.n, summary.n_hallucinated, summary.oracle) == (51, g.summary(x)["n_hallucinated"],
                                                                   "exact")
    assert summary.reasons["between-neighbours"] >= 1 and summary.rate == pytest.approx(
        summary.n_hallucinated / 51)


# -------------------------------------------------------------------- bad input
def test_bad_input_names_the_argument():
    g, l1 = GaussianGrid(), Gaussian1D()
    with pytest.raises(ValueError, match=r"\bn\b"):
        g.sample(-1, seed=0)
    with pytest.raises(TypeError, match=r"\bn\b"):
        g.sample(2.5, seed=0)
    with pytest.raises(ValueError, match="seed"):
        g.sample(4, seed=-1)
    for bad in (torch.zeros(4, 3), torch.zeros(4), torch.zeros(2, 2, 2)):
        with pytest.raises(ValueError, match=r"\bx\b"):
            g.nearest_mode(bad)
    with pytest.raises(ValueError, match=r"\bx\b"):
        l1.classify(torch.zeros(4, 2))
    for v in (float("nan"), float("inf")):
        with pytest.raises(ValueError, match=r"\bx\b.*non-finite"):
            g.is_hallucination(torch.tensor([[0.0, v]]))
    with pytest.raises(ValueError, match=r"\bk\b"):
        g.is_hallucination(torch.zeros(1, 2), k=0)
    with pytest.raises(ValueError, match="tube"):
        g.classify(torch.zeros(1, 2), tube=-1.0)
    with pytest.raises(ValueError, match="layout"):
        GaussianGrid("hex")
    from modeinterp.experiments.specs import get_spec

    with pytest.raises(ValueError, match="dataset must be one of"):
        get_spec("gaussian3d")
    assert get_spec("gaussian25_rotated").name == "gaussian2d-diamond"  # the paper code's name
    with pytest.raises(ValueError, match="means"):
        Gaussian1D(means=(1, 1, 2))
    with pytest.raises(ValueError, match="means"):
        Gaussian1D(means=())
    with pytest.raises(ValueError, match="std"):
        Gaussian1D(std=0.0)
    with pytest.raises(ValueError, match="k_sigma"):
        GaussianGrid(k_sigma=-2)
    with pytest.raises(TypeError, match=r"\bx\b"):
        g.classify(torch.zeros(1, 2, dtype=torch.complex64))
