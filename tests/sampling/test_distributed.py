"""Scale-out on CPU: sharded, streamed sampling (shards drawn apart — other ranks, after a kill —
are bit for bit the rows of one run; load_samples reads every layout) and DDP training, both
under torchrun with 2 gloo processes."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time

import numpy as np
import pytest
import torch

from modeinterp import load_samples
from modeinterp.cli import main
from modeinterp.models import MLPDenoiser
from modeinterp.sampling import Sampler, iter_shards
from modeinterp.sampling.shards import plan_shards, sample_to_shards, write_shard_index
from modeinterp.schedules import Schedule

# Slow (process groups and torchrun subprocesses): outside the `-m "not slow"` inner loop, in CI.
pytestmark = [pytest.mark.slow, pytest.mark.usefixtures("one_thread")]


@pytest.fixture(scope="module")
def sampler():
    torch.manual_seed(0)
    table = Schedule.linear(50, 1e-3, 0.2).table(method="ddpm")
    return Sampler(MLPDenoiser(2, T=50).eval(), table, window=[10, 5, (20, 30)])


def test_first_offsets_the_noise_stream(sampler):
    whole = sampler.sample(40, (2,), seed=3, batch_size=10, progress=False)
    tail = sampler.sample(20, (2,), seed=3, batch_size=10, first=20, progress=False)
    assert torch.equal(whole.samples[20:], tail.samples)
    assert torch.equal(whole.scores[20:], tail.scores)
    with pytest.raises(ValueError, match="first"):
        sampler.sample(4, (2,), first=-1, progress=False)


def test_two_ranks_and_a_resume_equal_one_run(tmp_path, sampler):
    one = sampler.sample(100, (2,), seed=7, batch_size=10, progress=False)
    for rank in (1, 0):  # two "processes", in any order
        sample_to_shards(sampler, 100, (2,), tmp_path, seed=7, shard_size=30, batch_size=10,
                         rank=rank, world=2, progress=False)
    index = write_shard_index(tmp_path, 100, (2,), 30)
    assert index["n"] == 100
    samples, scores = load_samples(tmp_path)
    assert torch.equal(samples, one.samples) and torch.equal(scores, one.scores)
    assert np.array_equal(np.load(tmp_path / "shards" / "000000000030-000000000060.window-5.npy"),
                          one.window_scores[5][30:60].numpy())
    # a killed run: one shard lost its completion marker; the rerun draws only that one
    (tmp_path / "shards" / "000000000060-000000000090.json").unlink()
    with pytest.raises(RuntimeError, match="000000000060-000000000090"):
        write_shard_index(tmp_path, 100, (2,), 30)
    with pytest.raises(RuntimeError, match="missing"):
        load_samples(tmp_path)
    redrawn = sample_to_shards(sampler, 100, (2,), tmp_path, seed=7, shard_size=30,
                               batch_size=10, progress=False)
    assert redrawn == [(60, 90)]
    assert torch.equal(load_samples(tmp_path).samples, one.samples)
    shards = list(iter_shards(tmp_path))
    assert [len(s.samples) for s in shards] == [30, 30, 30, 10]
    assert torch.equal(torch.cat([s.samples for s in shards]), one.samples)
    assert torch.equal(torch.cat([s.window_scores[(20, 30)] for s in shards]),
                       one.window_scores[(20, 30)])


def test_shard_rules_and_errors(tmp_path, sampler):
    assert plan_shards(7, 3) == [(0, 3), (3, 6), (6, 7)]
    with pytest.raises(ValueError, match="multiple of batch_size"):
        sample_to_shards(sampler, 10, (2,), tmp_path, seed=0, shard_size=5, batch_size=2)
    with pytest.raises(ValueError, match="rank"):
        sample_to_shards(sampler, 10, (2,), tmp_path, seed=0, shard_size=5, rank=2, world=2)
    with pytest.raises(FileNotFoundError, match="no samples"):
        load_samples(tmp_path / "empty")


TRAIN = ["--n-train", "256", "--train-steps", "5", "--no-progress"]
SAMPLE = ["--n-samples", "120", "--steps", "20", "--no-progress"]


def _one_process_samples(tmp_path, sample=SAMPLE):
    """Train a tiny model into tmp_path/model.pt and sample it in one process into tmp_path/one;
    returns (model path, the samples)."""
    out = str(tmp_path)
    assert main(["train", "gaussian2d", "--quick", "--out", out, *TRAIN]) == 0
    assert main(["sample", "gaussian2d", "--quick", "--out", str(tmp_path / "one"), "--model",
                 str(tmp_path / "model.pt"), *sample]) == 0
    return str(tmp_path / "model.pt"), load_samples(tmp_path / "one")


def _assert_bitwise(loaded, one) -> None:
    """Bit for bit, NaNs included (a 5-step model diverges on part of the samples)."""
    samples, scores = loaded
    assert torch.equal(samples.view(torch.int32), one.samples.view(torch.int32))
    assert torch.equal(scores.view(torch.int32), one.scores.view(torch.int32))


def test_torchrun_two_processes_match_one(tmp_path):
    """CPU, gloo: `torchrun --nproc-per-node 2 -m modeinterp sample` writes shards whose union is
    bit-identical to the one-process `modeinterp sample`."""
    model, one = _one_process_samples(tmp_path)
    env = dict(os.environ, OMP_NUM_THREADS="1")
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc-per-node",
           "2", "-m", "modeinterp", "sample", "gaussian2d", "--quick", "--out",
           str(tmp_path / "two"), "--model", model, "--shard-size", "40", *SAMPLE]
    done = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    index = json.loads((tmp_path / "two" / "shards.json").read_text())
    assert index["processes"] == 2 and index["n"] == 120
    _assert_bitwise(load_samples(tmp_path / "two"), one)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_torchrun_two_nodes_by_rendezvous_match_one(tmp_path):
    """The README's several-machines command, as two "nodes" on this host: two torchrun agents
    with one process each meet at a c10d rendezvous (both processes have LOCAL_RANK 0, ranks 0
    and 1) and share the output folder as a shared filesystem; the union of their shards is
    bit-identical to one process."""
    model, one = _one_process_samples(tmp_path)
    out = tmp_path / "two"
    env = dict(os.environ, OMP_NUM_THREADS="1")
    node = [sys.executable, "-m", "torch.distributed.run", "--nnodes", "2", "--nproc-per-node",
            "1", "--rdzv-backend", "c10d", "--rdzv-endpoint", f"127.0.0.1:{_free_port()}",
            "--rdzv-id", "two-nodes", "-m", "modeinterp", "sample", "gaussian2d", "--quick",
            "--out", str(out), "--model", model, "--shard-size", "40", *SAMPLE]
    agents = [subprocess.Popen(node, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                               env=env) for _ in range(2)]
    logs = [agent.communicate(timeout=300)[0] for agent in agents]
    assert [agent.returncode for agent in agents] == [0, 0], "\n".join(logs)[-3000:]
    markers = [json.loads(p.read_text()) for p in sorted((out / "shards").glob("*.json"))]
    assert sorted({m["rank"] for m in markers}) == [0, 1]
    assert len({m["pid"] for m in markers}) == 2
    _assert_bitwise(load_samples(out), one)


def _weights(path):
    return torch.load(path, weights_only=True)["model"]


def test_torchrun_ddp_step_matches_one_process_and_resumes_under_another_world_size(tmp_path):
    """A 2-process DDP step is the 1-process step on the same global batch (to float rounding);
    a checkpoint written under 2 processes continues under 1 to the same weights."""
    (tmp_path / "cfg.toml").write_text('lr_schedule = "constant"\nbatch_size = 63\nema = 0.9\n')
    common = ["gaussian2d", "--quick", "--config", str(tmp_path / "cfg.toml"), "--n-train", "256",
              "--no-progress"]
    env = dict(os.environ, OMP_NUM_THREADS="1")
    torchrun = [sys.executable, "-m", "torch.distributed.run", "--standalone",
                "--nproc-per-node", "2", "-m", "modeinterp"]
    one, two, mixed = (str(tmp_path / d) for d in ("one", "two", "mixed"))
    assert main(["train", *common, "--train-steps", "6", "--out", one]) == 0
    for out, steps in ((two, "6"), (mixed, "3")):
        done = subprocess.run([*torchrun, "train", *common, "--train-steps", steps, "--out", out],
                              capture_output=True, text=True, env=env, timeout=300)
        assert done.returncode == 0, done.stderr[-3000:]
    assert main(["train", *common, "--train-steps", "6", "--out", mixed]) == 0  # 1 process now
    ref = _weights(tmp_path / "one" / "model.pt")
    for out in (two, mixed):
        got = _weights(os.path.join(out, "model.pt"))
        for name, value in ref.items():
            # Adam divides by the gradient scale: rounding of the split sums shows up as ~1e-6
            torch.testing.assert_close(got[name], value, rtol=1e-4, atol=2e-5, msg=name)
    h1 = torch.load(tmp_path / "one" / "model.pt", weights_only=True)["history"]
    h2 = torch.load(tmp_path / "two" / "model.pt", weights_only=True)["history"]
    torch.testing.assert_close(h2, h1, rtol=1e-5, atol=1e-6)


def test_torchrun_ddp_unet_step_matches_one_process(tmp_path):
    """The same for an image model: diffusers' U-Net (digits-8 preset: convolutions, GroupNorm,
    no batch statistics), 3 DDP steps of 2 processes against 1 process on the same global batch."""
    pytest.importorskip("diffusers")
    (tmp_path / "cfg.toml").write_text('lr_schedule = "constant"\nbatch_size = 30\nema = 0.9\n')
    common = ["digits", "--quick", "--config", str(tmp_path / "cfg.toml"), "--train-steps", "3",
              "--no-progress"]
    assert main(["train", *common, "--out", str(tmp_path / "one")]) == 0
    done = subprocess.run([sys.executable, "-m", "torch.distributed.run", "--standalone",
                           "--nproc-per-node", "2", "-m", "modeinterp", "train", *common,
                           "--out", str(tmp_path / "two")],
                          capture_output=True, text=True, timeout=300,
                          env=dict(os.environ, OMP_NUM_THREADS="1"))
    assert done.returncode == 0, done.stderr[-3000:]
    one, two = (torch.load(tmp_path / d / "model.pt", weights_only=True) for d in ("one", "two"))
    assert one["config"]["model_class"] == "UNetDenoiser"
    for name, value in one["model"].items():
        torch.testing.assert_close(two["model"][name], value, rtol=1e-4, atol=2e-5, msg=name)
    torch.testing.assert_close(two["history"], one["history"], rtol=1e-5, atol=1e-6)


def test_torchrun_reproduce_shards_sampling_and_rank_0_reports(tmp_path):
    (tmp_path / "cfg.toml").write_text("sample_batch = 40\ntrajectory = 8\n")
    out = tmp_path / "run"
    done = subprocess.run(
        [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc-per-node", "2",
         "-m", "modeinterp", "reproduce", "gaussian2d", "--quick", "--out", str(out),
         "--config", str(tmp_path / "cfg.toml"), *TRAIN, *SAMPLE],
        capture_output=True, text=True, env=dict(os.environ, OMP_NUM_THREADS="1"), timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["oracle"]["n"] + metrics["n_non_finite"] == 120
    assert (out / "report.html").exists() and (out / "trajectories.png").exists()
    ranks = {json.loads(m.read_text())["rank"] for m in (out / "shards").glob("*.json")}
    assert ranks == {0, 1}  # 3 shards of 40 over 2 processes


def test_torchrun_recursive_matches_one_process(tmp_path):
    """`torchrun -m modeinterp recursive`: DDP training and sharded sampling per generation, rank
    0 writes; the lineages match a one-process run up to DDP's rounding of the gradient sums."""
    micro = ["--n-train", "300", "--train-steps", "20", "--steps", "20", "--window", "5",
             "--generations", "2", "--filter", "all", "--no-progress"]
    cfg = tmp_path / "cfg.toml"
    cfg.write_text("sample_batch = 100\nbatch_size = 100\nclip = 6.0\n")
    runs = {}
    for procs in (1, 2):
        out = tmp_path / f"procs{procs}"
        launcher = ([sys.executable, "-m", "torch.distributed.run", "--standalone",
                     "--nproc-per-node", str(procs)] if procs > 1 else [sys.executable])
        done = subprocess.run(
            [*launcher, "-m", "modeinterp", "recursive", "gaussian2d", "--quick", "--out",
             str(out), "--config", str(cfg), *micro],
            capture_output=True, text=True, env=dict(os.environ, OMP_NUM_THREADS="1"),
            timeout=600)
        assert done.returncode == 0, done.stderr[-3000:]
        runs[procs] = json.loads((out / "recursive.json").read_text())
        assert not list(out.glob("**/shards"))  # merged into samples.pt, then removed
    one, two = runs[1]["lineages"], runs[2]["lineages"]
    assert one.keys() == two.keys() and {"none", "random", "variance"} <= set(one)
    a, b = (load_samples(tmp_path / f"procs{p}/gen-0") for p in (1, 2))
    torch.testing.assert_close(b.samples, a.samples, rtol=1e-3, atol=1e-3)
    for rule in one:
        assert [g["train_size"] for g in one[rule]] == [g["train_size"] for g in two[rule]]


