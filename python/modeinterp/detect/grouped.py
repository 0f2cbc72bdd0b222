"""Detection numbers per group of hallucinations — per oracle reason, per union of reasons, or
any other grouping — on a held-out set of samples.

A group is an (n,) bool mask of hallucinations; each is measured against every in-support sample
of the held-out set, so the numbers say how well the score finds that kind of hallucination.
Reasons are the datasets' (:mod:`modeinterp.data.protocol`): one frozenset of reason names per
sample, empty for an in-support one. Conventions (percentages, ``>`` removes) are
:mod:`.metrics`'.
"""

from __future__ import annotations

from typing import Mapping

import numpy as np

from ..validation import check_fraction, check_labels, check_vector
from .intervals import auroc_interval, removed_interval
from .metrics import _check_pair, _thr_retained, auroc, removed_at_retained, retained_at_removed

__all__ = ["heldout_by_reason", "heldout_metrics", "reason_groups"]


def reason_groups(labels, reasons, unions: Mapping[str, object] | None = None) -> dict:
    """``{name: (n,) bool}`` of hallucinations: ``"all"``, then one per reason that occurs
    (sorted; a sample with several reasons is in each), then one per ``unions`` entry
    (``{name: reason names}``: the hallucinations with any of them) that has members."""
    y = check_labels("labels", labels, len(labels))
    if len(reasons) != y.size:
        raise ValueError(f"reasons has length {len(reasons)} but labels {y.size}: one per sample")
    groups = {"all": y.copy()}
    for reason in sorted(frozenset().union(*reasons)):
        groups[reason] = np.array([reason in r for r in reasons], dtype=bool) & y
    for name, members in (unions or {}).items():
        member = np.array([bool(r & frozenset(members)) for r in reasons], dtype=bool) & y
        if member.any():
            groups[name] = member
    return groups


def heldout_by_reason(scores, labels, groups: Mapping[str, np.ndarray], held,
                      threshold: float | None = None, retained: float = 0.96) -> dict:
    """Per group with members among the samples ``held`` (indices): ``{"n", "auroc",
    "removed", "auroc_ci", "removed_ci"}`` — its held-out hallucinations, the AUROC against the
    held-out in-support samples, and the % of them above ``threshold`` (default: the lowest
    keeping ≥ ``retained`` of the held-out in-support samples, re-chosen in each bootstrap
    resample), each with its bootstrap 95 % interval (:mod:`.intervals`). ``groups``: e.g.
    :func:`reason_groups`."""
    s, y = _check_pair(scores, labels, both=False)
    held = np.asarray(held)
    sub, ok = s[held], ~y[held]
    if not ok.any():
        raise ValueError("held must hold in-support samples: every group is measured against them")
    thr = _thr_retained(sub, y[held], check_fraction("retained", retained)) \
        if threshold is None else float(threshold)
    rows = {}
    for name, member in groups.items():
        h = check_labels(f"groups[{name!r}]", member, y.size)[held]
        if not h.any():
            continue
        truth = np.r_[np.ones(h.sum(), bool), np.zeros(ok.sum(), bool)]
        pair = np.r_[sub[h], sub[ok]]
        rows[name] = {"n": int(h.sum()), "auroc": auroc(pair, truth),
                      "removed": 100.0 * float((sub[h] > thr).mean()),
                      "auroc_ci": auroc_interval(pair, truth),
                      "removed_ci": removed_interval(pair, truth, retained, threshold=threshold)}
    return rows


def heldout_metrics(scores, labels, groups: Mapping[str, np.ndarray], held) -> dict:
    """A score on the samples ``held``: AUROC, % removed at ≥ 96 % kept (each with its
    bootstrap 95 % interval), % kept at ≥ 95 % removed, and :func:`heldout_by_reason` of
    ``groups`` at the ≥ 96 %-kept threshold."""
    s, y = check_vector("scores", scores), check_labels("labels", labels, len(scores))
    held = np.asarray(held)
    return {"auroc": auroc(s[held], y[held]),
            "auroc_ci": auroc_interval(s[held], y[held]),
            "removed_at_96": removed_at_retained(s[held], y[held], 0.96),
            "removed_at_96_ci": removed_interval(s[held], y[held], 0.96),
            "kept_at_95": retained_at_removed(s[held], y[held], 0.95),
            "groups": heldout_by_reason(s, y, groups, held)}
