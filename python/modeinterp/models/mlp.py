"""The paper's toy denoiser: a residual, time-conditioned MLP.

This mirrors ``Decoder``/``TemporalLayer`` of the official code
(locuslab/diffusion-model-hallucination, ``gaussian_experiments/ddpm_torch/toy/toy_model.py``),
which is in turn tqch/ddpm-torch's toy model.
"""
from __future__ import annotations

import math
from typing import Any, Mapping

import torch
import torch.nn.functional as F
from torch import nn

from ..validation import check_bool, check_int, check_tensor, check_type, is_int

__all__ = ["MLPDenoiser", "TimeBlock", "timestep_embedding"]

#: negative slope of every LeakyReLU, as in the official code
NEG_SLOPE = 0.02


def timestep_embedding(t: torch.Tensor, dim: int) -> torch.Tensor:
    """Sinusoidal embedding of timesteps ``t`` (shape ``(B,)``) → float32 ``(B, dim)``.

    Exactly ddpm-torch's ``get_timestep_embedding`` (used by the paper's code):
    with ``h = dim // 2`` and ``f_k = exp(-k · ln(10000) / (h - 1))`` for ``k = 0 … h-1``,
    ``emb = [sin(t·f_0) … sin(t·f_{h-1}), cos(t·f_0) … cos(t·f_{h-1})]``, zero-padded by one
    column when ``dim`` is odd.
    """
    half = dim // 2
    scale = math.log(10000.0) / (half - 1)
    freqs = torch.exp(-torch.arange(half, dtype=torch.float32, device=t.device) * scale)
    args = torch.outer(t.reshape(-1).to(torch.float32), freqs)
    emb = torch.cat([torch.sin(args), torch.cos(args)], dim=1)
    if dim % 2 == 1:
        emb = F.pad(emb, [0, 1])
    return emb


def _linear(n_in: int, n_out: int, bias: bool = True) -> nn.Linear:
    """nn.Linear with ddpm-torch's init: Xavier-uniform weight (gain 1), zero bias."""
    layer = nn.Linear(n_in, n_out, bias=bias)
    nn.init.xavier_uniform_(layer.weight)
    if bias:
        nn.init.zeros_(layer.bias)
    return layer


class TimeBlock(nn.Module):
    """One residual time-conditioned block (the official ``TemporalLayer``), width ``hidden``::

        h   = fc1(act(LN1(x)))            # fc1: Linear(hidden→hidden, bias=False)
        h   = h + enc(temb)               # enc: Linear(hidden→hidden, bias=True)
        h   = fc2(act(LN2(h)))            # fc2: Linear(hidden→hidden, bias=False)
        out = x + h

    act = LeakyReLU(0.02); LN = LayerNorm(hidden) with affine parameters; ``temb`` is the
    model's projected timestep embedding (already ``hidden`` wide and activated): ``(B, hidden)``,
    or ``(1, hidden)`` broadcast over the rows when the batch shares one timestep.
    """

    def __init__(self, hidden: int):
        super().__init__()
        self.norm1 = nn.LayerNorm(hidden)
        self.fc1 = _linear(hidden, hidden, bias=False)
        self.norm2 = nn.LayerNorm(hidden)
        self.fc2 = _linear(hidden, hidden, bias=False)
        self.enc = _linear(hidden, hidden)

    def forward(self, x: torch.Tensor, temb: torch.Tensor) -> torch.Tensor:
        h = self.fc1(F.leaky_relu(self.norm1(x), NEG_SLOPE))
        h = h + self.enc(temb)
        h = self.fc2(F.leaky_relu(self.norm2(h), NEG_SLOPE))
        return x + h