def test_torchrun_a_killed_rank_fails_the_run_and_a_rerun_resumes(tmp_path):
    """SIGKILL one of two processes mid-run: torchrun fails the whole run naming the rank, the
    shards already complete stay, and the same command then finishes the run — bit-identical to
    one process."""
    # 400 steps: shards of 10 take a while. Batches of 10 everywhere: the MLP's matmul rounds a
    # 10-row batch differently from a 120-row one (BLAS picks another kernel), the noise does not
    (tmp_path / "cfg.toml").write_text("sample_batch = 10\n")
    slow = [a if a != "20" else "400" for a in SAMPLE] + ["--config", str(tmp_path / "cfg.toml")]
    model, one = _one_process_samples(tmp_path, slow)
    out = tmp_path / "two"
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc-per-node",
           "2", "-m", "modeinterp", "sample", "gaussian2d", "--quick", "--out", str(out),
           "--model", model, "--shard-size", "10", *slow]
    env = dict(os.environ, OMP_NUM_THREADS="1")
    run = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                           env=env)
    deadline = time.monotonic() + 120
    victim = None
    while victim is None and time.monotonic() < deadline and run.poll() is None:
        markers = [json.loads(m.read_text()) for m in (out / "shards").glob("*.json")]
        victim = next((m["pid"] for m in markers if m["rank"] == 1), None)
        time.sleep(0.02)
    assert victim is not None, "rank 1 wrote no shard"
    os.kill(victim, signal.SIGKILL)
    _, err = run.communicate(timeout=120)
    assert run.returncode != 0
    assert "rank" in err and "FAILED" in err and "SIGKILL" in err, err[-2000:]
    done = len(list((out / "shards").glob("*.json")))
    assert 0 < done < 12  # a partial run: some shards complete, not all
    rerun = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=300)
    assert rerun.returncode == 0, rerun.stderr[-3000:]
    _assert_bitwise(load_samples(out), one)


