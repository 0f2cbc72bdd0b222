"""A run folder knows what it holds: ``OUT/run.json`` records each stage's request (the config,
the model it sampled, the seed, …) before the stage does any work, so that a rerun resumes only
the same run and refuses another one instead of mixing the two.

    run.json   {"format": "modeinterp.run/1", "stages": {"train": {...}, "sample": {...}}}

A stage claims the folder with :func:`claim`: with no record of that stage and none of its
outputs present, it records its request; with the same request recorded, it resumes; with
another request, or with outputs but no record (written before run.json existed), it raises
:class:`~modeinterp.errors.RunMismatch` naming the first differing field — unless
``overwrite``, which deletes that stage's outputs first.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

from ..artifacts import load_json, save_json
from ..errors import RunMismatch, UsageError
from ..train.checkpoint import config_diff

__all__ = ["RECORD", "claim", "recorded"]

RECORD = "run.json"
FORMAT = "modeinterp.run/1"


def recorded(out) -> dict:
    """The stages recorded in ``out`` ({} when it has no record)."""
    path = Path(out) / RECORD
    if not path.exists():
        return {}
    try:
        record = load_json(path)
    except (OSError, ValueError) as exc:
        raise UsageError(f"{path} is not a modeinterp run record ({exc})") from None
    if not isinstance(record, dict) or record.get("format") != FORMAT:
        raise UsageError(f"{path} is not a modeinterp run record (format "
                         f"{record.get('format') if isinstance(record, dict) else None!r})")
    return dict(record.get("stages") or {})


def claim(out, stage: str, request: dict, *, overwrite: bool = False, outputs=(), guarded=(),
          write: bool = True) -> bool:
    """Record that ``out`` holds ``stage`` run with ``request`` (JSON-able). Returns True when
    the same run was recorded already and is resumed. ``outputs``: the stage's files and folders,
    relative to ``out`` — refused when there is no record, deleted on ``overwrite``;
    ``guarded``: outputs that check themselves (a training checkpoint refuses another config),
    only deleted on ``overwrite``. ``write``: False on the processes of a torchrun other than
    rank 0, which check but leave the folder to rank 0."""
    out = Path(out)
    request = json.loads(json.dumps(request))  # tuples as lists: compared as they are stored
    stages = recorded(out)
    saved = stages.get(stage)
    present = [name for name in outputs if (out / name).exists()]
    if not overwrite:
        if saved is not None and saved != request:
            diffs = config_diff(saved, request, saved_as="recorded")
            more = f" (and {len(diffs) - 1} more)" if len(diffs) > 1 else ""
            raise RunMismatch(f"{out} holds another {stage} run: {diffs[0]}{more}; use another "
                              "--out, or --overwrite to replace it")
        if saved is None and present:
            raise RunMismatch(f"{out} already holds {present[0]} from a run it has no record of "
                              f"({RECORD}); use another --out, or --overwrite to replace it")
    elif write:  # replace: whatever the old run was, its outputs go
        for name in [*present, *(g for g in guarded if (out / g).exists())]:
            path = out / name
            shutil.rmtree(path) if path.is_dir() else path.unlink()
    if write:
        stages[stage] = request
        save_json({"format": FORMAT, "stages": stages}, out / RECORD)
    return saved == request and not overwrite
