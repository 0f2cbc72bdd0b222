"""The recursive run's manifest: what ran, with which config and seed, how long — and the
guard that a rerun into the same folder continues the *same* experiment.

``manifest.json`` holds the config, and per stage (``gen-0``, ``variance/gen-3``, …) its status
and timings. Every write is atomic (:mod:`modeinterp.artifacts`), so a kill leaves either the
previous manifest or the new one, never half of one.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

from ..artifacts import load_json, save_json

__all__ = ["Manifest"]


def _diff(a, b, prefix="") -> list:
    if isinstance(a, dict) and isinstance(b, dict):
        return [d for k in sorted(set(a) | set(b)) for d in _diff(a.get(k), b.get(k),
                                                                   f"{prefix}{k}.")]
    return [] if a == b else [f"{prefix.rstrip('.')}: {a!r} -> {b!r}"]


class Manifest:
    """``manifest.json`` of one recursive run folder (created on first use). ``write=False``
    keeps it in memory only: the other processes of a torchrun, whose rank 0 writes."""

    def __init__(self, path: Path, config: dict, write: bool = True):
        self.path, self.write = Path(path), write
        config = json.loads(json.dumps(config, default=float))  # tuples -> lists, as on disk
        if self.path.exists():
            self.data = load_json(self.path)
            changed = _diff(self.data["config"], config)
            if changed:
                raise ValueError(f"{self.path.parent} holds a recursive run with another config "
                                 f"({'; '.join(changed)}): use another --out, or delete it to "
                                 "start over")
        else:
            self.data = {"format": "modeinterp.recursive/1", "config": config,
                         "created": time.strftime("%Y-%m-%d %H:%M:%S"), "stages": {}}
            self.save()

    def save(self) -> None:
        if self.write:
            save_json(self.data, self.path, default=float)

    def record(self, stage: str, **facts) -> None:
        """Merge ``facts`` (timings, counts, status) into a stage's entry and save."""
        self.data["stages"].setdefault(stage, {}).update(facts)
        self.save()

    def note(self, key: str, value) -> None:
        self.data[key] = value
        self.save()
