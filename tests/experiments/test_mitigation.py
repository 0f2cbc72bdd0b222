"""Repair beside filtering on a small toy run: the held-out half's flagged samples re-run from
each start, the oracle's rates before and after, and the model calls the repairs cost."""

from __future__ import annotations

import pytest

from modeinterp.experiments import config_for
from modeinterp.experiments.mitigation import repair_markdown, repair_section
from modeinterp.experiments.plan import plan
from modeinterp.experiments.recipe import dataset_of, sample_run, train_model
from modeinterp.pipeline import stages

pytestmark = pytest.mark.slow


def test_repair_section_on_a_toy_run(tmp_path):
    cfg = config_for("gaussian2d", quick=True, train_steps=1500, n_samples=600)
    data = dataset_of(cfg)
    model = train_model(plan(cfg), tmp_path, "cpu", False, data).model
    ev = stages.evaluate(data, sample_run(model, plan(cfg), "cpu", False, data))
    section = repair_section(model, cfg, data, ev, rounds=2, progress=False)
    steps = section["steps"]
    assert [r["start"] for r in section["rows"]] == sorted({r["start"] for r in section["rows"]})
    assert section["n_heldout"] == len(ev.labels) - len(ev.labels) // 2 or \
        abs(section["n_heldout"] - len(ev.labels) / 2) <= 1
    for row in section["rows"]:
        assert row["steps_rerun"] == steps - row["start"]
        assert 0 <= row["repaired"] <= row["flagged"] and row["flagged_after"] <= row["flagged"]
        assert row["flagged_after"] == row["flagged"] - row["repaired"]
        # every flagged sample re-runs once, those the first round did not fix once more
        once = 100.0 * row["flagged"] * row["steps_rerun"] / (section["n_heldout"] * steps)
        assert once - 1e-9 <= row["extra_compute"] <= 2 * once + 1e-9
        assert 0 <= row["rate_after"] <= 100 and 0 <= row["oracle_rerun_fixed"] <= 100
    lines = repair_markdown(section)
    assert any(line.startswith("| re-run from step") for line in lines)
    assert repair_markdown({}) == []
