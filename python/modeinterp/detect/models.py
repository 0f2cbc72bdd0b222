"""The models behind :class:`.detector.Detector`: fitting each kind with scikit-learn, keeping
the fitted parameters as plain arrays, and scoring standardised features z with them."""

from __future__ import annotations

import math

import numpy as np

__all__ = ["fit_model", "out_of_fold", "raw_score"]


# ------------------------------------------------------------------------------ scoring
def _gmm_nll(z: np.ndarray, model: dict) -> np.ndarray:
    """−log p(z) under a full-covariance mixture given by its precision Cholesky factors."""
    from scipy.special import logsumexp

    d = z.shape[1]
    comps = []
    for w, mu, chol in zip(model["weights"], model["means"], model["precisions_cholesky"]):
        y = (z - mu) @ chol
        log_det = np.log(np.diag(chol)).sum()
        comps.append(np.log(w) - 0.5 * (d * math.log(2 * math.pi) + (y * y).sum(1)) + log_det)
    return -logsumexp(np.stack(comps, axis=1), axis=1)


def raw_score(kind: str, model: dict, z: np.ndarray) -> np.ndarray:
    if kind == "logistic":
        return np.hstack([z, z * z]) @ model["coef"] + model["intercept"]
    if kind == "boosting":
        with _one_openmp_thread():
            return np.asarray(model["estimator"].decision_function(z), dtype=np.float64)
    if kind == "mahalanobis":
        dz = z - model["location"]
        return np.sqrt(np.maximum(((dz @ model["precision"]) * dz).sum(1), 0.0))
    return _gmm_nll(z, model)


def _one_openmp_thread():
    """The trees' OpenMP team limited to one thread: with a handful of features the work per
    parallel region is tiny, and on a busy machine (a training job beside it) the team's barriers
    made a 400-sample fit take a minute instead of a quarter of a second."""
    from threadpoolctl import threadpool_limits

    return threadpool_limits(1, user_api="openmp")


# ------------------------------------------------------------------------------ fitting
def fit_model(kind: str, z: np.ndarray, y, seed: int, n_components: int) -> dict:
    """The sklearn fit of ``kind``, kept as the plain arrays that score it."""
    if kind == "logistic":
        from sklearn.linear_model import LogisticRegression

        clf = LogisticRegression(class_weight="balanced", max_iter=2000, random_state=seed)
        clf.fit(np.hstack([z, z * z]), y)
        return {"coef": clf.coef_[0].astype(np.float64), "intercept": float(clf.intercept_[0])}
    if kind == "boosting":
        from sklearn.ensemble import HistGradientBoostingClassifier

        clf = HistGradientBoostingClassifier(class_weight="balanced", random_state=seed)
        with _one_openmp_thread():
            return {"estimator": clf.fit(z, y)}
    if kind == "mahalanobis":
        from sklearn.covariance import LedoitWolf

        cov = LedoitWolf().fit(z)
        return {"location": cov.location_.astype(np.float64),
                "precision": cov.precision_.astype(np.float64)}
    from sklearn.mixture import GaussianMixture

    gmm = GaussianMixture(n_components, covariance_type="full", random_state=seed).fit(z)
    return {"covariance_type": "full", "weights": gmm.weights_.astype(np.float64),
            "means": gmm.means_.astype(np.float64),
            "precisions_cholesky": gmm.precisions_cholesky_.astype(np.float64)}


def out_of_fold(kind: str, z: np.ndarray, y: np.ndarray, seed: int, folds: int = 5):
    """Each fit sample scored by a model fitted without it (stratified K-fold): a supervised
    model scores its own training samples too well, so a threshold set on them keeps far fewer
    than ``retained`` of new in-support samples."""
    from sklearn.model_selection import StratifiedKFold

    folds = min(folds, int(y.sum()), int((~y).sum()))
    if folds < 2:  # one sample of a class: nothing to hold out
        return raw_score(kind, fit_model(kind, z, y, seed, 0), z)
    scores = np.empty(len(y))
    for fit, held in StratifiedKFold(folds, shuffle=True, random_state=seed).split(z, y):
        scores[held] = raw_score(kind, fit_model(kind, z[fit], y[fit], seed, 0), z[held])
    return scores