CLEAN_SCRIPT = """
import sys, torch
from modeinterp.detect import Detector
from modeinterp.pipeline import distributed, stages
from modeinterp.sampling import Sampler
from modeinterp.schedules import Schedule

distributed.init_from_env("cpu")
table = Schedule.linear(1000, 1e-4, 0.02).table(method="ddim", steps=20, eta=1.0)
sampler = Sampler(lambda x, t: 0.3 * torch.tanh(3 * x), table, window=10,
                  aggregations=("mean", "max"))
clean = stages.sample_clean(sampler, 30, (1, 4, 4), detector=Detector.load(sys.argv[1]),
                            seed=5, chunk=11, batch_size=4, progress=False)
distributed.finish()
if clean is not None:
    torch.save({"indices": clean.indices, "samples": clean.result.samples,
                "drawn": clean.drawn}, sys.argv[2])
"""


def test_torchrun_sample_clean_keeps_the_one_process_set(tmp_path):
    """stages.sample_clean under torchrun (2 gloo processes, rounds of odd sizes split over the
    ranks) keeps exactly the samples one process keeps, in the same order."""
    from modeinterp.detect import Detector, result_features
    from modeinterp.pipeline import stages

    table = Schedule.linear(1000, 1e-4, 0.02).table(method="ddim", steps=20, eta=1.0)
    sampler = Sampler(lambda x, t: 0.3 * torch.tanh(3 * x), table, window=10,
                      aggregations=("mean", "max"))
    features = result_features(sampler.sample(200, (1, 4, 4), seed=2, progress=False))
    labels = features["10/max"] > np.quantile(features["10/max"], 0.7)
    detector = Detector.fit_supervised(features, labels, names=["10/mean", "10/max"])
    detector.save(tmp_path / "det.json")
    one = stages.sample_clean(sampler, 30, (1, 4, 4), detector=detector, seed=5, chunk=11,
                              batch_size=4, progress=False)
    (tmp_path / "clean.py").write_text(CLEAN_SCRIPT)
    done = subprocess.run(
        [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc-per-node", "2",
         str(tmp_path / "clean.py"), str(tmp_path / "det.json"), str(tmp_path / "two.pt")],
        capture_output=True, text=True, env=dict(os.environ, OMP_NUM_THREADS="1"), timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    two = torch.load(tmp_path / "two.pt")
    assert one.drawn > 30 and two["drawn"] == one.drawn
    assert torch.equal(two["indices"], one.indices)
    assert torch.equal(two["samples"], one.result.samples)
