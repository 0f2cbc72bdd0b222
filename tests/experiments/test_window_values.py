"""A score window is one value (K or (start, stop)) whichever way it enters: the CLI, a TOML file,
a JSON manifest."""

from __future__ import annotations

import pytest

from modeinterp.cli import build_parser
from modeinterp.experiments import config_for
from modeinterp.experiments.recipe import main_window
from modeinterp.sampling.window_spec import fit_window, parse_window, window_key


@pytest.mark.parametrize("text,value", [("5", 5), ("80-90", (80, 90))])
def test_cli_toml_and_json_spellings_give_one_value(text, value, tmp_path):
    assert build_parser().parse_args(["reproduce", "gaussian2d", "--window", text]).window == value
    toml = tmp_path / "cfg.toml"
    spelled = f"[{value[0]}, {value[1]}]" if isinstance(value, tuple) else str(value)
    toml.write_text(f"window = {spelled}\nwindow_sweep = [2, \"40-60\", [80, 90]]\n")
    cfg = config_for("gaussian2d", quick=True, toml_path=toml)
    assert cfg.window == value and cfg.window_sweep == (2, (40, 60), (80, 90))
    assert parse_window(window_key(value)) == value == parse_window(list(value) if
                                                                   isinstance(value, tuple) else value)


def test_a_window_must_fit_the_run():
    cfg = config_for("gaussian2d", quick=True, window=(990, 1000), steps=50)
    with pytest.raises(ValueError, match="does not fit a run of 50 steps"):
        main_window(cfg, 50)
    assert main_window(config_for("gaussian2d", quick=True, window=80), 50) == 50
    assert fit_window("40-45", 50) == (40, 45) and fit_window((40, 60), 50) is None


@pytest.mark.parametrize("bad", ["ten", "4-x", 2.5, True, (1, 2, 3)])
def test_bad_spellings_are_refused_naming_the_argument(bad):
    with pytest.raises((TypeError, ValueError), match="window"):
        parse_window(bad)
