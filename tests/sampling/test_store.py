"""The samples schema (modeinterp.sampling.store) and the atomic writers under it
(modeinterp.artifacts): a SampleResult saved and loaded is itself, shards and one file of the same
run load to the same SampleSet, files of earlier versions still load, an unknown schema is refused
by name, and a crash mid-write leaves the old file and no temporary one."""

from __future__ import annotations

import dataclasses
import json
import os

import numpy as np
import pytest
import torch

from modeinterp import artifacts
from modeinterp.sampling import SampleSet, Sampler, iter_shards, load_samples, save_samples
from modeinterp.sampling.shards import sample_to_shards, write_shard_index
from modeinterp.sampling.store import LEGACY_SCHEMA, SCHEMA, config_digest, load_shard_maps
from modeinterp.schedules import Schedule

pytestmark = pytest.mark.usefixtures("one_thread")

SHAPE = (1, 4, 4)
WINDOWS = [5, 12, (3, 9)]
CONFIG = {"dataset": "toy", "window": [5, 12, [3, 9]], "steps": 15}


class ToyImageModel(torch.nn.Module):
    """A fixed, non-trivial image denoiser: a 3×3 convolution and a timestep shift."""

    def __init__(self):
        super().__init__()
        gen = torch.Generator().manual_seed(0)
        self.conv = torch.nn.Conv2d(1, 1, 3, padding=1)
        with torch.no_grad():
            self.conv.weight.copy_(torch.randn(self.conv.weight.shape, generator=gen) * 0.3)
            self.conv.bias.zero_()

    def forward(self, x, t):
        return torch.tanh(self.conv(x) + t.float().view(-1, 1, 1, 1) / 500)


@pytest.fixture(scope="module")
def sampler():
    table = Schedule.linear(100, 1e-4, 0.02).table(method="ddim", steps=15)
    return Sampler(ToyImageModel(), table, window=WINDOWS, aggregations=["mean", "max", "pool2"])


@pytest.fixture(scope="module")
def result(sampler):
    return sampler.sample(13, SHAPE, seed=7, batch_size=5, early_exit=(2, 3), progress=False)


def test_a_saved_result_loads_field_by_field(tmp_path, result):
    written = save_samples(tmp_path, result, seed=7, config=CONFIG)
    loaded = load_samples(tmp_path)
    assert loaded == written and loaded.schema == SCHEMA
    assert loaded.windows == WINDOWS and list(loaded.window_scores) == WINDOWS
    assert torch.equal(loaded.samples, result.samples)
    for w in WINDOWS:
        assert torch.equal(loaded.window_scores[w], result.window_scores[w]), w
    assert torch.equal(loaded.scores, result.scores)
    assert loaded.early_scores.keys() == {2, 3}
    assert all(torch.equal(loaded.early_scores[k], result.early_scores[k]) for k in (2, 3))
    assert sorted(k.key for k in loaded.aggregate_scores) == sorted(
        f"{k}/{a}" for k in ("5", "12", "3-9") for a in ("mean", "max", "pool2"))
    assert torch.equal(loaded.aggregate_scores[((3, 9), "pool2")],
                       result.aggregate_scores[((3, 9), "pool2")])
    assert loaded.seed == 7 and loaded.config_digest == config_digest(CONFIG)
    assert len(loaded.config_digest) == 16
    assert config_digest({"steps": 15, "window": [5, 12, [3, 9]], "dataset": "toy"}) \
        == loaded.config_digest  # key order does not matter
    raw = torch.load(tmp_path / "samples.pt", weights_only=True)  # plain values only
    assert raw["schema"] == SCHEMA and raw["windows"] == ["5", "12", "3-9"]
    assert load_samples(tmp_path / "samples.pt") == loaded  # the file itself also works


@pytest.mark.parametrize("window, aggregations", [(4, ["mean"]), ((11, 15), ["mean", "max"])])
def test_a_one_window_result_keeps_its_window_as_given(tmp_path, sampler, window, aggregations):
    one = Sampler(sampler.model, sampler.table, window=window, aggregations=aggregations)
    result = one.sample(6, SHAPE, seed=1, progress=False)
    save_samples(tmp_path / "one.pt", result, seed=1)
    loaded = load_samples(tmp_path / "one.pt")
    assert loaded.windows == [window] and torch.equal(loaded.window_scores[window], result.scores)
    assert loaded.seed == 1 and loaded.config_digest is None
    sample_to_shards(one, 6, SHAPE, tmp_path / "sharded", seed=1, shard_size=3, progress=False)
    assert load_samples(tmp_path / "sharded") == load_samples(tmp_path / "one.pt")


