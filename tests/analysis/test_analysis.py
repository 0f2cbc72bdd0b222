"""modeinterp.analysis: every plot writes a PNG (1-D and 2-D); learned vs true score."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from modeinterp import analysis
from modeinterp.data import Gaussian1D, GaussianGrid
from modeinterp.models.mixture import MixtureDenoiser
from modeinterp.schedules import Schedule

PNG = b"\x89PNG\r\n\x1a\n"


def _is_png(path):
    data = path.read_bytes()
    return len(data) > 1000 and data[:8] == PNG


@pytest.fixture(params=["1d", "2d"])
def ds(request):
    return Gaussian1D() if request.param == "1d" else GaussianGrid()


def _generated(ds, n=400, seed=0):
    """Training-like points plus some midpoints between neighbouring modes (hallucinations)."""
    x = ds.sample(n, seed=seed).numpy()
    pairs = ds.neighbour_pairs.numpy()[:10]
    modes = ds.modes.numpy()
    mid = 0.5 * (modes[pairs[:, 0]] + modes[pairs[:, 1]])
    return np.concatenate([x, mid]).astype(np.float32)


def test_plot_samples_bool_and_regions(ds, tmp_path):
    x = _generated(ds)
    labels = ds.is_hallucination(x)
    assert labels.any() and not labels.all()
    p = analysis.plot_samples(x, labels, ds.modes, tmp_path / "bool.png", "samples")
    assert p == tmp_path / "bool.png" and _is_png(p)
    regions = ds.regions(x)
    p = analysis.plot_samples(torch.as_tensor(x), regions, ds.modes.numpy(),
                              tmp_path / "sub" / "regions.png", train=ds.sample(300, seed=1))
    assert _is_png(p)
    assert _is_png(analysis.plot_samples(x, None, None, tmp_path / "plain.png"))


def test_plot_samples_1d_vector_and_errors(tmp_path):
    ds = Gaussian1D(means=(1, 2, 4, 5))
    x = _generated(ds)[:, 0]  # (n,) accepted for 1-D
    assert _is_png(analysis.plot_samples(x, ds.is_hallucination(x), ds.modes, tmp_path / "a.png"))
    with pytest.raises(ValueError, match="samples"):
        analysis.plot_samples(np.zeros((5, 3)), None, None, tmp_path / "b.png")
    with pytest.raises(ValueError, match="labels_or_regions"):
        analysis.plot_samples(x, np.zeros(3, bool), None, tmp_path / "c.png")
    with pytest.raises(ValueError, match="labels_or_regions"):
        analysis.plot_samples(x, np.full(x.size, 7), None, tmp_path / "d.png")
    with pytest.raises(ValueError, match="modes"):
        analysis.plot_samples(x, None, np.zeros((2, 2)), tmp_path / "e.png")


def _scores(seed=0, n_in=300, n_h=30):
    rng = np.random.default_rng(seed)
    s = np.r_[rng.lognormal(-7, 1, n_in), rng.lognormal(-2, 1, n_h)]
    return s, np.r_[np.zeros(n_in, bool), np.ones(n_h, bool)]


def test_plot_score_histograms(tmp_path):
    s, y = _scores()
    assert _is_png(analysis.plot_score_histograms(s, y, tmp_path / "h.png"))
    s0 = s.copy()
    s0[0] = 0.0  # zero variance is drawn at the smallest positive score
    assert _is_png(analysis.plot_score_histograms(torch.tensor(s0), torch.tensor(y),
                                                  tmp_path / "h0.png", threshold=1e-3,
                                                  density=True))
    # one class only: no threshold line, still a picture
    assert _is_png(analysis.plot_score_histograms(s[~y], y[~y], tmp_path / "h1.png"))
    with pytest.raises(ValueError, match="labels"):
        analysis.plot_score_histograms(s, y[:-1], tmp_path / "bad.png")


def test_plot_roc_single_and_overlay(tmp_path):
    s, y = _scores()
    assert _is_png(analysis.plot_roc(s, y, tmp_path / "roc.png"))
    s2, y2 = _scores(1)
    p = analysis.plot_roc({"run A": (s, y), "run B": (s2, y2)}, None, tmp_path / "roc2.png")
    assert _is_png(p)
    early = {f"k={k}": s * (1 + 0.1 * k) for k in (1, 2, 5)}  # shared labels
    assert _is_png(analysis.plot_roc(early, y, tmp_path / "roc3.png", title="early exit"))
    with pytest.raises(ValueError, match="pair"):
        analysis.plot_roc({"a": s}, None, tmp_path / "bad.png")
    with pytest.raises(ValueError, match="path"):
        analysis.plot_roc(s, y)


def test_plot_early_exit(tmp_path):
    ks = [1, 2, 5, 10]
    assert _is_png(analysis.plot_early_exit(ks, [0.8, 0.9, 0.95, 0.97], tmp_path / "e.png",
                                            full=0.97))
    series = {"ddpm": [0.8, 0.9, 0.95, 0.97], "ddim": [0.7, 0.85, 0.9, 0.93]}
    assert _is_png(analysis.plot_early_exit(np.array(ks), series, tmp_path / "e2.png"))
    with pytest.raises(ValueError, match="aurocs"):
        analysis.plot_early_exit(ks, [0.5], tmp_path / "bad.png")


def test_ablation_plot(tmp_path):
    rows = [{"n_train": n, "rate": 1.0 / n ** 0.5, "sched": sc, "err": 0.01}
            for n in (1000, 100, 10000) for sc in ("linear", "cosine")]
    p = analysis.ablation_plot(rows, "n_train", "rate", tmp_path / "abl.png", group_key="sched",
                               yerr_key="err", logx=True, logy=True)
    assert _is_png(p)
    cols = {"steps": [10, 50, 100], "rate": [0.1, 0.05, 0.02]}
    assert _is_png(analysis.ablation_plot(cols, "steps", "rate", tmp_path / "abl2.png"))
    with pytest.raises(ValueError, match="y_key"):
        analysis.ablation_plot(rows, "n_train", "missing", tmp_path / "bad.png")
    with pytest.raises(ValueError, match="table_rows"):
        analysis.ablation_plot([], "a", "b", tmp_path / "bad.png")


@pytest.mark.parametrize("shape", [(1,), (), (2,)])
def test_plot_trajectories_synthetic(shape, tmp_path):
    rng = np.random.default_rng(0)
    m, S = 12, 40
    traj = np.cumsum(rng.normal(size=(m, S, *shape)), axis=1)
    labels = np.arange(m) % 3 == 0
    ts = np.arange(S)[::-1] * 25  # respaced, descending
    p = analysis.plot_trajectories(traj, labels, ts, tmp_path / "t.png", window=(30, 40))
    assert _is_png(p)
    assert _is_png(analysis.plot_trajectories(torch.tensor(traj), torch.tensor(labels), None,
                                              tmp_path / "t2.png", window=None, n_each=2))
    with pytest.raises(ValueError, match="timesteps"):
        analysis.plot_trajectories(traj, labels, ts[:-1], tmp_path / "bad.png")
    with pytest.raises(ValueError, match="window"):
        analysis.plot_trajectories(traj, labels, ts, tmp_path / "bad.png", window=S + 1)
    with pytest.raises(ValueError, match="no samples"):
        analysis.plot_trajectories(traj[:0], labels[:0], ts, tmp_path / "bad.png")


def test_plot_trajectories_from_sampler(ds, tmp_path):
    from modeinterp.sampling import Sampler

    sched = Schedule.linear(100, 1e-4, 0.2)
    model = MixtureDenoiser(ds.modes.numpy(), ds.std, sched.alphas_cumprod)
    res = Sampler(model, sched.table(), window=10).sample(
        64, (ds.dim,), seed=3, trajectory=16, progress=False)
    labels = ds.is_hallucination(res.samples[:16])
    labels[:2] = True  # make sure both colours appear; the plot does not check the oracle
    p = analysis.plot_trajectories(res.trajectory, labels, res.timesteps, tmp_path / "traj.png",
                                   window=res.step_range, modes=ds.modes)
    assert _is_png(p)


@pytest.mark.parametrize("prediction", ["eps", "x0", "v"])
def test_learned_vs_true_with_exact_model_is_exact(prediction, tmp_path):
    ds = Gaussian1D(means=(1, 2, 4, 5))
    sched = Schedule.linear(200)
    exact = MixtureDenoiser(ds.modes.numpy(), ds.std, sched.alphas_cumprod)
    ab_all = torch.tensor(sched.alphas_cumprod)

    def model(x, t):  # the exact denoiser, re-expressed in the requested parametrisation
        eps = exact(x, t)
        ab = ab_all[t].unsqueeze(1)
        x0 = (x - (1 - ab).sqrt() * eps) / ab.sqrt()
        return {"eps": eps, "x0": x0, "v": ab.sqrt() * eps - (1 - ab).sqrt() * x0}[prediction]

    res = analysis.learned_vs_true_score(model if prediction != "eps" else exact, ds, sched,
                                         ts=(0, 2, 20, 150), path=tmp_path / "score.png",
                                         prediction=prediction, dtype=torch.float64)
    assert res.learned.shape == res.true.shape == (4, res.x.size)
    np.testing.assert_allclose(res.learned, res.true, rtol=0, atol=1e-6)
    assert res.max_abs_diff().max() < 1e-6
    assert res.path == tmp_path / "score.png" and _is_png(res.path)


def test_learned_vs_true_defaults_and_shape_of_true_score():
    ds = Gaussian1D()
    sched = Schedule.linear(1000)
    exact = MixtureDenoiser(ds.modes.numpy(), ds.std, sched.alphas_cumprod)
    res = analysis.learned_vs_true_score(exact, ds, sched)  # dtype float64 from the buffers
    assert res.path is None
    assert tuple(res.ts) == analysis.default_score_timesteps(1000) == (1, 10, 50, 200)
    np.testing.assert_allclose(res.learned, res.true, rtol=0, atol=1e-6)
    # at small t the true score jumps between modes 1 and 2: steepest slope at the midpoint
    k = int(np.argmax(np.abs(np.diff(res.true[0])) * (np.abs(res.x[1:] - 1.5) < 0.3)))
    assert abs(res.x[k] - 1.5) < 0.05


def test_learned_vs_true_with_smooth_model_differs():
    ds = Gaussian1D()
    sched = Schedule.linear(100)

    def smooth(x, t):  # a "network" that predicts the score of one broad Gaussian
        ab = torch.tensor(sched.alphas_cumprod, dtype=x.dtype)[t].unsqueeze(1)
        return (1 - ab).sqrt() * (x - 2 * ab.sqrt()) / (ab * 0.7 + 1 - ab)

    res = analysis.learned_vs_true_score(smooth, ds, sched, ts=[1], x=np.linspace(0.5, 3.5, 61))
    assert res.x.size == 61 and res.max_abs_diff()[0] > 1.0


def test_learned_vs_true_errors():
    sched = Schedule.linear(100)
    grid = GaussianGrid()
    m = MixtureDenoiser(grid.modes.numpy(), grid.std, sched.alphas_cumprod)
    with pytest.raises(ValueError, match="dataset"):
        analysis.learned_vs_true_score(m, grid, sched)
    ds = Gaussian1D()
    m1 = MixtureDenoiser(ds.modes.numpy(), ds.std, sched.alphas_cumprod)
    with pytest.raises(ValueError, match="ts"):
        analysis.learned_vs_true_score(m1, ds, sched, ts=(5, 100))
    with pytest.raises(ValueError, match="prediction"):
        analysis.learned_vs_true_score(m1, ds, sched, ts=(5,), prediction="score")
