"""The scaling study through `fairhep submit` on a REAL single-node Slurm (gloo on this CPU):
the 2-rank task's job asks for --ntasks-per-node=2 and `srun` starts its two ranks, which
find each other from srun's environment; the 1-rank task runs beside it in its own array;
a second `submit --resume` has nothing left to submit. Several nodes are simulated by tasks
on one node here (the multi-node scripts are golden files: dgx-scaling, hal-scaling)."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import pytest

from campaign_helpers import write_campaign
from fairhep.campaign import load_campaign
from fairhep.results import kinds, load_records
from fairhep.runners.slurm.command import run_slurm
from fairhep.sites import load_site
from fairhep.tasks import TaskContext, finished_tasks
from slurm_helpers import SRUN_GLOO_SKIP, single_node_slurm

# 22 s on 2 busy cores: a Slurm of its own, three jobs
pytestmark = [pytest.mark.slurm, SRUN_GLOO_SKIP]


def _idle(env: dict[str, str], timeout: float = 300) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        out = run_slurm(["squeue", "--noheader"], "query", env=env).stdout
        if not out.strip():
            return
        time.sleep(1)
    raise AssertionError(f"jobs still queued after {timeout} s")


def test_a_scaling_campaign_runs_its_ranks_under_srun(tmp_path: Path) -> None:
    campaign = write_campaign(
        tmp_path / "scal.toml", "the scaling study on the single-node Slurm: 1 and 2 ranks",
        data={"files": 2, "jets_per_file": 60}, train={"enabled": False},
        evaluate={"enabled": False}, aggregate={"enabled": False},
        scaling={"enabled": True, "modes": ["strong"], "world_sizes": [1, 2], "epochs": 1,
                 "batch_size": 20, "device": "cpu"})
    results = tmp_path / "results"
    common = ["--site", "ci-slurm", "--campaign", str(campaign), "--results", str(results)]
    ctx = TaskContext.create(load_site("ci-slurm"), load_campaign(campaign), results)
    with single_node_slurm(tmp_path / "slurm") as env:
        proc = subprocess.run([sys.executable, "-m", "fairhep", "submit", *common], env=env,
                              capture_output=True, text=True, timeout=300, check=False)
        assert proc.returncode == 0, proc.stderr
        submitted = (ctx.layout.jobs / "submissions.json").read_text()
        assert '"script": "scaling-n1x2"' in submitted  # its own array: 2 tasks per job
        _idle(env)
        again = subprocess.run([sys.executable, "-m", "fairhep", "submit", "--resume", *common],
                               env=env, capture_output=True, text=True, timeout=300,
                               check=False)
    logs = "\n".join(p.read_text() for p in sorted(ctx.layout.logs.glob("*.out")))
    assert set(finished_tasks(ctx.layout)) == {t.id for t in ctx.tasks.all()}, logs
    assert "nothing to submit" in again.stdout
    two = next(r for r in load_records(ctx.layout.records, kinds.TRAIN_SCALING)
               if r.config["world_size"] == 2)
    assert two.config["distributed"] == {"world_size": 2, "nodes": 1, "launcher": "slurm",
                                         "tasks_per_node": 2, "backend": "gloo"}
    assert "#SBATCH --ntasks-per-node=2" in (ctx.layout.jobs / "scaling-n1x2.sbatch").read_text()
    # Both ranks ran the task; rank 0 alone recorded it.
    assert "scaling-strong-w2: done (rank 0 writes the record)" in logs
