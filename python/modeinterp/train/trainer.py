"""DDPM training of a denoiser on a fixed set of samples, with exact resume.

Each step (the paper's toy setup; official code ``ddpm_torch/toy``):
    x0  = next ``batch_size`` rows of the data stream (below)
    t   ~ Uniform{0, …, T-1} (or the focused mixture below),  ε ~ N(0, I)
    x_t = √ᾱ_t · x0 + √(1-ᾱ_t) · ε
    loss = mean((model(x_t, t) - target)²),  target = ε ("eps"), x0 ("x0") or
           v = √ᾱ_t · ε − √(1-ᾱ_t) · x0 ("v")
    Adam step, then EMA update ``ema ← decay·ema + (1-decay)·param`` when ``ema`` is set
    (EMA starts as a copy of the initial weights; no warm-up).

Focused timesteps (``focus_below``, ``focus_prob``): see :class:`TimestepSampler`.

Data stream: :class:`~modeinterp.training.stream.BatchStream` (epoch permutations).

Randomness: all of it comes from two ``torch.Generator``s seeded from ``seed`` (via numpy's
``SeedSequence``): a CPU one for the data order and one on ``device`` for ``t`` and ε. The
model's initial weights are the caller's business (seed torch before building the model).

Checkpoints (see :mod:`modeinterp.checkpoint` for the contents) are written atomically every
``checkpoint_every`` steps and at the end of ``fit``. ``fit(resume=True)`` on a fresh Trainer
continues from an existing checkpoint after checking that its config (model, hyperparameters,
data and schedule fingerprints) matches; the resumed run is bitwise identical to an
uninterrupted one on the same machine and device.
"""
from __future__ import annotations

import copy
import hashlib
import math
import os
from typing import Any, Callable

import numpy as np
import torch
from tqdm.auto import tqdm

from ..artifacts import save_pt
from ..errors import RunMismatch
from .checkpoint import FORMAT, config_diff, load_model, read_checkpoint
from ..validation import (check_choice, check_fraction, check_int, check_path,
                          check_positive, check_type)
from .data_parallel import DataParallelGroup
from .ema import EMA
from .objective import PREDICTIONS, TimestepSampler, diffusion_batch
from .stream import BatchStream
from ..sampling.forward import Forward

__all__ = ["Trainer", "load_model"]

ADAM_BETAS = (0.9, 0.999)
LR_SCHEDULES = ("constant", "cosine")
_FLUSH_EVERY = 50  # steps between host syncs of the loss values (progress-bar refresh)


def _sha256(array: np.ndarray) -> str:
    return hashlib.sha256(np.ascontiguousarray(array).tobytes()).hexdigest()


