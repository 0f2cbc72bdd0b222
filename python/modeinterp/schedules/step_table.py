"""Per-step coefficient tables for the fused reverse step (float64, numpy only).

The maths is docs/design.md ("Per-step coefficients").  For every reverse step i (0 = the first,
noisiest step) the fused kernel computes

    x̂0     = a·x + b·out
    x̂0     = clamp(x̂0, −clip, clip)          only if clip > 0
    x_prev = c0·x̂0 + c1·x + c2·out + σ·z

and this module turns (ᾱ over the kept timesteps, method, prediction, …) into those seven numbers.
It is used through :meth:`modeinterp.schedules.Schedule.table`; its maths uses neither torch nor _C.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Iterator, NamedTuple, Optional, Tuple

import numpy as np

from ..validation import check_bool, check_choice, check_int, check_real

__all__ = ["StepCoef", "StepTable", "respace_timesteps", "table_from_alphas", "METHODS",
           "PREDICTIONS", "VARIANCES", "SPACINGS"]

# Canonical value <- accepted spellings (diffusers' names are aliases).
METHODS = {"ddpm": "ddpm", "ddim": "ddim"}
PREDICTIONS = {"eps": "eps", "epsilon": "eps", "x0": "x0", "sample": "x0", "v": "v",
               "v_prediction": "v"}
VARIANCES = {"fixed-large": "fixed-large", "fixed_large": "fixed-large",
             "fixed-small": "fixed-small", "fixed_small": "fixed-small"}
SPACINGS = {"leading": "leading", "trailing": "trailing", "linspace": "linspace"}


class StepIndexError(IndexError, ValueError):
    """Step index out of range (an IndexError, and a ValueError like every other bad argument)."""


class StepCoef(NamedTuple):
    """The seven per-step scalars of ``modeinterp::fused_step`` (Python floats)."""
    a: float
    b: float
    c0: float
    c1: float
    c2: float
    sigma: float
    clip: float


# ----------------------------------------------------------------------------- respacing
def respace_timesteps(T: int, steps: Optional[int] = None, spacing: str = "leading") -> np.ndarray:
    """The kept model timesteps, descending, as np.int64 (diffusers' conventions, steps_offset=0).

    leading:  t_i = i·(T div S), i = 0..S−1           (DDIM paper / diffusers default)
    trailing: round(arange(T, 0, −T/S)) − 1           (diffusers "trailing")
    linspace: round(linspace(0, T−1, S))              (diffusers "linspace")
    """
    T = check_int("T", T, 1)
    S = T if steps is None else check_int("steps", steps, 1, T)
    spacing = check_choice("spacing", spacing, SPACINGS)
    if spacing == "leading":
        ts = np.arange(S, dtype=np.int64) * (T // S)
    elif spacing == "trailing":
        # Exactly diffusers' expression (same float rounding); arange can yield S+1 values when
        # T/(T/S) rounds above S, so keep the first S.
        ts = (np.round(np.arange(T, 0, -T / S))[:S] - 1).astype(np.int64)
    else:
        ts = np.linspace(0, T - 1, S).round().astype(np.int64)
    ts = np.sort(ts)[::-1].copy()
    if len(ts) != S or len(np.unique(ts)) != S or ts[0] > T - 1 or ts[-1] < 0:
        raise ValueError(f"spacing={spacing!r} gives invalid timesteps for T={T}, steps={S}: {ts}")
    return ts


# ----------------------------------------------------------------------------- the table
def _readonly(arr: np.ndarray) -> np.ndarray:
    arr = np.ascontiguousarray(arr, dtype=np.float64)
    arr.setflags(write=False)
    return arr


@dataclass(frozen=True, eq=False)
class StepTable:
    """Coefficients of every reverse step of one sampler configuration.

    Arrays are float64 (timesteps int64), read-only, length S = len(table), indexed by step
    i = 0..S−1 (0 = first reverse step, the noisiest; timesteps descending).  ``variance`` is
    None for DDIM and ``eta`` is 0.0 for DDPM.  ``betas`` holds β' = 1 − ᾱ_t/ᾱ_prev.
    """
    method: str
    prediction: str
    variance: Optional[str]
    eta: float
    clip: float
    use_clipped_model_output: bool
    spacing: str
    num_train_timesteps: int
    timesteps: np.ndarray
    alphas_cumprod_t: np.ndarray
    alphas_cumprod_prev: np.ndarray
    betas: np.ndarray
    a: np.ndarray
    b: np.ndarray
    c0: np.ndarray
    c1: np.ndarray
    c2: np.ndarray
    sigma: np.ndarray

    def __len__(self) -> int:
        return int(self.timesteps.shape[0])

    def _index(self, i) -> int:
        i, n = check_int("step index i", i), len(self)
        j = i + n if i < 0 else i
        if not 0 <= j < n:
            raise StepIndexError(f"step index i={i} out of range for a table of {n} steps")
        return j

    def coef(self, i: int) -> StepCoef:
        """StepCoef of reverse step i (negative i counts from the end, like a sequence)."""
        j = self._index(i)
        return StepCoef(float(self.a[j]), float(self.b[j]), float(self.c0[j]), float(self.c1[j]),
                        float(self.c2[j]), float(self.sigma[j]), float(self.clip))

    def timestep(self, i: int) -> int:
        """The model timestep t of reverse step i (the value passed to the denoiser)."""
        return int(self.timesteps[self._index(i)])

    def __iter__(self) -> Iterator[Tuple[int, StepCoef]]:
        for j in range(len(self)):
            yield int(self.timesteps[j]), self.coef(j)

    def as_array(self) -> np.ndarray:
        """(S, 7) float64 array, columns in StepCoef field order (a, b, c0, c1, c2, sigma, clip)."""
        clip = np.full(len(self), self.clip, dtype=np.float64)
        return np.stack([self.a, self.b, self.c0, self.c1, self.c2, self.sigma, clip], axis=1)

    def __repr__(self) -> str:
        extra = f"variance={self.variance!r}" if self.method == "ddpm" else f"eta={self.eta!r}"
        return (f"StepTable(method={self.method!r}, prediction={self.prediction!r}, {extra}, "
                f"steps={len(self)}, T={self.num_train_timesteps}, spacing={self.spacing!r}, "
                f"clip={self.clip!r}, use_clipped_model_output={self.use_clipped_model_output})")


def build_table(alphas_cumprod: np.ndarray, *, method="ddpm", prediction="eps",
                variance="fixed-large", eta=0.0, steps=None, clip=None,
                use_clipped_model_output=False, spacing="leading",
                schedule_name: str = "schedule") -> StepTable:
    """Validate the sampler arguments and compute the table (see Schedule.table): the kept
    timesteps by ``spacing``, ᾱ_prev = ᾱ of the next kept timestep (1 after the last), and no
    noise at the last step."""
    T = int(alphas_cumprod.shape[0])
    ts = respace_timesteps(T, steps, spacing)
    ab_t = alphas_cumprod[ts]
    ab_prev = np.append(ab_t[1:], 1.0)
    noise = np.ones(len(ts), dtype=bool)
    noise[-1] = False
    return table_from_alphas(ts, ab_t, ab_prev, num_train_timesteps=T, method=method,
                             prediction=prediction, variance=variance, eta=eta, clip=clip,
                             use_clipped_model_output=use_clipped_model_output,
                             spacing=SPACINGS.get(spacing, spacing), ddpm_noise=noise,
                             schedule_name=schedule_name)


def table_from_alphas(ts: np.ndarray, ab_t: np.ndarray, ab_prev: np.ndarray, *,
                      num_train_timesteps: int, method="ddpm", prediction="eps",
                      variance="fixed-large", eta=0.0, clip=None, use_clipped_model_output=False,
                      spacing="leading", ddpm_noise: Optional[np.ndarray] = None,
                      schedule_name: str = "schedule") -> StepTable:
    """The table for explicit timesteps ``ts`` (descending) and their ᾱ_t, ᾱ_prev (float64).
    ``ddpm_noise`` (bool per step, default: all) says which DDPM steps add noise. This is how
    other conventions get their exact table."""
    method = check_choice("method", method, METHODS)
    prediction = check_choice("prediction", prediction, PREDICTIONS)
    variance = check_choice("variance", variance, VARIANCES)
    eta = check_real("eta", eta, lo=0.0)
    if method == "ddpm" and eta != 0.0:
        raise ValueError(f"eta={eta!r} is only meaningful for method='ddim' (DDPM has no eta); "
                         "use method='ddim' or eta=0")
    clip = check_real("clip", 0.0 if clip is None else clip, lo=0.0)
    use_clipped_model_output = check_bool("use_clipped_model_output", use_clipped_model_output)
    ts, ab_t, ab_prev = _step_alphas(ts, ab_t, ab_prev)
    with np.errstate(all="ignore"):
        beta_p = 1.0 - ab_t / ab_prev
        a, b = _x0_coefs(prediction, ab_t)
        if method == "ddpm":
            c0, c1, c2, sigma = _ddpm_coefs(ab_t, ab_prev, beta_p, variance, ddpm_noise)
        else:
            c0, c1, c2, sigma = _ddim_coefs(ts, ab_t, ab_prev, beta_p, eta, prediction,
                                            use_clipped_model_output)
    coefs = {"a": a, "b": b, "c0": c0, "c1": c1, "c2": c2, "sigma": sigma}
    _check_finite(coefs, ts, ab_t, ab_prev, prediction, schedule_name)
    return StepTable(method=method, prediction=prediction,
                     variance=variance if method == "ddpm" else None,
                     eta=eta if method == "ddim" else 0.0, clip=clip,
                     use_clipped_model_output=use_clipped_model_output, spacing=spacing,
                     num_train_timesteps=int(num_train_timesteps), timesteps=_readonly_int(ts),
                     alphas_cumprod_t=_readonly(ab_t), alphas_cumprod_prev=_readonly(ab_prev),
                     betas=_readonly(beta_p), **{k: _readonly(v) for k, v in coefs.items()})


def _step_alphas(ts, ab_t, ab_prev):
    """(timesteps int64, ᾱ_t float64, ᾱ_prev float64): 1-D arrays of one length."""
    ts = np.asarray(ts, dtype=np.int64)
    ab_t, ab_prev = np.asarray(ab_t, dtype=np.float64), np.asarray(ab_prev, dtype=np.float64)
    if not ts.ndim == ab_t.ndim == ab_prev.ndim == 1 or not len(ts) == len(ab_t) == len(ab_prev):
        raise ValueError(f"timesteps, alphas_cumprod_t and alphas_cumprod_prev must be 1-D of one "
                         f"length; got {ts.shape}, {ab_t.shape}, {ab_prev.shape}")
    return ts, ab_t, ab_prev


def _x0_coefs(prediction: str, ab_t: np.ndarray):
    """(a, b) of x̂0 = a·x + b·out for the model's prediction type."""
    if prediction == "eps":
        return 1.0 / np.sqrt(ab_t), -np.sqrt(1.0 / ab_t - 1.0)
    if prediction == "x0":
        return np.zeros_like(ab_t), np.ones_like(ab_t)
    return np.sqrt(ab_t), -np.sqrt(1.0 - ab_t)  # v


def _ddpm_coefs(ab_t, ab_prev, beta_p, variance: str, noise: Optional[np.ndarray]):
    """(c0, c1, c2, σ) of the DDPM posterior step; σ = 0 where ``noise`` (default: all) is
    False."""
    one_m = 1.0 - ab_t
    c0 = np.sqrt(ab_prev) * beta_p / one_m
    c1 = np.sqrt(1.0 - beta_p) * (1.0 - ab_prev) / one_m
    var = beta_p if variance == "fixed-large" else beta_p * (1.0 - ab_prev) / one_m
    sigma = np.where(np.ones(len(ab_t), bool) if noise is None else noise, np.sqrt(var), 0.0)
    return c0, c1, np.zeros_like(ab_t), sigma


def _ddim_coefs(ts, ab_t, ab_prev, beta_p, eta: float, prediction: str,
                use_clipped_model_output: bool):
    """(c0, c1, c2, σ) of the DDIM step with noise scale ``eta``."""
    one_m = 1.0 - ab_t
    sigma = eta * np.sqrt((1.0 - ab_prev) / one_m) * np.sqrt(beta_p)
    k2 = 1.0 - ab_prev - sigma ** 2
    if np.any(k2 < -1e-12):
        i = int(np.argmax(k2 < -1e-12))
        raise ValueError(f"eta={eta!r} is too large: 1 − ᾱ_prev − σ² < 0 at step {i} "
                         f"(t={int(ts[i])}); DDIM needs eta <= 1 here")
    k = np.sqrt(np.maximum(k2, 0.0))
    sq_prev, sq_t, sq_1m = np.sqrt(ab_prev), np.sqrt(ab_t), np.sqrt(one_m)
    c0 = sq_prev.copy()
    if use_clipped_model_output:  # ε̂ from the (clipped) x̂0, any prediction
        c0 = sq_prev - k * sq_t / sq_1m
        c1, c2 = k / sq_1m, np.zeros_like(ab_t)
    elif prediction == "eps":
        c1, c2 = np.zeros_like(ab_t), k
    elif prediction == "v":
        c1, c2 = k * sq_1m, k * sq_t
    else:  # x0: ε̂ from the unclipped output
        c1, c2 = k / sq_1m, -k * sq_t / sq_1m
    return c0, c1, c2, sigma


def _check_finite(coefs: dict, ts, ab_t, ab_prev, prediction: str, schedule_name: str) -> None:
    """Raise naming the first coefficient that is not finite, its step and the likely cause."""
    for cname, arr in coefs.items():
        bad = ~np.isfinite(arr)
        if not np.any(bad):
            continue
        i = int(np.argmax(bad))
        why = ""
        if ab_t[i] == 0.0:
            why = (" because alphas_cumprod[t] = 0 there"
                   + (" (eps prediction cannot recover x̂0; use prediction='v' or 'x0', or "
                      "respace so that t is not kept)" if prediction == "eps" else ""))
        elif 1.0 - ab_t[i] == 0.0 or ab_prev[i] == 0.0:
            why = " because alphas_cumprod is 1 or 0 (underflow) there"
        raise ValueError(f"{schedule_name}: coefficient {cname} is not finite at step {i} "
                         f"(t={int(ts[i])}){why}")


def _readonly_int(arr: np.ndarray) -> np.ndarray:
    arr = np.ascontiguousarray(arr, dtype=np.int64)
    arr.setflags(write=False)
    return arr
