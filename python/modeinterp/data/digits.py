"""Real handwritten digits: scikit-learn's bundled 8×8 digits (1,797 images, shipped inside the
package: no download), in [−1, 1], at 8×8 or upsampled to 16×16.

No exact oracle exists for handwriting, so a small digit classifier — an MLP trained once on a
fixed 80 % of the digits and cached as plain arrays — stands in for one:

* ``predict(x)``: the digit it reads and its top probability; ``classify(x)`` the reason
  ``{"unrecognisable"}`` when that probability is below ``confidence`` (default 0.9: measured, it
  flags 5 % of real held-out digits, 86 % of uniform noise images and 57 % of two-digit
  overlays — a mode interpolation of sorts), none otherwise;
* ``is_hallucination(x)``: "no recognisable digit" — a **proxy** label, not ground truth;
* ``frechet_distance(x)``: the Fréchet distance between the classifier's hidden features of ``x``
  and of the real digits (an FID with a digit network instead of Inception).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from ..artifacts import cache_folder, write_atomic
from ..validation import check_choice, check_fraction, check_int

__all__ = ["Digits", "DigitClassifier"]

_SPLIT_SEED, _TRAIN_FRAC, _HIDDEN = 0, 0.8, 64
_UNRECOGNISABLE = frozenset({"unrecognisable"})


def _load_digits() -> tuple:
    from sklearn.datasets import load_digits

    bunch = load_digits()
    images = bunch.images.astype(np.float32) / 8.0 - 1.0  # 0…16 → −1…1
    return images, bunch.target.astype(np.int64)


def _split() -> tuple:
    """Fixed (train, held-out) index arrays of the 1,797 digits."""
    n = 1797
    perm = np.random.default_rng(_SPLIT_SEED).permutation(n)
    k = int(_TRAIN_FRAC * n)
    return np.sort(perm[:k]), np.sort(perm[k:])


class DigitClassifier:
    """A one-hidden-layer MLP on 8×8 digits in [−1, 1], evaluated with numpy."""

    def __init__(self, weights: dict):
        self.w1, self.b1, self.w2, self.b2 = (np.asarray(weights[k], dtype=np.float64)
                                              for k in ("w1", "b1", "w2", "b2"))

    @classmethod
    def train(cls) -> "DigitClassifier":
        from sklearn.neural_network import MLPClassifier

        images, labels = _load_digits()
        train, _ = _split()
        mlp = MLPClassifier(hidden_layer_sizes=(_HIDDEN,), max_iter=2000, random_state=0)
        mlp.fit(images[train].reshape(len(train), -1), labels[train])
        (w1, w2), (b1, b2) = mlp.coefs_, mlp.intercepts_
        return cls({"w1": w1, "b1": b1, "w2": w2, "b2": b2})

    @classmethod
    def cached(cls, cache_dir) -> "DigitClassifier":
        """Train once and keep the weights in ``cache_dir`` (an .npz of arrays, no pickle)."""
        if cache_dir is None:
            return cls.train()
        path = Path(cache_dir) / "digit-classifier-v1.npz"
        if path.exists():
            with np.load(path) as f:
                return cls(dict(f))
        model = cls.train()
        write_atomic(path, lambda f: np.savez(f, w1=model.w1, b1=model.b1, w2=model.w2,
                                               b2=model.b2))
        return model

    def features(self, x8: np.ndarray) -> np.ndarray:
        """(n, 64) hidden activations of (n, 8, 8) images."""
        return np.maximum(x8.reshape(len(x8), -1) @ self.w1 + self.b1, 0.0)

    def proba(self, x8: np.ndarray) -> np.ndarray:
        logits = self.features(x8) @ self.w2 + self.b2
        logits -= logits.max(axis=1, keepdims=True)
        p = np.exp(logits)
        return p / p.sum(axis=1, keepdims=True)


def frechet(a: np.ndarray, b: np.ndarray) -> float:
    """Fréchet distance between Gaussians fitted to the rows of ``a`` and ``b``."""
    from scipy import linalg

    mu_a, mu_b = a.mean(axis=0), b.mean(axis=0)
    eye = 1e-6 * np.eye(a.shape[1])  # dead ReLU units make the covariances singular
    ca, cb = np.cov(a, rowvar=False) + eye, np.cov(b, rowvar=False) + eye
    root = linalg.sqrtm(ca @ cb)
    return float(((mu_a - mu_b) ** 2).sum() + np.trace(ca + cb - 2.0 * np.real(root)))


class Digits:
    """scikit-learn's handwritten digits as a dataset (see the module docstring).

    size: 8 (native) or 16 (2× nearest-neighbour upsampling, for a deeper U-Net); confidence:
    the classifier probability below which a sample counts as "unrecognisable"; cache_dir: where
    the classifier's weights are kept (default ``$MODEINTERP_CACHE`` or ``~/.cache/modeinterp``).
    """

    oracle = "proxy"  # data.protocol: is_hallucination is the classifier's guess
    capabilities = frozenset({"frechet_distance"})

    def __init__(self, size: int = 8, confidence: float = 0.9, cache_dir="default"):
        if size not in (8, 16):
            raise ValueError(f"size must be 8 or 16, got {size!r}")
        self.size = int(size)
        self.confidence = check_fraction("confidence", confidence, open_hi=True)
        self.cache_dir = cache_folder(cache_dir)
        self._images, self._labels = _load_digits()
        train, held = _split()
        self._pools = {"all": np.arange(len(self._images)), "train": train, "heldout": held}
        self._classifier = None

    sample_shape = property(lambda self: (1, self.size, self.size))

    def __repr__(self) -> str:
        return f"Digits(size={self.size}, confidence={self.confidence})"

    @property
    def classifier(self) -> DigitClassifier:
        if self._classifier is None:
            self._classifier = DigitClassifier.cached(self.cache_dir)
        return self._classifier

    def _upsample(self, x8: np.ndarray) -> np.ndarray:
        return x8 if self.size == 8 else x8.repeat(2, axis=-2).repeat(2, axis=-1)

    def _indices(self, n, seed, split) -> np.ndarray:
        n, seed = check_int("n", n, 0), check_int("seed", seed, 0)
        pool = self._pools[check_choice("split", split, tuple(self._pools))]
        rng = np.random.default_rng(seed)
        perms = [rng.permutation(pool) for _ in range(-(-n // len(pool)) if n else 0)]
        return np.concatenate(perms)[:n].astype(np.int64) if perms else np.zeros(0, np.int64)

    def sample(self, n: int, seed: int = 0, *, split: str = "all") -> torch.Tensor:
        """``n`` real digits (n, 1, size, size) in [−1, 1], deterministic per seed: a seeded
        permutation of the digits (of the classifier's ``"train"`` or ``"heldout"`` split if
        asked), repeated when n exceeds them."""
        idx = self._indices(n, seed, split)
        return torch.from_numpy(self._upsample(self._images[idx])[:, None].copy())

    def labels(self, n: int, seed: int = 0, *, split: str = "all") -> torch.Tensor:
        """The true digits of ``sample(n, seed, split=split)``."""
        return torch.from_numpy(self._labels[self._indices(n, seed, split)])

    # -- the classifier proxy ---------------------------------------------------------------
    def _to8(self, x) -> np.ndarray:
        arr = np.asarray(x.detach().float().cpu() if isinstance(x, torch.Tensor) else x,
                         dtype=np.float64)
        if arr.ndim == 4 and arr.shape[1] == 1:
            arr = arr[:, 0]
        if arr.ndim != 3 or arr.shape[1:] != (self.size, self.size):
            raise ValueError(f"x must be images of shape (n, 1, {self.size}, {self.size}), "
                             f"got {tuple(np.shape(x))}")
        arr = np.clip(arr, -1.0, 1.0)
        if self.size == 16:  # back to the classifier's 8×8 by 2×2 averages
            arr = arr.reshape(len(arr), 8, 2, 8, 2).mean(axis=(2, 4))
        return arr

    def predict(self, x) -> tuple:
        """(digit, top probability) per image."""
        p = self.classifier.proba(self._to8(x))
        return p.argmax(axis=1), p.max(axis=1)

    def classify(self, x) -> list:
        """One frozenset of reasons per image (:mod:`.protocol`): ``{"unrecognisable"}`` when the
        classifier reads no digit (:meth:`is_hallucination`), empty otherwise."""
        return [_UNRECOGNISABLE if bad else frozenset()
                for bad in self.is_hallucination(x).tolist()]

    def is_hallucination(self, x) -> torch.Tensor:
        """(n,) bool — a PROXY: the classifier recognises no digit (top probability below
        ``confidence``). Not ground truth."""
        return torch.from_numpy(self.predict(x)[1] < self.confidence)

    def frechet_distance(self, x, reference=None) -> float:
        """Fréchet distance of ``x``'s classifier features to ``reference``'s (default: all real
        digits)."""
        ref = self._images if reference is None else self._to8(reference)
        return frechet(self.classifier.features(self._to8(x)),
                       self.classifier.features(np.asarray(ref, dtype=np.float64)))

    def summary(self, x) -> dict:
        digit, conf = self.predict(x)
        ok = conf >= self.confidence
        counts = np.bincount(digit[ok], minlength=10)
        return {"n": int(len(conf)), "n_hallucinated": int((~ok).sum()),
                "rate": float((~ok).mean()) if len(conf) else 0.0,
                "label": "proxy: classifier confidence below "
                         f"{self.confidence} (no recognisable digit)",
                "digit_counts": {str(d): int(c) for d, c in enumerate(counts)},
                "mean_confidence": float(conf.mean()) if len(conf) else 0.0}