class Trainer:
    """Train ``model(x_t, t)`` with the DDPM loss on ``data`` (float tensor (N, ...): points
    (N, d) or images (N, C, H, W)).

    Args:
        model: a ``torch.nn.Module`` called as ``model(x_t, t)`` with ``t`` int64 (B,).
            Checkpoints can rebuild it (:func:`load_model`) if it has ``config()`` and its class
            is registered in :data:`modeinterp.models.MODELS`.
        data: training samples (N, ...); converted to float32 on ``device``.
        schedule: any object with ``.T`` and ``.alphas_cumprod`` (length-T float64 array);
            default ``Schedule.linear(1000, 1e-3, 0.2)`` (the paper's toy setting).
        lr: Adam learning rate (betas 0.9, 0.999). batch_size: samples per step.
        steps: total optimizer steps of the run (default 3000 = 300 epochs of 10 batches of
            10,000 over 100,000 samples, ``train_toy.py``'s default; the paper's ``run.sh``
            trains 10,000 epochs, i.e. 100,000 steps, as ``ReproduceConfig`` does).
        ema: EMA decay in (0, 1), or None for no EMA.
        seed: seeds the data-order and noise generators.
        device: where model, data and the noise generator live.
        checkpoint: path of the checkpoint file, or None for none.
        checkpoint_every: steps between checkpoints (one is also written at the end).
        prediction: model target, "eps", "x0" or "v" (or diffusers' names: "epsilon",
            "sample", "v_prediction"), as in Schedule.table.
        lr_schedule: "constant" (the paper) or "cosine" (see :meth:`lr_at`).
        lr_decay_steps: the cosine's length (default ``steps``). Longer than ``steps``, a run is
            the start of a longer one: ``steps=3000, lr_decay_steps=12000`` trains the first
            3000 steps of a 12000-step run, its checkpoint at step 3000.
        focus_below: None (uniform t, the paper) or F in [1, T]: draw t < F with probability
            ``focus_prob`` (:class:`TimestepSampler`).
        focus_prob: in [0, 1]; only used with ``focus_below``.
        grad_clip: None, or clip the gradient norm to this value before each step.
        precision: the forward pass in ``"fp32"`` (default) or under ``"bf16"`` autocast (CPU
            or CUDA); compile: ``torch.compile`` the model's forward (once per batch shape).
            Master weights, the optimizer, the backward's accumulation and the loss stay float32
            (:class:`modeinterp.sampling.forward.Forward`).
    """

    def __init__(self, model: torch.nn.Module, data, schedule=None, *, lr: float = 1e-3,
                 batch_size: int = 10_000, steps: int = 3000, ema: float | None = None,
                 seed: int = 0, device: Any = "cpu", checkpoint: str | os.PathLike | None = None,
                 checkpoint_every: int = 1000, prediction: str = "eps",
                 lr_schedule: str = "constant", lr_decay_steps: int | None = None,
                 focus_below: int | None = None,
                 focus_prob: float = 0.9, grad_clip: float | None = None, precision: str = "fp32",
                 compile: bool = False):
        check_type("model", model, torch.nn.Module, "a torch.nn.Module")
        self.lr = check_positive("lr", lr)
        self.lr_schedule = check_choice("lr_schedule", lr_schedule, LR_SCHEDULES)
        self.batch_size = check_int("batch_size", batch_size, 1)
        self.steps = check_int("steps", steps, 0)
        self.lr_decay_steps = None if lr_decay_steps is None else \
            check_int("lr_decay_steps", lr_decay_steps, 1)
        if self.lr_decay_steps is not None and self.lr_schedule != "cosine":
            raise ValueError(f"lr_decay_steps is the cosine's length: it needs "
                             f"lr_schedule='cosine', got {self.lr_schedule!r}")
        self.checkpoint_every = check_int("checkpoint_every", checkpoint_every, 1)
        self.seed = check_int("seed", seed, 0)
        self.ema = None if ema is None else check_fraction("ema", ema, open_hi=True)
        # One vocabulary with Schedule.table: "eps"/"epsilon", "x0"/"sample", "v"/"v_prediction".
        self.prediction = check_choice("prediction", prediction, PREDICTIONS)
        self.device = torch.device(device)
        self.checkpoint = None if checkpoint is None else check_path("checkpoint", checkpoint)
        self.grad_clip = None if grad_clip is None else check_positive("grad_clip", grad_clip)

        self.data = self._check_data(data, model)
        self.schedule = self._check_schedule(schedule, model)
        self.timesteps = TimestepSampler(int(self.schedule.T), focus_below, focus_prob)
        ac = np.asarray(self.schedule.alphas_cumprod, dtype=np.float64)
        self._ac = ac
        self._sqrt_ac = torch.from_numpy(np.sqrt(ac)).float().to(self.device)
        self._sqrt_1m_ac = torch.from_numpy(np.sqrt(1.0 - ac)).float().to(self.device)

        self.model = model.to(self.device)
        self.optimizer = torch.optim.Adam(self.model.parameters(), lr=self.lr, betas=ADAM_BETAS)
        self._ema = None if self.ema is None else EMA(self.model, self.ema)
        self._group = DataParallelGroup(self.model)  # DDP under torchrun, else the model itself
        self._forward = Forward(self._group.module, precision, compile)

        data_seed, noise_seed = np.random.SeedSequence(self.seed).generate_state(2, np.uint64)
        self._stream = BatchStream(self.data.shape[0], self.batch_size,
                                   torch.Generator().manual_seed(int(data_seed)))
        self._noise_gen = torch.Generator(device=self.device).manual_seed(int(noise_seed))
        self.step = 0
        self._history: list[float] = []
        self._pending: list[torch.Tensor] = []
        self._config = self._make_config(model)

    # -- validation -----------------------------------------------------------------------
    def _check_data(self, data, model) -> torch.Tensor:
        try:
            data = torch.as_tensor(data)
        except Exception as exc:  # noqa: BLE001 - report as a bad argument
            raise ValueError(f"data must be a float tensor of shape (N, ...): {exc}") from exc
        if data.dim() < 2:
            raise ValueError(f"data must be (N, d) points or (N, C, H, W) images: at least 2-D, "
                             f"got shape {tuple(data.shape)}")
        if data.shape[0] < 1 or data[0].numel() < 1:
            raise ValueError(f"data must hold at least one sample of dim >= 1, got shape "
                             f"{tuple(data.shape)}")
        if data.dtype == torch.bool or data.is_complex():
            raise ValueError(f"data must be real-valued, got dtype {data.dtype}")
        data = data.to(self.device, torch.float32).contiguous()
        if not bool(torch.isfinite(data).all()):
            raise ValueError("data contains NaN or infinite values")
        dim = getattr(model, "dim", None)
        if isinstance(dim, int) and dim != data[0].numel():
            raise ValueError(f"data has {data[0].numel()} values per sample but model.dim is {dim}")
        return data

    def _check_schedule(self, schedule, model):
        if schedule is None:
            from ..schedules import Schedule
            schedule = Schedule.linear(1000, 1e-3, 0.2)
        T = check_int("schedule.T", getattr(schedule, "T", None), 1)
        ac = getattr(schedule, "alphas_cumprod", None)
        if ac is None:
            raise ValueError("schedule must have .alphas_cumprod")
        ac = np.asarray(ac, dtype=np.float64)
        if ac.shape != (T,) or not np.all(np.isfinite(ac)) or np.any(ac < 0) or np.any(ac > 1):
            raise ValueError(f"schedule.alphas_cumprod must be a length-{T} array in [0, 1]")
        model_T = getattr(model, "T", None)
        if isinstance(model_T, int) and model_T != T:
            raise ValueError(f"schedule has T={T} but model.T is {model_T}")
        return schedule

    def _make_config(self, model) -> dict:
        cfg = getattr(model, "config", None)
        return {
            "model_class": type(model).__name__,
            "model": cfg() if callable(cfg) else None,
            "trainer": {
                "lr": self.lr, "lr_schedule": self.lr_schedule,
                "batch_size": self.batch_size, "ema": self.ema,
                "seed": self.seed, "prediction": self.prediction,
                **self.timesteps.config(),
                "optimizer": f"Adam(betas={ADAM_BETAS})", "sampling": "epoch-permutation",
                "data_shape": list(self.data.shape),
                "data_sha256": _sha256(self.data.cpu().numpy()),
                "schedule_T": int(self.schedule.T), "schedule_sha256": _sha256(self._ac),
                # Only when set, so checkpoints written before these options still resume.
                **({"grad_clip": self.grad_clip} if self.grad_clip is not None else {}),
                **({"lr_decay_steps": self.lr_decay_steps}
                   if self.lr_decay_steps is not None else {}),
                **({"precision": self._forward.precision}
                   if self._forward.precision != "fp32" else {}),
            },
        }

    def lr_at(self, step: int) -> float:
        """Learning rate of optimizer step ``step``: constant (the paper), or a cosine decay from
        lr to lr/100 over ``lr_decay_steps`` (default ``steps``; sharper modes in a short CPU
        run)."""
        if self.lr_schedule == "constant":
            return self.lr
        frac = min(step / max(self.lr_decay_steps or self.steps, 1), 1.0)
        return self.lr * (0.01 + 0.99 * 0.5 * (1.0 + math.cos(math.pi * frac)))

    # -- one step -------------------------------------------------------------------------
    @property
    def ema_model(self) -> torch.nn.Module | None:
        """The EMA copy of the model (None without EMA): what sampling should use."""
        return None if self._ema is None else self._ema.model

    def _train_step(self) -> torch.Tensor:
        idx = self._stream.next_indices().to(self.device)
        x0 = self.data.index_select(0, idx)
        t = self.timesteps(x0.shape[0], self._noise_gen, self.device)
        eps = torch.randn(x0.shape, generator=self._noise_gen, device=self.device)
        x_t, target = diffusion_batch(x0, eps, self._sqrt_ac[t], self._sqrt_1m_ac[t],
                                      self.prediction)
        mine = self._group.rows(x0.shape[0])  # all rows in one process; a share under torchrun
        pred = self._forward(x_t[mine], t[mine])
        loss = self._group.loss(pred, target[mine], x0.shape[0])
        for group in self.optimizer.param_groups:  # a function of the step: resume-safe
            group["lr"] = self.lr_at(self.step)
        self.optimizer.zero_grad(set_to_none=True)
        loss.backward()
        if self.grad_clip is not None:
            torch.nn.utils.clip_grad_norm_(self.model.parameters(), self.grad_clip)
        self.optimizer.step()
        if self._ema is not None:
            self._ema.update(self.model)
        return self._group.global_loss(loss.detach())

    def _flush(self) -> list[float]:
        if not self._pending:
            return []
        values = torch.stack(self._pending).cpu().tolist()
        self._pending.clear()
        self._history.extend(values)
        return values

    @property
    def history(self) -> np.ndarray:
        """Loss of every step taken so far (float32 array, one entry per step)."""
        self._flush()
        return np.asarray(self._history, dtype=np.float32)

    # -- fit ------------------------------------------------------------------------------
    def fit(self, resume: bool = True, progress: bool = True, *, stop_after: int | None = None,
            callback: Callable[[int, float], Any] | None = None) -> np.ndarray:
        """Train until ``self.step == steps``; returns :attr:`history`.

        resume: if this Trainer has not stepped yet and ``checkpoint`` exists, continue from
            it (a config mismatch is a ValueError listing the differences); with
            ``resume=False`` training starts afresh and overwrites the file.
        progress: show a tqdm bar with the running loss.
        stop_after: return as soon as ``self.step`` reaches this value, *without* writing a
            checkpoint: simulates an interrupted run (a later ``fit`` continues).
        callback: called as ``callback(step, loss)`` after every step; an exception it raises
            propagates and, like a kill, leaves only the last periodic checkpoint.
        """
        if stop_after is not None:
            stop_after = check_int("stop_after", stop_after, 0)
        if resume and self.step == 0 and self.checkpoint and os.path.exists(self.checkpoint):
            self.load_checkpoint(self.checkpoint)
        self.model.train()
        main = self._group.is_main  # under torchrun only rank 0 reports and writes
        with tqdm(total=self.steps, initial=min(self.step, self.steps),
                  disable=not (progress and main), desc="train", dynamic_ncols=True) as bar:
            while self.step < self.steps:
                if stop_after is not None and self.step >= stop_after:
                    return self.history
                self._pending.append(self._train_step())
                self.step += 1
                bar.update(1)
                if callback is not None:
                    callback(self.step, self._flush()[-1])
                if self.checkpoint and main and self.step % self.checkpoint_every == 0:
                    self.save_checkpoint()
                if self.step % _FLUSH_EVERY == 0:  # one host sync per _FLUSH_EVERY steps
                    self._flush()
                    recent = self._history[-_FLUSH_EVERY:]
                    bar.set_postfix(loss=f"{sum(recent) / len(recent):.4f}")
        if self.checkpoint and main:
            self.save_checkpoint()
        self._group.barrier()  # the other processes may read the checkpoint next
        return self.history

    # -- checkpoints ----------------------------------------------------------------------
    def state_dict(self) -> dict:
        """Everything needed to continue this run (the checkpoint contents)."""
        self._flush()
        betas = getattr(self.schedule, "betas", None)
        return {
            "format": FORMAT,
            "step": self.step,
            "config": copy.deepcopy(self._config),
            "run": {"steps": self.steps, "checkpoint_every": self.checkpoint_every},
            "model": self.model.state_dict(),
            "optimizer": self.optimizer.state_dict(),
            "ema": None if self.ema_model is None else self.ema_model.state_dict(),
            "rng": {**self._stream.state(), "noise": self._noise_gen.get_state()},
            "history": torch.tensor(self._history, dtype=torch.float32),
            "schedule": {
                "T": int(self.schedule.T),
                "alphas_cumprod": torch.from_numpy(self._ac.copy()),
                "betas": None if betas is None else torch.from_numpy(
                    np.asarray(betas, dtype=np.float64).copy()),
            },
            "torch": str(torch.__version__),
        }

    def save_checkpoint(self, path: str | os.PathLike | None = None) -> None:
        """Atomically write :meth:`state_dict` to ``path`` (default: ``checkpoint``)."""
        path = self.checkpoint if path is None else check_path("path", path)
        if not path:
            raise ValueError("path must be given when the Trainer has no checkpoint path")
        save_pt(self.state_dict(), path)

    def load_checkpoint(self, path: str | os.PathLike | None = None) -> None:
        """Restore the full training state from a checkpoint written by a matching Trainer."""
        path = self.checkpoint if path is None else check_path("path", path)
        ckpt = read_checkpoint(path, map_location="cpu")
        diffs = config_diff(ckpt["config"], self._config)
        if diffs:
            raise RunMismatch(f"checkpoint {path!r} was written with a different config; "
                             "differences: " + "; ".join(diffs)
                             + " (use resume=False or another checkpoint path to start afresh)")
        history = ckpt["history"].tolist()
        if len(history) != ckpt["step"]:
            raise ValueError(f"checkpoint {path!r} is inconsistent: step {ckpt['step']} but "
                             f"{len(history)} loss values")
        self.model.load_state_dict(ckpt["model"])
        self.optimizer.load_state_dict(ckpt["optimizer"])
        if self.ema_model is not None:
            self.ema_model.load_state_dict(ckpt["ema"])
        self._stream.load_state(ckpt["rng"])
        self._noise_gen.set_state(ckpt["rng"]["noise"])
        self.step = int(ckpt["step"])
        self._pending.clear()
        self._history = history
