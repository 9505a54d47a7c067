"""`fairhep train --distributed`: ranks started as torchrun starts them (RANK, WORLD_SIZE,
MASTER_ADDR/PORT in the environment), gloo on this CPU. The same path under a real `srun -n 2`
is tests/runners/test_slurm_distributed.py."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import torch

from fairhep.cli import main
from fairhep.data import load
from fairhep.data.shard import shard_batches
from fairhep.train.distributed import launch_from_environment

TINY = ["--split", "points", "--batch-size", "32", "--hidden", "8", "--de", "4", "--do", "4",
        "--no-progress", "--device", "cpu"]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def start_ranks(args: list[list[str]], tmp_path: Path, timeout_s: float = 30
                ) -> list[subprocess.Popen[str]]:
    """One `fairhep train --distributed` per argument list, as ranks 0, 1, ... of one job."""
    port = _free_port()
    procs = []
    for rank, argv in enumerate(args):
        env = {**os.environ, "RANK": str(rank), "LOCAL_RANK": str(rank),
               "WORLD_SIZE": str(len(args)), "MASTER_ADDR": "127.0.0.1",
               "MASTER_PORT": str(port), "OMP_NUM_THREADS": "1"}
        procs.append(subprocess.Popen(
            [sys.executable, "-m", "fairhep", "train", "--distributed", "--dist-timeout",
             str(timeout_s), "--results", str(tmp_path / "results"), *argv],
            env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True))
    return procs


def wait_all(procs: list[subprocess.Popen[str]], timeout: float = 120
             ) -> list[tuple[int, str, str]]:
    outs = [p.communicate(timeout=timeout) for p in procs]
    return [(p.returncode, out, err) for p, (out, err) in zip(procs, outs, strict=True)]


def max_weight_difference(a: Path, b: Path) -> float:
    wa, wb = torch.load(a, weights_only=True), torch.load(b, weights_only=True)
    assert wa.keys() == wb.keys()
    return max(float((wa[k] - wb[k]).abs().max()) for k in wa)


def test_each_rank_reads_its_piece_of_the_one_process_batches(synthetic_data):
    data = synthetic_data(files=2, jets_per_file=37, seed=3)
    files = load.list_files(data)
    # 37 = 9 batches of 4 + 1: the last batch of each file leaves ranks 1 and 2 without a jet.
    one = list(load.iter_batches(files, 4, shuffle=True, rng=np.random.default_rng(7)))
    ranks = [list(shard_batches(files, 4, np.random.default_rng(7), r, 3)) for r in range(3)]
    assert all(len(r) == len(one) for r in ranks)
    for i, batch in enumerate(one):
        pieces = [r[i] for r in ranks]
        assert all(p.global_size == len(batch) for p in pieces)
        kept = [p.jets for p in pieces if p.weight == 1.0]
        assert sum(len(p) for p in kept) == len(batch)
        assert np.array_equal(np.concatenate([p.tracks for p in kept]), batch.tracks)
        assert np.array_equal(np.concatenate([p.labels for p in kept]), batch.labels)
        if len(batch) == 1:  # a stand-in jet of weight 0, so that every rank steps
            assert [p.weight for p in pieces] == [1.0, 0.0, 0.0]
            assert all(len(p) == 1 for p in pieces)


def test_rank_and_master_come_from_srun_or_torchrun():
    slurm = launch_from_environment({
        "SLURM_PROCID": "5", "SLURM_LOCALID": "1", "SLURM_NTASKS": "8", "SLURM_NNODES": "2",
        "SLURM_STEP_NODELIST": "gpu17", "SLURM_JOB_ID": "1234"})
    assert (slurm.rank, slurm.local_rank, slurm.world_size, slurm.nodes) == (5, 1, 8, 2)
    assert slurm.master_addr == "gpu17" and slurm.launcher == "slurm"
    assert slurm.master_port == launch_from_environment({
        "SLURM_PROCID": "0", "SLURM_NTASKS": "8", "SLURM_JOB_ID": "1234"}).master_port
    run = launch_from_environment({"RANK": "3", "LOCAL_RANK": "1", "WORLD_SIZE": "4",
                                   "LOCAL_WORLD_SIZE": "2", "MASTER_ADDR": "h0",
                                   "MASTER_PORT": "29400"})
    assert (run.rank, run.local_rank, run.world_size, run.nodes, run.master_port) == \
        (3, 1, 4, 2, 29400)
    assert launch_from_environment({}).world_size == 1


def test_a_world_size_that_does_not_divide_the_global_batch_is_one_line(
        synthetic_data, tmp_path, monkeypatch, capsys):
    data = synthetic_data(files=2, jets_per_file=40, seed=1)
    monkeypatch.setenv("RANK", "0")
    monkeypatch.setenv("WORLD_SIZE", "3")
    assert main(["train", "--distributed", "--data", str(data), "--out", str(tmp_path / "r"),
                 *TINY]) == 1
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1
    assert "--batch-size 32" in err and "world size 3" in err
    assert not (tmp_path / "r").exists()


# Processes of their own (~10-30 s): the srun test runs the 2-rank path by default.
@pytest.mark.slow
def test_two_ranks_give_the_weights_of_one_process(synthetic_data, tmp_path):
    data = synthetic_data(files=2, jets_per_file=150, seed=0)
    common = ["--data", str(data), "--epochs", "1", *TINY]
    procs = start_ranks([[*common, "--out", str(tmp_path / "two")]] * 2, tmp_path)
    assert main(["train", *common, "--out", str(tmp_path / "one"), "--results",
                 str(tmp_path / "results")]) == 0
    outs = wait_all(procs)
    assert [rc for rc, _, _ in outs] == [0, 0], outs
    diff = max_weight_difference(tmp_path / "one" / "last.pth", tmp_path / "two" / "last.pth")
    print(f"max |w(2 ranks) - w(1 process)| after one epoch: {diff:.2e}")
    assert diff < 1e-6  # float summation order only (measured here: ~1e-8)
    summary = json.loads((tmp_path / "two" / "train.json").read_text())
    assert summary["distributed"] == {"world_size": 2, "nodes": 1, "launcher": "torchrun",
                                      "tasks_per_node": 2, "backend": "gloo"}
    one = json.loads((tmp_path / "one" / "train.json").read_text())
    assert summary["best_val_loss"] == pytest.approx(one["best_val_loss"], rel=1e-5)
    # Rank 0 alone wrote the record; rank 1 printed the same result.
    records = list((tmp_path / "results" / "records" / "train").glob("*.json"))
    assert len(records) == 2  # one of the single process, one of the two ranks
    assert outs[0][1].splitlines()[-1] == outs[1][1].splitlines()[-1]


# Processes of their own (~10-30 s): the srun test runs the 2-rank path by default.
@pytest.mark.slow
def test_ranks_that_disagree_on_the_settings_are_refused(synthetic_data, tmp_path):
    data = synthetic_data(files=2, jets_per_file=40, seed=1)
    common = ["--data", str(data), "--out", str(tmp_path / "r"), "--epochs", "1", *TINY]
    outs = wait_all(start_ranks([[*common, "--seed", "0"], [*common, "--seed", "1"]],
                                tmp_path))
    for rc, _, err in outs:
        assert rc == 1
        line = err.strip().splitlines()[-1]
        assert len(err.strip().splitlines()) == 1, err
        assert "rank 1 disagrees with rank 0 on the settings and data (seed)" in line
    assert not (tmp_path / "r" / "checkpoint.pth").exists()


# Processes of their own (~10-30 s): the srun test runs the 2-rank path by default.
@pytest.mark.slow
def test_a_dead_rank_is_named_and_the_job_resumes(synthetic_data, tmp_path):
    data = synthetic_data(files=2, jets_per_file=150, seed=0)
    run = tmp_path / "run"
    common = ["--data", str(data), "--out", str(run), "--epochs", "200", "--patience", "200",
              *TINY]
    procs = start_ranks([common] * 2, tmp_path, timeout_s=20)
    deadline = time.monotonic() + 120
    while not (run / "checkpoint.pth").exists():
        assert time.monotonic() < deadline and procs[0].poll() is None, wait_all(procs)
        time.sleep(0.1)
    procs[1].send_signal(signal.SIGKILL)
    started = time.monotonic()
    (rc, _, err), _ = wait_all(procs)
    assert rc == 1 and time.monotonic() - started < 60
    line = err.strip().splitlines()[-1]
    assert "rank 0: rank 1 died or stopped answering" in line, err
    assert "rerun the same command to resume" in line

    # The same command resumes from rank 0's last checkpoint and finishes (fewer epochs now).
    shorter = [a if a != "200" else "3" for a in common]
    shorter[shorter.index("--patience") + 1] = "200"
    outs = wait_all(start_ranks([shorter] * 2, tmp_path))
    assert [o[0] for o in outs] == [0, 0], outs
    summary = json.loads((run / "train.json").read_text())
    assert summary["resumed"] is True and summary["epochs"] >= 1