class MLPDenoiser(nn.Module):
    """The paper's toy denoiser ``model(x_t, t) -> prediction`` (ε, x̂0 or v: whatever it is
    trained on).

    Architecture (the official toy ``Decoder``; defaults are the paper's)::

        temb = act(t_proj(sinusoid(t, time_dim)))     # t_proj: Linear(time_dim→hidden), bias
        h    = in_fc(x_t)                             # Linear(dim→hidden, bias=False)
        h    = block_i(h, temb)   for i = 1 … n_blocks   # see :class:`TimeBlock`
        out  = out_fc(LN(h))                          # Linear(hidden→dim), bias

    with act = LeakyReLU(0.02) and every Linear initialised Xavier-uniform with zero bias
    (ddpm-torch's initialiser). Each block computes
    ``x + fc2(act(LN2(fc1(act(LN1(x))) + enc(temb))))``.

    Weight sharing: the official code builds its blocks as ``[TemporalLayer(...)] * n``, a list
    holding the *same* module ``n`` times, so the paper's toy models really apply one block's
    weights ``n_blocks`` times. ``share_blocks=True`` reproduces that (one :class:`TimeBlock`,
    stored as ``blocks[0]``, applied ``n_blocks`` times); the default ``share_blocks=False``
    gives ``n_blocks`` independent blocks (what the paper's text describes). With
    ``hidden=time_dim=128`` a block has 49,792 parameters, so the shared model has
    2·49,792 fewer parameters than the independent one at ``n_blocks=3``.

    Args:
        dim: data dimension d (input and output width).
        hidden: width of the residual stream (paper: 128).
        n_blocks: number of residual block applications (paper: 3).
        time_dim: width of the sinusoidal timestep embedding before ``t_proj`` (paper: 128).
        share_blocks: apply one block ``n_blocks`` times (official code) instead of
            ``n_blocks`` independent blocks.
        T: number of diffusion timesteps the model is meant for; ``t`` must lie in
            ``[0, T)``. Checked on CPU inputs only (a check on an accelerator would force a
            host sync every step); the trainer also checks it against its schedule.

    ``forward(x_t, t)``: ``x_t`` is ``(B, dim)`` (any ``(B, …)`` with ``dim`` elements per
    sample is accepted and the output has ``x_t``'s shape); ``t`` is an integer tensor ``(B,)``
    of original (un-respaced) timesteps, or a 0-d tensor / Python int broadcast to the batch.
    The computation runs in the parameters' dtype and the result is cast back to ``x_t``'s dtype.

    One timestep for the whole batch — a Python int, a 0-d tensor, or a ``(B,)`` tensor expanded
    from one value (stride 0, what :class:`~modeinterp.Sampler` passes) — is embedded once and
    broadcast over the rows: the time path (the embedding, ``t_proj`` and every block's ``enc``)
    is 4 of the model's 10 hidden×hidden matmuls, which B identical rows would repeat. Equal to
    the per-row result up to float rounding. A ``(B,)`` tensor with its own storage per row is
    embedded row by row: telling that its values are all equal would cost a host sync.
    """

    def __init__(self, dim: int, hidden: int = 128, n_blocks: int = 3, time_dim: int = 128,
                 share_blocks: bool = False, T: int = 1000):
        super().__init__()
        self.dim = check_int("dim", dim, 1)
        self.hidden = check_int("hidden", hidden, 1)
        self.n_blocks = check_int("n_blocks", n_blocks, 0)
        self.time_dim = check_int("time_dim", time_dim, 4)
        self.T = check_int("T", T, 1)
        self.share_blocks = check_bool("share_blocks", share_blocks)

        self.in_fc = _linear(dim, hidden, bias=False)
        self.t_proj = _linear(time_dim, hidden)
        n_modules = min(1, n_blocks) if share_blocks else n_blocks
        self.blocks = nn.ModuleList(TimeBlock(hidden) for _ in range(n_modules))
        self.out_norm = nn.LayerNorm(hidden)
        self.out_fc = _linear(hidden, dim)

    # -- construction helpers -------------------------------------------------------------
    def config(self) -> dict:
        """Constructor arguments as a plain dict: ``MLPDenoiser.from_config(m.config())``
        rebuilds the architecture (not the weights)."""
        return {"dim": self.dim, "hidden": self.hidden, "n_blocks": self.n_blocks,
                "time_dim": self.time_dim, "share_blocks": self.share_blocks, "T": self.T}

    @classmethod
    def from_config(cls, config: Mapping[str, Any]) -> "MLPDenoiser":
        """Build a model from :meth:`config`'s dict; unknown keys are a ValueError."""
        check_type("config", config, Mapping, "a mapping")
        allowed = {"dim", "hidden", "n_blocks", "time_dim", "share_blocks", "T"}
        unknown = sorted(set(config) - allowed)
        if unknown:
            raise ValueError(f"config has unknown keys for MLPDenoiser: {unknown}")
        if "dim" not in config:
            raise ValueError("config is missing 'dim'")
        return cls(**dict(config))

    def extra_repr(self) -> str:
        return f"share_blocks={self.share_blocks}, n_blocks={self.n_blocks}, T={self.T}"

    # -- forward --------------------------------------------------------------------------
    def _check_t(self, t: Any, batch: int, device: torch.device) -> torch.Tensor:
        """``t`` as the rows to embed: ``(B,)``, or ``(1,)`` when the batch shares one timestep
        (broadcast against the B rows of the residual stream)."""
        if is_int(t):
            t = torch.tensor(int(t), dtype=torch.int64)
        check_tensor("t", t)
        if t.dtype == torch.bool or t.is_complex():
            raise TypeError(f"t must hold integer timesteps, got dtype {t.dtype}")
        if t.dim() == 0:
            t = t.expand(batch)
        if t.dim() != 1 or t.shape[0] != batch:
            raise ValueError(f"t must have shape ({batch},) to match x_t, got {tuple(t.shape)}")
        if batch > 0 and t.stride(0) == 0:
            t = t[:1]
        # A host read of t: checked eagerly, not inside torch.compile (one graph, no host sync).
        if t.device.type == "cpu" and batch > 0 and not torch.compiler.is_compiling():
            lo, hi = t.min().item(), t.max().item()
            if lo < 0 or hi >= self.T:
                raise ValueError(f"t must lie in [0, T={self.T}), got values in [{lo}, {hi}]")
        return t.to(device)

    def forward(self, x_t: torch.Tensor, t: Any) -> torch.Tensor:
        check_tensor("x_t", x_t)
        if x_t.dim() < 1 or (x_t.dim() == 1 and self.dim != 1):
            raise ValueError(f"x_t must be (B, {self.dim}), got shape {tuple(x_t.shape)}")
        batch = x_t.shape[0]
        per_sample = math.prod(x_t.shape[1:])
        if per_sample != self.dim:
            raise ValueError(f"x_t must have {self.dim} values per sample (dim={self.dim}), "
                             f"got shape {tuple(x_t.shape)}")
        param = self.in_fc.weight
        t = self._check_t(t, batch, param.device)

        temb = F.leaky_relu(self.t_proj(timestep_embedding(t, self.time_dim).to(param.dtype)),
                            NEG_SLOPE)
        h = self.in_fc(x_t.reshape(batch, self.dim).to(param.dtype))
        for i in range(self.n_blocks):
            h = self.blocks[0 if self.share_blocks else i](h, temb)
        out = self.out_fc(self.out_norm(h))
        return out.reshape(x_t.shape).to(x_t.dtype)
