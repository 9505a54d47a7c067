"""`srun -n 2 fairhep train --distributed` on a REAL single-node Slurm (gloo on this CPU): the
two tasks take their rank, world size and master from srun's environment, and one epoch gives
the weights of one process up to float summation order (the exactness claim of issue 22).
Multi-node is simulated by tasks on one node; the killed-rank resume is
tests/train/test_distributed.py (slow)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from fair_helpers import free_port
from fairhep.cli import main
from fairhep.data.synth import synthesize
from slurm_helpers import SRUN_GLOO_SKIP, single_node_slurm

pytestmark = [pytest.mark.slurm, SRUN_GLOO_SKIP]

TINY = ["--split", "points", "--epochs", "1", "--batch-size", "32", "--hidden", "8", "--de", "4",
        "--do", "4", "--no-progress", "--device", "cpu"]


def test_two_srun_tasks_train_the_weights_of_one_process(tmp_path: Path) -> None:
    data = tmp_path / "data"
    synthesize(data, 2, 150, 0)
    results = tmp_path / "results"
    common = ["--data", str(data), "--results", str(results), *TINY]
    with single_node_slurm(tmp_path / "slurm") as env:
        proc = subprocess.run(
            ["srun", "-n", "2", "--cpus-per-task=1", "--time=5", "--kill-on-bad-exit=1",
             sys.executable, "-m", "fairhep", "train", "--distributed", "--dist-timeout", "60",
             *common, "--out", str(tmp_path / "two")],
            # A free port, not the one derived from the job id: every test's Slurm numbers its
            # jobs from 1, and a port an earlier test's step left behind would be taken.
            env={**env, "OMP_NUM_THREADS": "1", "MASTER_PORT": str(free_port())},
            capture_output=True, text=True, timeout=300,
            check=False)
    assert proc.returncode == 0, proc.stderr
    assert main(["train", *common, "--out", str(tmp_path / "one")]) == 0

    one = torch.load(tmp_path / "one" / "last.pth", weights_only=True)
    two = torch.load(tmp_path / "two" / "last.pth", weights_only=True)
    diff = max(float((one[k] - two[k]).abs().max()) for k in one)
    print(f"srun -n 2 vs one process, one epoch: max weight difference {diff:.2e}")
    assert diff < 1e-6  # float summation order only (1.5e-8 here)
    summary = json.loads((tmp_path / "two" / "train.json").read_text())
    assert summary["distributed"] == {"world_size": 2, "nodes": 1, "launcher": "slurm",
                                      "tasks_per_node": 2, "backend": "gloo"}
    # Both tasks printed the one result; rank 0 alone wrote the one record.
    finals = [line for line in proc.stdout.splitlines() if line.startswith("1 epochs")]
    assert len(finals) == 2 and finals[0] == finals[1]
    records = [json.loads(p.read_text())
               for p in (results / "records" / "train").glob("*.json")]
    assert sorted(r["config"]["distributed"] is not None for r in records) == [False, True]
