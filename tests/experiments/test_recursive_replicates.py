"""Recursive studies with replicates and detector filters: each replicate is the lone run of its
own seed, a killed study resumes to the same bytes, the label-free detector never reads an
oracle label, and every filter keeps the same number of samples."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from modeinterp.data.gaussian import GaussianGrid
from modeinterp.detect import Detector
from modeinterp.recursive import recursive_config, run_recursive
from modeinterp.recursive import run as run_module

pytestmark = pytest.mark.slow  # whole (micro) studies: ~1 min together

MICRO = dict(n_train=300, train_steps=20, batch_size=100, steps=20, window=5, sample_batch=400,
             window_sweep=(2, 3, 10, (5, 10)), clip=6.0, n_keep=200)


@pytest.fixture(autouse=True)
def both_classes(monkeypatch):
    """A 20-step model hallucinates everything: an "oracle" flagging every other sample gives
    generation 0 both classes, so the calibrated and supervised lineages run too."""
    monkeypatch.setattr(GaussianGrid, "is_hallucination",
                        lambda self, x: torch.arange(len(x)) % 2 == 0)


def _study(**kw):
    return recursive_config("gaussian2d", quick=True, generations=3, **MICRO, **kw)


def _files(folder, pattern: str) -> dict:
    """{relative path: tensors} of every ``pattern`` file under ``folder``."""
    return {p.relative_to(folder).as_posix(): torch.load(p, weights_only=True)
            for p in sorted(folder.rglob(pattern))}


def _same(a: dict, b: dict) -> bool:
    if a.keys() != b.keys():
        return False
    for k in a:
        x, y = a[k], b[k]
        if isinstance(x, dict):
            if not _same(x, y):
                return False
        elif isinstance(x, torch.Tensor):
            if not torch.equal(x, y):
                return False
        elif x != y:
            return False
    return True


def test_replicates_are_lone_runs_of_their_own_seeds_and_a_killed_study_resumes(tmp_path,
                                                                                monkeypatch):
    cfg = _study(replicates=2)
    straight = tmp_path / "straight"
    summary = run_recursive(cfg, straight, progress=False)
    assert summary["replicates"] == 2 and summary["seeds"] == [0, 1000]
    assert set(summary["filters"]) == {"none", "random", "variance", "variance-calibrated",
                                       "detector", "detector-supervised"}
    for name in ("report.md", "report.html", "recursive.json", "over_generations.png",
                 "rep-1/report.md", "rep-0/detector.json", "rep-1/detector-supervised.json"):
        assert (straight / name).stat().st_size > 0, name
    rows = summary["lineages"]["variance"]
    assert [r["generation"] for r in rows] == [0, 1, 2] and rows[1]["rate"]["n"] == 2
    assert summary["versus_random"]["variance"][0] is None
    assert "random" not in summary["versus_random"]

    # Independent: another seed, other samples from generation 0 on.
    gen0 = [torch.load(straight / f"rep-{r}/gen-0/samples.pt", weights_only=True)["samples"]
            for r in (0, 1)]
    assert not torch.equal(gen0[0], gen0[1])
    # Each replicate is the lone run of its seed, byte for byte in every sample and kept set.
    lone = tmp_path / "lone"
    run_recursive(cfg.replicate(1), lone, progress=False)
    assert _same(_files(lone, "samples.pt"), _files(straight / "rep-1", "samples.pt"))
    assert _same(_files(lone, "train.pt"), _files(straight / "rep-1", "train.pt"))

    # Killed in replicate 1 (while training its generation 0), then rerun: the same study.
    killed = tmp_path / "killed"
    original_fit, calls = run_module.fit, {"fit": 0}

    def dying_fit(*a, **k):
        calls["fit"] += 1
        if calls["fit"] == 1 + 6 * 2 + 1:  # replicate 0's 13 stages, then replicate 1's first
            raise KeyboardInterrupt("killed")
        return original_fit(*a, **k)

    monkeypatch.setattr(run_module, "fit", dying_fit)
    with pytest.raises(KeyboardInterrupt):
        run_recursive(cfg, killed, progress=False)
    assert (killed / "rep-0/recursive.json").exists()
    assert not (killed / "rep-1/gen-0/samples.pt").exists()
    resumed = run_recursive(cfg, killed, progress=False)
    strip = lambda s: {k: v for k, v in s.items() if k != "compute"}  # noqa: E731 timings differ
    assert json.loads(json.dumps(strip(resumed))) == json.loads(json.dumps(strip(summary)))
    assert _same(_files(killed, "samples.pt"), _files(straight, "samples.pt"))

    with pytest.raises(ValueError, match="another config"):  # another study into the folder
        run_recursive(_study(replicates=3), killed, progress=False)


def test_every_filter_keeps_the_same_number_of_samples(tmp_path):
    cfg = _study()
    run_recursive(cfg, tmp_path, progress=False)
    kept = _files(tmp_path, "train.pt")
    assert len(kept) == 6 * 2  # every filter, generations 1 and 2
    for name, saved in kept.items():
        idx = saved["kept"].numpy()
        assert len(idx) == cfg.n_keep == len(saved["x"]), name
        assert len(np.unique(idx)) == len(idx) and idx.max() < 205, name  # of N + 2.5 % drawn


def test_the_label_free_detector_never_reads_an_oracle_label(tmp_path, monkeypatch):
    cfg = _study(filters=("detector", "detector-supervised"))
    honest = tmp_path / "honest"
    run_recursive(cfg, honest, progress=False)
    # Poisoned labels: another random answer every call. The label-free lineage keeps exactly
    # the same samples and fits the same detector; the supervised one (which reads them) moves.
    rng = np.random.default_rng(5)
    monkeypatch.setattr(GaussianGrid, "is_hallucination",
                        lambda self, x: torch.from_numpy(rng.random(len(x)) < 0.5))
    poisoned = tmp_path / "poisoned"
    run_recursive(cfg, poisoned, progress=False)
    for path in ("detector/gen-1/train.pt", "detector/gen-2/train.pt"):
        assert torch.equal(torch.load(honest / path)["kept"], torch.load(poisoned / path)["kept"])
    assert (honest / "detector.json").read_bytes() == (poisoned / "detector.json").read_bytes()
    assert not torch.equal(torch.load(honest / "detector-supervised/gen-1/train.pt")["kept"],
                           torch.load(poisoned / "detector-supervised/gen-1/train.pt")["kept"])


def test_a_saved_detector_is_checked_before_any_work(tmp_path):
    rng = np.random.default_rng(0)
    shapes = tmp_path / "shapes.json"
    Detector.fit_label_free({"10/mean": rng.random(50), "10/pool4": rng.random(50)},
                            dataset="shapes").save(shapes)
    with pytest.raises(ValueError, match=r"detector: .*shapes\.json: it was fitted on shapes "
                                         "samples, not gaussian2d"):
        _study(detector=str(shapes))
    other = tmp_path / "other.json"
    Detector.fit_label_free({"10/pool4": rng.random(50)}).save(other)
    with pytest.raises(ValueError, match=r"needs features \['10/pool4'\]"):
        _study(detector=str(other))
    with pytest.raises(ValueError, match="no such file"):
        _study(detector=str(tmp_path / "missing.json"))
    good = tmp_path / "good.json"
    Detector.fit_label_free({"10/mean": rng.random(50)}, dataset="gaussian2d").save(good)
    with pytest.raises(ValueError, match="only read by the 'detector' filter"):
        _study(detector=str(good), filters=("random",))
    cfg = _study(detector=str(good), filters=("detector",))
    summary = run_recursive(cfg, tmp_path / "run", progress=False)
    assert summary["detectors"]["detector"]["names"] == ["10/mean"]
    assert (tmp_path / "run/detector.json").read_bytes() == good.read_bytes()
