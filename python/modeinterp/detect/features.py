"""Per-sample features for a fitted detector: every score the sampler already computed (each
(window, aggregation) pair, each early score) and a few statistics of the final sample itself, as
one flat ``{name: (n,) float64}`` mapping, so that a detector can be fitted and applied by name.

Names: ``score_key(window, aggregation)`` for scores (``"10/mean"``, ``"80-90/pool4"``),
``"early/{k}"`` for the main window's score after its first k steps, ``"image/{stat}"`` for
:func:`image_features`. Scores are variances (nonnegative); image statistics are not.
"""

from __future__ import annotations

from typing import Mapping

import numpy as np

from ..validation import ArgumentTypeError, as_array

__all__ = ["IMAGE_FEATURES", "feature_matrix", "feature_sets", "image_features",
           "live_features", "result_features", "sampler_feature_names"]

IMAGE_FEATURES = ("image/foreground", "image/mean", "image/std", "image/undecided")
_CHUNK = 1024  # samples converted to float64 at a time: bounded memory for large runs


def image_features(samples) -> dict:
    """Statistics of each final sample alone, over all its values: foreground mass (fraction
    > 0), mean, std and the fraction undecided in (-0.5, 0.5). An empty or washed-out image
    can have a low variance score; these say what the image itself looks like."""
    if not hasattr(samples, "shape") or len(samples.shape) < 2 or samples.shape[0] < 1:
        raise ValueError("samples must be an (n, ...) array or tensor with n >= 1, got shape "
                         f"{tuple(getattr(samples, 'shape', ()))}")
    parts = {name: [] for name in IMAGE_FEATURES}
    for b0 in range(0, samples.shape[0], _CHUNK):
        x = as_array("samples", samples[b0:b0 + _CHUNK], np.float64)
        x = x.reshape(x.shape[0], -1)
        for name, value in zip(IMAGE_FEATURES, ((x > 0).mean(1), x.mean(1), x.std(1),
                                                (np.abs(x) < 0.5).mean(1))):
            parts[name].append(value)
    return {name: np.concatenate(values) for name, values in parts.items()}


def _vector(x) -> np.ndarray:
    return as_array("scores", x, np.float64).reshape(-1)


def _score_features(result) -> dict:
    """Every (window, aggregation) score of a SampleResult or a saved SampleSet (both hold one
    :class:`~modeinterp.sampling.Scores`): every window's mean (the main one first), then the
    other aggregations — the column order the detectors were fitted in."""
    from ..sampling.aggregations import score_key  # lazy: detect stays importable on its own

    pairs = result.all_scores.pairs
    means = [k for k in pairs if k[1] == "mean"]
    return {score_key(*k): _vector(pairs[k]) for k in means + [k for k in pairs
                                                               if k[1] != "mean"]}


def result_features(result) -> dict:
    """Every per-sample feature of a :class:`~modeinterp.SampleResult` (or a saved
    :class:`~modeinterp.sampling.SampleSet`): {name: (n,) float64}, names as in the module doc.
    Read from ``all_scores`` and ``samples``, which both hold, so a detector sees the same names
    in memory and from disk."""
    for attr in ("all_scores", "samples"):
        if not hasattr(result, attr):
            raise ArgumentTypeError(f"result must be a SampleResult or SampleSet, got "
                                    f"{type(result).__name__} without .{attr}")
    out = _score_features(result)
    out.update({name: _vector(v) for (_, name), v in result.all_scores.items()
                if name.startswith("early/")})  # stored under their feature names
    out.update(image_features(result.samples))
    return out


def live_features(result) -> dict:
    """:func:`result_features` a detector can read while sampling: no ``rel-`` pairs (they
    depend on the whole run) and only features finite for every sample."""
    return {k: v for k, v in result_features(result).items()
            if "/rel-" not in k and np.isfinite(v).all()}


def feature_sets(features) -> dict:
    """The detectors' three feature sets over ``features`` {name: …}: ``"trajectory"`` (every
    score), ``"trajectory + image"`` and ``"image only"`` (:data:`IMAGE_FEATURES`)."""
    trajectory = [k for k in features if not k.startswith("image/")]
    return {"trajectory": trajectory, "trajectory + image": trajectory + list(IMAGE_FEATURES),
            "image only": list(IMAGE_FEATURES)}


def sampler_feature_names(sampler) -> list:
    """The features a sampling pass of ``sampler`` (a :class:`~modeinterp.Sampler`) produces:
    every (window, aggregation) pair, the main window's early scores after 1 … K−1 of its K
    steps (when asked for), and the image statistics."""
    from ..sampling.aggregations import score_key

    names = [score_key(w, a.name) for w in sampler.window_specs for a in sampler.aggregations]
    start, stop = sampler.window
    return names + [f"early/{k}" for k in range(1, stop - start)] + list(IMAGE_FEATURES)


def early_steps(names) -> list:
    """The early-exit step counts k that features ``names`` read (``"early/k"``)."""
    return sorted(int(n.split("/", 1)[1]) for n in names if n.startswith("early/"))


def feature_matrix(features: Mapping, names, *, finite: bool = True) -> np.ndarray:
    """The (n, len(names)) float64 matrix of ``features`` {name: (n,)}, columns in ``names``
    order. A missing name is a detector fitted on scores this sampler does not compute: say
    which, and what is there, rather than fail on a KeyError. ``finite``: refuse NaN/±inf
    (fitting); scoring passes them through."""
    if not isinstance(features, Mapping):
        raise ArgumentTypeError(f"features must be a mapping {{name: (n,) values}}, got "
                                f"{type(features).__name__}")
    if not features:
        raise ValueError("features must hold at least one feature, got an empty mapping")
    names = list(names)
    if not names:
        raise ValueError("names must list at least one feature")
    missing = [n for n in names if n not in features]
    if missing:
        raise ValueError(f"the detector needs features {missing} that the sampler does not "
                         f"produce; it produces {sorted(features)}")
    columns = [as_array(f"features[{name!r}]", features[name], np.float64) for name in names]
    lengths = {name: c.shape for name, c in zip(names, columns)}
    if any(len(s) != 1 for s in lengths.values()) or len(set(lengths.values())) != 1:
        raise ValueError(f"features must be 1-D and of one length (one value per sample), got "
                         f"shapes {lengths}")
    x = np.stack(columns, axis=1)
    if x.shape[0] == 0:
        raise ValueError("features hold no samples (length 0)")
    bad = [name for name, c in zip(names, columns) if not np.isfinite(c).all()]
    if bad and finite:
        raise ValueError(f"features {bad} hold NaN or ±inf values")
    return x
