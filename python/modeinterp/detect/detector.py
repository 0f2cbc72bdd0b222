"""A fitted hallucination detector over several per-sample features (:mod:`.features`).

One score rarely catches every hallucination: a sample can be flagged for too much x̂0 variance
in one window or aggregation, or for too little (an empty image). :class:`Detector` combines the
features the sampler already computed, two-sided by construction:

* supervised (oracle labels on a calibration run): ``"logistic"`` — logistic regression on
  [z, z²] of the standardised log-features, so either tail of a feature can count; ``"boosting"``
  — gradient-boosted trees on z. Score = the classifier's log-odds.
* label-free (in-support references only, e.g. training data run through the sampler, or a run
  one trusts): ``"mahalanobis"`` — Mahalanobis distance of z from the references (Ledoit–Wolf
  covariance); ``"gmm"`` — negative log-likelihood under a Gaussian mixture fitted to them.

Every score feature is taken as log(max(f, 1e-30)) (variances span decades; an exactly zero
variance stands far out), image statistics as they are, then standardised with the fit data's
mean and std. Higher score = more likely a hallucination; :meth:`Detector.flags` removes
``score > threshold`` like :mod:`.metrics`. Fitting is scikit-learn; scoring uses the fitted
parameters only, so a saved and reloaded detector scores bit for bit the same.
"""

from __future__ import annotations

import json
import math
from typing import Mapping

import numpy as np

from ..artifacts import load_json, save_json
from ..validation import (ArgumentTypeError, check_choice, check_fraction, check_int,
                          check_labels, check_path)
from .features import (IMAGE_FEATURES, early_steps, feature_matrix, relative, result_features,
                       sampler_feature_names, score_keys)
from .metrics import _thr_retained
from .models import fit_model, out_of_fold, raw_score

__all__ = ["Detector"]

FORMAT, VERSION = "modeinterp.detector", 1
SUPERVISED = ("logistic", "boosting")
LABEL_FREE = ("mahalanobis", "gmm")
SAVABLE = ("logistic", "mahalanobis", "gmm")  # the kinds with an exact plain-JSON form
_TINY = 1e-30
_KEYS = ("format", "version", "kind", "names", "transform", "threshold", "retained", "model",
         "config_digest", "windows", "aggregations")
_MODEL_KEYS = {"logistic": ("coef", "intercept"), "mahalanobis": ("location", "precision"),
               "gmm": ("covariance_type", "weights", "means", "precisions_cholesky")}


# ------------------------------------------------------------------------------ transforms
def _fit_transform(x: np.ndarray, names: list) -> dict:
    """Which columns are logged (nonnegative scores; never image statistics), and the mean and
    std of the transformed fit data (a constant column keeps scale 1)."""
    log = np.array([n not in IMAGE_FEATURES and bool((x[:, j] >= 0).all())
                    for j, n in enumerate(names)])
    t = _logged(x, log, _TINY)
    scale = t.std(axis=0)
    return {"log": log, "floor": _TINY, "mean": t.mean(axis=0),
            "scale": np.where(scale > 0, scale, 1.0)}


def _logged(x: np.ndarray, log: np.ndarray, floor: float) -> np.ndarray:
    t = x.copy()
    t[:, log] = np.log(np.maximum(x[:, log], floor))
    return t


def _standardise(x: np.ndarray, transform: dict) -> np.ndarray:
    t = _logged(x, transform["log"], transform["floor"])
    return (t - transform["mean"]) / transform["scale"]


def _names(features, names, what: str = "features") -> list:
    if not isinstance(features, Mapping):
        raise ArgumentTypeError(f"{what} must be a mapping {{name: (n,) values}} (e.g. "
                                f"detect.result_features(result)), got {type(features).__name__}")
    if not features:
        raise ValueError(f"{what} must hold at least one feature, got an empty mapping")
    names = list(features) if names is None else names
    if isinstance(names, str) or not all(isinstance(n, str) for n in names):
        raise ArgumentTypeError(f"names must be a list of feature names (str), got {names!r}")
    names = list(names)
    if not names:
        raise ValueError("names must list at least one feature")
    if len(set(names)) != len(names):
        raise ValueError(f"names must not repeat a feature, got {names}")
    return names