def test_shards_and_one_file_load_to_equal_sample_sets(tmp_path, monkeypatch, sampler, result):
    for rank in (1, 0):
        sample_to_shards(sampler, 13, SHAPE, tmp_path / "sharded", seed=7, shard_size=5,
                         batch_size=5, early_exit=(2, 3), rank=rank, world=2, progress=False,
                         config=CONFIG)
    write_shard_index(tmp_path / "sharded", 13, SHAPE, 5, seed=7)
    save_samples(tmp_path / "one", result, seed=7, config=CONFIG)
    sharded, one = load_samples(tmp_path / "sharded"), load_samples(tmp_path / "one")
    assert sharded == one
    marker = json.loads((tmp_path / "sharded/shards/000000000005-000000000010.json").read_text())
    assert marker["seed"] == 7 and marker["rank"] == 1 and marker["main_window"] == "5"
    assert marker["windows"] == ["12", "3-9"] and "5/pool2" in marker["pairs"]
    modes, real_load = [], np.load
    monkeypatch.setattr(np, "load", lambda path, **kw: modes.append(kw.get("mmap_mode"))
                        or real_load(path, **kw))
    parts = list(iter_shards(tmp_path / "sharded"))
    monkeypatch.undo()
    assert [len(p.samples) for p in parts] == [5, 5, 3]
    assert modes.count("c") == 3  # the samples are mapped, not read whole
    assert all(p.windows == WINDOWS and p.seed == 7 for p in parts)
    assert torch.equal(torch.cat([p.aggregate_scores[(12, "max")] for p in parts]),
                       one.aggregate_scores[(12, "max")])
    assert [len(p.samples) for p in iter_shards(tmp_path / "one")] == [13]


def test_shards_keep_every_windows_score_maps_as_one_process_draws_them(tmp_path, sampler):
    one = sampler.sample(13, SHAPE, seed=7, batch_size=5, score_maps=True, progress=False)
    for rank in (1, 0):
        sample_to_shards(sampler, 13, SHAPE, tmp_path / "maps", seed=7, shard_size=5,
                         batch_size=5, score_maps=True, rank=rank, world=2, progress=False)
    maps = load_shard_maps(tmp_path / "maps")
    assert list(maps) == list(one.score_maps) == WINDOWS
    for window in WINDOWS:
        assert maps[window].shape == (13, *SHAPE) and maps[window].dtype == torch.float32
        assert torch.equal(maps[window], one.score_maps[window]), window
    marker = json.loads((tmp_path / "maps/shards/000000000010-000000000013.json").read_text())
    assert marker["maps"] == ["5", "12", "3-9"]
    sample_to_shards(sampler, 13, SHAPE, tmp_path / "plain", seed=7, shard_size=5,
                     batch_size=5, progress=False)
    assert load_shard_maps(tmp_path / "plain") == {}  # a run that kept none
    assert "maps" not in json.loads(
        (tmp_path / "plain/shards/000000000010-000000000013.json").read_text())


def test_a_sharded_run_with_maps_consolidates_them_before_the_shards_go(tmp_path, sampler):
    from modeinterp.pipeline import stages

    kwargs = dict(seed=7, batch_size=5, progress=False, score_maps=True)
    one = stages.sample(sampler, 13, SHAPE, **kwargs)
    got = stages.sample(sampler, 13, SHAPE, out=tmp_path, shard_size=5, consolidate=True,
                        **kwargs)
    assert not (tmp_path / "shards").exists() and (tmp_path / "samples.pt").exists()
    assert all(torch.equal(got.score_maps[w], one.score_maps[w]) for w in WINDOWS)
    assert torch.equal(got.samples, one.samples)


def test_tuple_unpacking_gives_samples_and_main_scores(tmp_path, result):
    save_samples(tmp_path, result)
    samples, scores = load_samples(tmp_path)
    assert torch.equal(samples, result.samples) and torch.equal(scores, result.scores)


