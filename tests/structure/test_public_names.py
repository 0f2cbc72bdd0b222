"""The public names of docs/design.md ("Public names") keep working: each resolves from
``import modeinterp`` alone (subpackages load lazily) and keeps the parameters users pass by name.
Changing one means changing docs/design.md and this list in the same commit."""

from __future__ import annotations

import inspect
import subprocess
import sys

import pytest

import modeinterp

# name -> keyword parameters it must accept (None: only that it exists)
PUBLIC = {
    "build_info": (),
    "ops.fused_step": ("noise", "seed", "step", "offset", "mean", "m2", "count", "return_x0",
                       "counter"),
    "ops.counter_words": (),
    "ops.philox_normal": ("seed", "step", "offset", "device"),
    "ops.trajectory_score": (),
    "ops.load": (),
    "reference.fused_step": (), "reference.philox_normal": (), "reference.trajectory_score": (),
    "schedules.Schedule": ("betas",), "schedules.Schedule.linear": None,
    "schedules.Schedule.cosine": None, "schedules.Schedule.table": (
        "method", "prediction", "variance", "eta", "steps", "clip", "use_clipped_model_output"),
    "Schedule": None, "StepTable": None, "StepCoef": None,
    "Sampler": ("model", "table", "window", "dtype", "graph", "aggregations", "detector",
                "run_scores"),
    "Sampler.sample": ("n", "shape", "seed", "batch_size", "device", "model_kwargs", "callback",
                       "first", "score_maps", "x_start", "start"),
    "Sampler.sample_clean": ("n", "shape", "detector"),
    "Sampler.denoise_references": ("images", "seed", "batch_size", "device"),
    "Sampler.resample_tail": ("images", "start", "seed", "first", "batch_size", "device"),
    "Sampler.repair_flagged": ("result", "start", "seed", "rounds"),
    "detect.Detector.check_sampler": ("sampler",),
    "SampleResult": None, "load_samples": None,
    "sampling.WindowScore": None, "sampling.aggregate": ("maps", "aggregations", "samples", "reference"),
    "sampling.ScoreKey": None, "sampling.ScoreKey.parse": None, "sampling.ScoreViews": None,
    "analysis.localisation_rates": ("maps", "blame", "k"),
    "models.UNetDenoiser": ("sample_size", "channels"), "models.UNetDenoiser.preset": None,
    "models.MLPDenoiser": None,
    "train.Trainer": ("model", "schedule", "grad_clip", "precision", "compile"),
    "data.SimpleShapes": ("n", "p", "size"), "data.SimpleShapes.blame": None,
    "data.Digits": ("size",), "data.ImageFolder": ("path", "size"),
    "detect.calibrate_window": ("window_scores", "labels", "retained", "seed"),
    "detect.label_free_window": ("window_scores",), "detect.evaluate": None,
    "detect.auroc": None, "detect.oversample": None, "detect.filter_lowest": None,
    "detect.Detector": None, "detect.Detector.fit_supervised": (
        "features", "labels", "names", "kind", "retained", "seed", "config_digest", "windows",
        "aggregations"),
    "detect.Detector.fit_label_free": ("reference_features", "names", "retained", "kind",
                                       "n_components", "seed", "config_digest", "windows",
                                       "aggregations"),
    "detect.Detector.score": ("features",), "detect.Detector.flags": ("features",),
    "detect.Detector.save": ("path",), "detect.Detector.load": ("path",),
    "detect.Detector.check_compatible": ("config_digest", "names_available"),
    "detect.result_features": ("result",), "detect.feature_matrix": ("features", "names"),
    "detect.image_features": ("samples",),
    "detect.reason_groups": ("labels", "reasons", "unions"),
    "detect.heldout_by_reason": ("scores", "labels", "groups", "held", "threshold", "retained"),
    "detect.heldout_metrics": ("scores", "labels", "groups", "held"),
    "detect.calibration_split": ("labels", "frac", "seed"),
    "data.reasons_key": None, "data.MixtureDataset.regions": ("x", "k", "tube"),
    "recursive.recursive_config": ("dataset", "quick", "generations", "filters"),
    "recursive.run_recursive": ("cfg", "out", "device"),
    "recursive.select": ("rule", "n_keep", "scores", "seed"),
    "experiments.reproduce": ("cfg", "out", "device"), "experiments.config_for": None,
    "diffusers.ScoredDDPMScheduler": None, "diffusers.ScoredDDIMScheduler": None,
    "diffusers.ScoredDDPMScheduler.from_config": None,
}


def _resolve(dotted: str):
    obj = modeinterp
    for part in dotted.split("."):
        obj = getattr(obj, part)
    return obj


@pytest.mark.parametrize("name", sorted(PUBLIC))
def test_public_name_resolves_with_its_parameters(name):
    if name.startswith("diffusers") or name.startswith("models.UNet"):
        pytest.importorskip("diffusers")
    obj = _resolve(name)
    if PUBLIC[name]:
        params = inspect.signature(obj).parameters
        missing = [p for p in PUBLIC[name] if p not in params]
        assert not missing, f"modeinterp.{name} lost its parameters {missing}"


def test_importing_the_package_stays_light():
    # Subpackages load on first use: `import modeinterp` pulls in neither matplotlib nor sklearn.
    code = ("import sys, modeinterp; print(sorted(m for m in ('matplotlib', 'sklearn', "
            "'modeinterp.detect', 'modeinterp.analysis') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
