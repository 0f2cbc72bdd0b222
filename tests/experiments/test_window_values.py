"""A score window is one value, a Window (K or (start, stop)), whichever way it enters: the CLI, a
TOML file, a JSON manifest, a samples.pt key, an older shards.json."""

from __future__ import annotations

import json
import pickle

import pytest

from modeinterp.cli import build_parser
from modeinterp.experiments import config_for
from modeinterp.experiments.plan import main_window
from modeinterp.sampling.window_spec import Window


@pytest.mark.parametrize("text,value", [("5", 5), ("80-90", (80, 90))])
def test_cli_toml_and_json_spellings_give_one_value(text, value, tmp_path):
    assert build_parser().parse_args(["reproduce", "gaussian2d", "--window", text]).window == value
    toml = tmp_path / "cfg.toml"
    spelled = f"[{value[0]}, {value[1]}]" if isinstance(value, tuple) else str(value)
    toml.write_text(f"window = {spelled}\nwindow_sweep = [2, \"40-60\", [80, 90]]\n")
    cfg = config_for("gaussian2d", quick=True, toml_path=toml)
    assert cfg.window == value and cfg.window_sweep == (2, (40, 60), (80, 90))
    window = Window.parse(value)
    assert Window.parse(window.key) == value == Window.from_json(window.to_json())
    assert json.loads(json.dumps(cfg.to_dict()))["window"] == window.to_json()


def test_a_window_must_fit_the_run():
    cfg = config_for("gaussian2d", quick=True, window=(990, 1000), steps=50)
    with pytest.raises(ValueError, match="does not fit a run of 50 steps"):
        main_window(cfg, 50)
    assert main_window(config_for("gaussian2d", quick=True, window=80), 50) == 50
    assert Window.parse("40-45").fit(50) == (40, 45) and Window.parse((40, 60)).fit(50) is None


@pytest.mark.parametrize("bad", ["ten", "4-x", 2.5, True, (1, 2, 3)])
def test_bad_spellings_are_refused_naming_the_argument(bad):
    with pytest.raises((TypeError, ValueError), match="window"):
        Window.parse(bad)


@pytest.mark.parametrize("spelling", [(40, 60), [40, 60], "40-60", "(40, 60)", "[40,60]"])
def test_every_spelling_is_one_window_that_keys_like_its_spec(spelling):
    window = Window.parse(spelling)
    assert window == (40, 60) and hash(window) == hash((40, 60))
    assert {window: 1}[(40, 60)] == 1 and {(40, 60): 1}[window] == 1
    assert window.key == "40-60" and window.to_json() == [40, 60] and window.last is None
    assert str(window) == "(40, 60)" and pickle.loads(pickle.dumps(window)) == window
    assert Window.parse(10).key == "10" and Window.parse(10).to_json() == 10


def test_resolve_places_a_window_in_a_run_and_refuses_what_does_not_fit():
    assert Window.parse(10).resolve(50) == (40, 50)
    assert Window.parse("5-9").resolve(50) == (5, 9)
    with pytest.raises(ValueError, match="window"):
        Window.parse(60).resolve(50)
    with pytest.raises(ValueError, match="stop <= 50"):
        Window.parse((40, 60)).resolve(50)
