"""reproduce on the image datasets, micro configs (seconds): every artefact is written, the
oracle's (or proxy's) verdict is in the report, and the CLI knows the datasets."""

from __future__ import annotations

import json

import pytest

pytest.importorskip("diffusers")
from modeinterp.cli import build_parser  # noqa: E402
from modeinterp.experiments import config_for, reproduce  # noqa: E402

MICRO = dict(train_steps=3, batch_size=4, n_samples=6, sample_batch=6, steps=6, window=3,
             window_sweep=(2, 4, (1, 4), (2, 9)), early_exit=(2,), trajectory=2)


@pytest.mark.parametrize("dataset,n_train,unet", [("digits", 64, None),
                                                  ("shapes", 16, None)])
def test_image_reproduce_writes_every_artefact(tmp_path, dataset, n_train, unet):
    cfg = config_for(dataset, quick=True, **MICRO, n_train=n_train, unet=unet)
    metrics = reproduce(cfg, tmp_path, progress=False)
    for name in ("report.md", "report.html", "metrics.json", "model.pt", "samples.png",
                 "ranked.png", "trajectories.png"):
        assert (tmp_path / name).stat().st_size > 0, name
    saved = json.loads((tmp_path / "metrics.json").read_text())
    assert saved["oracle"]["n"] + saved["n_non_finite"] == MICRO["n_samples"]
    assert saved["sampling"] == {"method": "ddim", "steps": 6, "window": 3}
    report = (tmp_path / "report.md").read_text()
    assert "## Mode interpolation (oracle)" in report
    if dataset == "shapes":
        assert "well-formed" in report and "reasons" in saved["oracle"]
    else:
        assert "proxy" in saved["oracle"]["label"]
    assert metrics["config"]["clip"] == 1.0


def test_a_sharded_reproduce_is_the_one_process_run_score_maps_included(tmp_path):
    import torch

    from modeinterp.sampling import load_samples

    cfg = config_for("shapes", quick=True, **{**MICRO, "sample_batch": 2}, n_train=16,
                     aggregations=("mean", "pool4"))
    one = reproduce(cfg, tmp_path / "one", progress=False)
    model = tmp_path / "one" / "model.pt"
    sharded = reproduce(cfg, tmp_path / "sharded", progress=False, model=model, shard_size=4)
    assert (tmp_path / "sharded" / "shards").is_dir()
    assert load_samples(tmp_path / "sharded") == load_samples(tmp_path / "one" / "samples.pt")
    maps = [torch.load(tmp_path / run / "score_maps.pt") for run in ("one", "sharded")]
    assert list(maps[0]) == list(maps[1]) and len(maps[0]) > 1
    assert all(torch.equal(maps[0][k], maps[1][k]) for k in maps[0])
    for key in ("oracle", "detection", "early_exit", "detection_by_reason"):
        assert json.dumps(one.get(key), default=float) == json.dumps(sharded.get(key),
                                                                     default=float), key


def test_cli_lists_the_image_datasets():
    for name in ("shapes", "digits"):
        assert build_parser().parse_args(["reproduce", name, "--quick"]).dataset == name


def test_folder_without_an_oracle(tmp_path):
    """Any folder: trained and sampled, ranked by score; the report says nothing is labelled."""
    Image = pytest.importorskip("PIL.Image")
    import numpy as np

    rng = np.random.default_rng(0)
    for i in range(6):
        Image.fromarray(rng.integers(0, 256, (10, 10)).astype(np.uint8), mode="L").save(
            tmp_path / f"{i}.png")
    out = tmp_path / "run"
    cfg = config_for("folder", quick=True, **MICRO, n_train=6, path=str(tmp_path), size=8)
    metrics = reproduce(cfg, out, progress=False)
    assert metrics["detection"] is None and metrics["calibrated"] is None
    assert metrics["oracle"] == {"n": 6, "n_hallucinated": None, "rate": None, "reasons": {},
                                 "oracle": "none", "labelled": False}
    # The mid-trajectory window was scored in the same pass; (2, 9) does not fit a 6-step run.
    assert set(metrics["label_free"]["separation"]) == {"3", "2", "4", "(1, 4)"}
    assert metrics["label_free"]["window"] in (3, 2, 4, [1, 4])
    for name in ("samples.png", "ranked.png", "score_histogram.png", "report.html"):
        assert (out / name).stat().st_size > 0, name
    assert "No oracle for this dataset" in (out / "report.md").read_text()
    with pytest.raises(ValueError, match="--path"):
        reproduce(config_for("folder", quick=True, **MICRO), tmp_path / "again", progress=False)


def test_detection_by_reason_and_at_fixed_shape_count():
    import numpy as np

    from modeinterp.experiments.evaluation import detection_by_reason

    class Counted:  # two shapes for the last four images
        capabilities = frozenset({"shape_counts"})  # declared, as the dataset protocol asks

        def shape_counts(self, x):
            return np.array([1, 1, 1, 1, 2, 2, 2, 2])

    scores = np.array([0.1, 0.2, 0.9, 0.3, 0.5, 0.8, 0.7, 0.4])
    two, mal, ok = frozenset({"two-squares"}), frozenset({"malformed"}), frozenset()
    reasons = [ok, ok, two, ok, ok, mal | two, mal, ok]
    labels = np.array([bool(r) for r in reasons])
    out = detection_by_reason(scores, labels, reasons, Counted(), None)
    assert list(out["by_reason"]) == ["malformed", "two-squares"]
    assert out["by_reason"]["two-squares"] == {"n": 2, "auroc": 1.0, "auroc_ci": (1.0, 1.0)}
    assert out["by_reason"]["malformed"]["n"] == 2
    assert out["by_count"]["2"] == {"n": 4, "n_hallucinated": 2, "auroc": 1.0,
                                    "auroc_ci": (1.0, 1.0)}
    # a mixture's reasons are the same type: split by them too, no shape counts
    between, elsewhere = frozenset({"between-neighbours"}), frozenset({"elsewhere"})
    toy = detection_by_reason(scores, labels, [ok, ok, between, ok, ok, elsewhere, between, ok],
                              None, None)
    assert toy["by_count"] == {} and toy["by_reason"]["between-neighbours"] == {
        "n": 2, "auroc": 1.0, "auroc_ci": (1.0, 1.0)}
    # one hallucination of a kind resamples to itself: no interval
    assert toy["by_reason"]["elsewhere"]["n"] == 1 and np.isnan(
        toy["by_reason"]["elsewhere"]["auroc_ci"]).all()