def _windows(windows):
    if windows is None:
        return None
    from ..sampling.window_spec import Window  # lazy: only when windows are recorded

    return [Window.parse(w, "windows") for w in windows]


def _aggregations(aggregations):
    if aggregations is None:
        return None
    if isinstance(aggregations, str) or not all(isinstance(a, str) for a in aggregations):
        raise ArgumentTypeError(f"aggregations must be a list of names (str), got "
                                f"{aggregations!r}")
    return list(aggregations)


def _digest(config_digest):
    if config_digest is not None and not isinstance(config_digest, str):
        raise ArgumentTypeError(f"config_digest must be a str or None, got "
                                f"{type(config_digest).__name__}")
    return config_digest


# ------------------------------------------------------------------------------ the detector
class Detector:
    """A fitted detector: ``score(features)`` (higher = more likely a hallucination),
    ``flags(features)`` (score > ``threshold``). Build one with :meth:`fit_supervised`,
    :meth:`fit_label_free` or :meth:`load`. ``config_digest``, ``windows`` and ``aggregations``
    record which model and sampler settings it was fitted for (:meth:`check_compatible`);
    ``dataset``, when known, the dataset whose samples it was fitted on."""

    def __init__(self, kind: str, names, transform: dict, model: dict, threshold: float, *,
                 retained: float, config_digest=None, windows=None, aggregations=None,
                 dataset=None):
        self.kind = check_choice("kind", kind, SUPERVISED + LABEL_FREE)
        self.names = list(names)
        self.transform, self.model = transform, model
        self.threshold, self.retained = float(threshold), float(retained)
        self.config_digest = _digest(config_digest)
        self.windows, self.aggregations = _windows(windows), _aggregations(aggregations)
        self.dataset = None if dataset is None else str(dataset)

    def __repr__(self) -> str:
        return (f"Detector(kind={self.kind!r}, names={self.names}, threshold={self.threshold:.6g},"
                f" retained={self.retained}, config_digest={self.config_digest!r})")

    # -------------------------------------------------------------------------- fitting
    @classmethod
    def fit_supervised(cls, features, labels, *, names=None, kind: str = "logistic",
                       retained: float = 0.96, seed: int = 0, config_digest=None, windows=None,
                       aggregations=None, dataset=None) -> "Detector":
        """Fit on ``features`` {name: (n,)} and oracle ``labels`` (True = hallucination).
        ``names``: the features to use (default all, in the mapping's order); the threshold
        keeps ``retained`` of the label-0 fit samples scored out of fold (5-fold: a model fitted
        without them), so that it keeps about as many new in-support samples."""
        kind = check_choice("kind", kind, SUPERVISED)
        names = _names(features, names)
        x = feature_matrix(features, names)
        y = check_labels("labels", labels, x.shape[0])
        if y.all() or not y.any():
            raise ValueError(f"labels must contain both classes, got only "
                             f"{'hallucinations' if y.all() else 'in-support samples'} in "
                             f"{y.size} samples")
        return cls._fit(kind, names, x, y, retained, seed, 0, config_digest, windows,
                         aggregations, dataset)

    @classmethod
    def fit_label_free(cls, reference_features, *, names=None, retained: float = 0.96,
                       kind: str = "mahalanobis", n_components: int = 2, seed: int = 0,
                       config_digest=None, windows=None, aggregations=None,
                       dataset=None) -> "Detector":
        """Fit on in-support references only (no labels exist here): a sample far from them, on
        either side of any feature, scores high. The threshold keeps ``retained`` of the
        references. ``n_components``: the mixture's size for ``kind="gmm"``."""
        kind = check_choice("kind", kind, LABEL_FREE)
        names = _names(reference_features, names, "reference_features")
        x = feature_matrix(reference_features, names)
        n_components = check_int("n_components", n_components, 1)
        need = max(2, n_components if kind == "gmm" else 2)
        if x.shape[0] < need:
            raise ValueError(f"reference_features hold {x.shape[0]} samples; a {kind!r} "
                             f"detector needs at least {need}")
        return cls._fit(kind, names, x, np.zeros(x.shape[0], bool), retained, seed,
                        n_components, config_digest, windows, aggregations, dataset)

    @classmethod
    def _fit(cls, kind, names, x, y, retained, seed, n_components, config_digest, windows,
             aggregations, dataset) -> "Detector":
        retained = check_fraction("retained", retained, open_hi=True)
        seed = check_int("seed", seed, 0)
        transform = _fit_transform(x, names)
        model = fit_model(kind, _standardise(x, transform), y, seed, n_components)
        det = cls(kind, names, transform, model, math.nan, retained=retained,
                  config_digest=config_digest, windows=windows, aggregations=aggregations,
                  dataset=dataset)
        fitted = det._score_matrix(x) if kind in LABEL_FREE else \
            out_of_fold(kind, _standardise(x, transform), y, seed)
        det.threshold = _thr_retained(fitted, y, retained)
        return det

    # -------------------------------------------------------------------------- scoring
    def _score_matrix(self, x: np.ndarray) -> np.ndarray:
        return raw_score(self.kind, self.model, _standardise(x, self.transform))

    def score(self, features) -> np.ndarray:
        """(n,) float64 scores of ``features`` {name: (n,)} (or a SampleResult / SampleSet,
        read with :func:`.result_features`); higher = more likely a hallucination; +inf for a
        sample with a non-finite feature (a diverged sample is always flagged)."""
        if not isinstance(features, Mapping) and hasattr(features, "samples"):
            features = result_features(features)
        x = feature_matrix(features, self.names, finite=False)
        bad = ~np.isfinite(x).all(axis=1)  # a diverged sample: flagged, never scored as typical
        x[bad] = 0.0
        with np.errstate(over="ignore", invalid="ignore"):
            scores = self._score_matrix(x)
        scores[bad] = np.inf
        return scores

    def flags(self, features) -> np.ndarray:
        """(n,) bool: True where ``score > threshold`` (the samples to remove)."""
        return self.score(features) > self.threshold

    def check_compatible(self, *, config_digest=None, names_available=None) -> None:
        """Refuse to score another model's samples (``config_digest`` differs from the one
        fitted for) or a run that lacks features this detector needs (``names_available``)."""
        config_digest = _digest(config_digest)
        if None not in (config_digest, self.config_digest) and config_digest != self.config_digest:
            raise ValueError(f"this detector was fitted for the model with config digest "
                             f"{self.config_digest!r}, not {config_digest!r}: fit one on this "
                             "model's samples")
        if names_available is not None:
            available = list(names_available)
            missing = [n for n in self.names if n not in available]
            if missing:
                raise ValueError(f"the detector needs features {missing} that the sampler does "
                                 f"not produce; it produces {sorted(available)}")

    def check_sampler(self, sampler) -> None:
        """Refuse a :class:`~modeinterp.Sampler` whose pass does not produce every feature this
        detector reads, or one whose features depend on the whole run (``rel-`` aggregations:
        a sample's flag would change with the samples drawn beside it)."""
        self.check_compatible(names_available=sampler_feature_names(sampler))
        whole_run = relative(self.names)
        if whole_run:
            raise ValueError(f"the detector reads {whole_run}, which are relative to the whole "
                             "run: a sample's flag would depend on the other samples; fit one "
                             "without rel- aggregations to flag while sampling")

    @property
    def early_steps(self) -> list:
        """The early-exit step counts the detector reads (the sampler computes them)."""
        return early_steps(self.names)

    @property
    def score_keys(self) -> list:
        """The :class:`~modeinterp.sampling.ScoreKey` of every score the detector reads."""
        return score_keys(self.names)

    # -------------------------------------------------------------------------- files
    def to_dict(self) -> dict:
        """The detector as plain JSON values (what :meth:`save` writes); ``dataset`` only
        when known, so that files written before it existed read the same."""
        if self.kind not in SAVABLE:
            raise ValueError(f"a {self.kind!r} detector cannot be saved: only {list(SAVABLE)} "
                             "detectors have an exact plain-JSON form (no pickles)")
        windows = None if self.windows is None else [w.to_json() for w in self.windows]
        out = {"format": FORMAT, "version": VERSION, "kind": self.kind, "names": self.names,
               "transform": {k: _plain(v) for k, v in self.transform.items()},
               "threshold": self.threshold, "retained": self.retained,
               "model": {k: _plain(v) for k, v in self.model.items()},
               "config_digest": self.config_digest, "windows": windows,
               "aggregations": self.aggregations}
        return out if self.dataset is None else {**out, "dataset": self.dataset}

    def save(self, path) -> str:
        """Write :meth:`to_dict` as versioned JSON to ``path``, atomically. Returns ``path``."""
        return save_json(self.to_dict(), check_path("path", path))

    @classmethod
    def load(cls, path) -> "Detector":
        """The detector :meth:`save` wrote to ``path``; a file that is not one (not JSON, another
        format or version, missing or malformed fields) raises ValueError naming it."""
        path = check_path("path", path)
        try:
            data = load_json(path)
        except (json.JSONDecodeError, UnicodeDecodeError) as exc:
            raise ValueError(f"{path} is not a detector file: not JSON ({exc})") from None
        try:
            return cls._from_dict(data)
        except (KeyError, TypeError, ValueError, IndexError) as exc:
            raise ValueError(f"{path} is not a usable detector file: {exc}") from None

    @classmethod
    def _from_dict(cls, data) -> "Detector":
        if not isinstance(data, dict) or data.get("format") != FORMAT:
            raise ValueError(f"format is not {FORMAT!r}")
        if data.get("version") != VERSION:
            raise ValueError(f"format version {data.get('version')!r}; this modeinterp reads "
                             f"version {VERSION}")
        missing = [k for k in _KEYS if k not in data]
        if missing:
            raise ValueError(f"missing keys {missing}")
        kind = check_choice("kind", data["kind"], SAVABLE)
        names = _names(dict.fromkeys(data["names"]), data["names"])
        transform = _transform_from(data["transform"], len(names))
        model = _model_from(kind, data["model"], len(names))
        threshold = float(_array(data["threshold"], (), "threshold"))
        return cls(kind, names, transform, model, threshold,
                   retained=check_fraction("retained", data["retained"], open_hi=True),
                   config_digest=data["config_digest"], windows=data["windows"],
                   aggregations=data["aggregations"], dataset=data.get("dataset"))