def test_files_of_earlier_versions_load(tmp_path, result):
    s, e = result.samples.cpu(), {k: v.cpu() for k, v in result.early_scores.items()}
    # modeinterp sample: one window, not recorded
    torch.save({"samples": s, "scores": result.scores, "early_scores": e}, tmp_path / "a.pt")
    a = load_samples(tmp_path / "a.pt")
    assert a.schema == LEGACY_SCHEMA and a.windows == [10] and torch.equal(a.scores,
                                                                           result.scores)
    assert load_samples(tmp_path / "a.pt", legacy_window="40-60").windows == [(40, 60)]
    # reproduce: every window by key, every pair (means too)
    torch.save({"samples": s, "scores": result.scores,
                "window_scores": {"5": result.window_scores[5], "12": result.window_scores[12],
                                  "3-9": result.window_scores[(3, 9)]},
                "early_scores": e,
                "pair_scores": {f"{w}/{a}": torch.zeros(13) for w in ("5", "12")
                                for a in ("mean", "max")}}, tmp_path / "b.pt")
    b = load_samples(tmp_path / "b.pt")
    assert b.windows == WINDOWS and sorted(k.key for k in b.aggregate_scores) == \
        ["12/max", "12/mean", "3-9/mean", "5/max", "5/mean"]
    assert torch.equal(b.window_scores[(3, 9)], result.window_scores[(3, 9)]) and b.early_scores.keys() \
        == {2, 3}
    # recursive: scores keyed by window strings, the main one first
    (tmp_path / "rec").mkdir()
    torch.save({"samples": s, "scores": {"12": result.window_scores[12],
                                         "3-9": result.window_scores[(3, 9)]}},
               tmp_path / "rec" / "samples.pt")
    samples, scores = rec = load_samples(tmp_path / "rec")
    assert rec.windows == [12, (3, 9)] and torch.equal(scores, result.window_scores[12])


def test_shards_of_earlier_versions_load(tmp_path, sampler):
    pair = Sampler(sampler.model, sampler.table, window=[(3, 9), 12])
    sample_to_shards(pair, 13, SHAPE, tmp_path, seed=7, shard_size=5, progress=False)
    for marker in (tmp_path / "shards").glob("*.json"):  # as written before: no main window
        meta = json.loads(marker.read_text())
        del meta["main_window"], meta["schema"], meta["config_digest"]
        marker.write_text(json.dumps(meta))
    # modeinterp sample wrote str() of each window into shards.json
    (tmp_path / "shards.json").write_text(json.dumps({"windows": ["(3, 9)", "12"]}))
    loaded = load_samples(tmp_path)
    whole = pair.sample(13, SHAPE, seed=7, batch_size=5, progress=False)
    assert loaded.schema == LEGACY_SCHEMA and loaded.windows == [(3, 9), 12]
    assert loaded == dataclasses.replace(SampleSet.from_result(whole, seed=7),
                                         schema=LEGACY_SCHEMA)
    (tmp_path / "shards.json").unlink()  # nothing says: the legacy default
    assert load_samples(tmp_path).windows == [10, 12]


def test_an_unknown_schema_is_refused_by_name(tmp_path, result):
    saved = save_samples(tmp_path, result).to_dict()
    torch.save({**saved, "schema": "modeinterp.samples/9"}, tmp_path / "samples.pt")
    with pytest.raises(ValueError, match=r"samples/9.*modeinterp\.samples/2"):
        load_samples(tmp_path)
    with pytest.raises(ValueError, match="not a samples file"):
        torch.save(torch.zeros(3), tmp_path / "samples.pt")
        load_samples(tmp_path)
    with pytest.raises(FileNotFoundError, match="no samples"):
        load_samples(tmp_path / "empty")
    with pytest.raises(ValueError, match="exactly the windows"):
        SampleSet.stored(torch.zeros(2, 1), {5: torch.zeros(2)}, [5, 10])


@pytest.mark.parametrize("write", [
    lambda p: artifacts.save_pt({"x": torch.ones(3)}, p),
    lambda p: artifacts.save_json({"x": 1}, p),
    lambda p: artifacts.save_text("x", p),
    lambda p: artifacts.save_npy(np.ones(3), p),
])
def test_a_crash_mid_write_keeps_the_old_file_and_no_temporary(tmp_path, monkeypatch, write):
    path = tmp_path / "artefact"
    path.write_bytes(b"old")

    def crash(src, dst):
        raise OSError("disk died")

    monkeypatch.setattr(os, "replace", crash)
    with pytest.raises(OSError, match="disk died"):
        write(path)
    assert path.read_bytes() == b"old" and os.listdir(tmp_path) == ["artefact"]
    monkeypatch.undo()
    write(path)
    assert path.read_bytes() != b"old" and os.listdir(tmp_path) == ["artefact"]


def test_a_crash_while_saving_samples_keeps_the_old_file(tmp_path, monkeypatch, result):
    save_samples(tmp_path, result, seed=1)
    monkeypatch.setattr(torch, "save", lambda obj, f: (f.write(b"partial"), 1 / 0))
    with pytest.raises(ZeroDivisionError):
        save_samples(tmp_path, result, seed=2)
    monkeypatch.undo()
    assert load_samples(tmp_path).seed == 1 and os.listdir(tmp_path) == ["samples.pt"]
    assert artifacts.load_json(artifacts.save_json({"a": [1, 2]}, tmp_path / "x.json")) == \
        {"a": [1, 2]}
