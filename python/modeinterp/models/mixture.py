"""The exact (Bayes-optimal) denoiser of an isotropic Gaussian mixture.

Noising a mixture Σ_k w_k N(μ_k, s² I) by q(x_t | x_0) = N(√ᾱ_t x_0, (1 − ᾱ_t) I) gives another
mixture, Σ_k w_k N(√ᾱ_t μ_k, v_t I) with v_t = ᾱ_t s² + 1 − ᾱ_t, whose score is known in closed
form. This is the "true score" a trained network approximates: it has sharp jumps between modes
where a network learns a smooth interpolation (the paper's explanation of hallucinations), and
sampling with it produces no mode interpolation.
"""

from __future__ import annotations

import numpy as np
import torch

from ..validation import check_positive


class MixtureDenoiser(torch.nn.Module):
    """ε*(x_t, t) = −√(1 − ᾱ_t) ∇ log p_t(x_t) for the mixture (equal weights unless given).

    modes: (K, d) array; std: the modes' common standard deviation; alphas_cumprod: the
    schedule's ᾱ (length T), indexed by the int64 timesteps the sampler passes.
    """

    def __init__(self, modes, std: float, alphas_cumprod, weights=None):
        super().__init__()
        modes = torch.as_tensor(np.asarray(modes.cpu() if torch.is_tensor(modes) else modes,
                                           dtype=np.float64)).clone()
        if modes.dim() != 2 or modes.shape[0] < 1:
            raise ValueError(f"modes must be a (K, d) array, got shape {tuple(modes.shape)}")
        std = check_positive("std", std)
        w = torch.full((modes.shape[0],), 1.0 / modes.shape[0], dtype=torch.float64) \
            if weights is None else torch.as_tensor(np.asarray(weights, dtype=np.float64))
        if w.shape != (modes.shape[0],) or (w <= 0).any():
            raise ValueError("weights must be K positive numbers")
        self.register_buffer("modes", modes)
        self.register_buffer("log_w", torch.log(w / w.sum()))
        self.register_buffer("alphas_cumprod",
                             torch.tensor(np.array(alphas_cumprod, dtype=np.float64)))
        self.std = float(std)

    def score(self, x: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        """∇_x log p_t(x) in float64, x (B, d), t (B,) int64."""
        x = x.double()
        ab = self.alphas_cumprod[t.long()].to(x.device).unsqueeze(1)  # (B, 1)
        var = ab * self.std**2 + 1 - ab  # (B, 1)
        # |x − √ᾱ μ_k|² expanded, so the work is one (B, d) × (d, K) product.
        proj = x @ self.modes.T  # (B, K)
        sq = (x * x).sum(1, keepdim=True) - 2 * ab.sqrt() * proj + ab * (self.modes**2).sum(1)
        resp = torch.softmax(self.log_w - sq / (2 * var), dim=1)  # normaliser cancels
        return (ab.sqrt() * (resp @ self.modes) - x) / var

    def forward(self, x: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        ab = self.alphas_cumprod[t.long()].to(x.device).double().unsqueeze(1)
        return (-(1 - ab).sqrt() * self.score(x, t)).to(x.dtype)