def _plain(value):
    return value.tolist() if isinstance(value, np.ndarray) else value


def _array(value, shape: tuple, what: str, dtype=np.float64) -> np.ndarray:
    arr = np.asarray(value, dtype=dtype)
    if arr.shape != shape or (dtype is np.float64 and not np.isfinite(arr).all()):
        raise ValueError(f"{what} must be finite with shape {shape}, got shape {arr.shape}")
    return arr


def _transform_from(t: dict, d: int) -> dict:
    log = t["log"]
    if not all(isinstance(v, bool) for v in log):
        raise ValueError("transform.log must hold booleans")
    floor = float(_array(t["floor"], (), "transform.floor"))
    if floor <= 0:
        raise ValueError(f"transform.floor must be > 0, got {floor}")
    return {"log": _array(log, (d,), "transform.log", bool), "floor": floor,
            "mean": _array(t["mean"], (d,), "transform.mean"),
            "scale": _array(t["scale"], (d,), "transform.scale")}


def _model_from(kind: str, m: dict, d: int) -> dict:
    missing = [k for k in _MODEL_KEYS[kind] if k not in m]
    if missing:
        raise ValueError(f"model lacks keys {missing}")
    if kind == "logistic":
        return {"coef": _array(m["coef"], (2 * d,), "model.coef"),
                "intercept": float(_array(m["intercept"], (), "model.intercept"))}
    if kind == "mahalanobis":
        return {"location": _array(m["location"], (d,), "model.location"),
                "precision": _array(m["precision"], (d, d), "model.precision")}
    if m["covariance_type"] != "full":
        raise ValueError(f"model.covariance_type must be 'full', got {m['covariance_type']!r}")
    k = len(m["weights"])
    return {"covariance_type": "full", "weights": _array(m["weights"], (k,), "model.weights"),
            "means": _array(m["means"], (k, d), "model.means"),
            "precisions_cholesky": _array(m["precisions_cholesky"], (k, d, d),
                                          "model.precisions_cholesky")}
