"""The runner registry: one runner per scheduler, picked by the site; what only a runner knows
(site checks, job states, cancelling)."""

from __future__ import annotations

import json
import os
import stat
import sys
from pathlib import Path

import pytest

from fairhep.campaign import load_campaign
from fairhep.errors import ConfigError
from fairhep.runners import RUNNERS, cancel, check_site, runner_for
from fairhep.runners.local import LocalRunner
from fairhep.runners.slurm import SlurmRunner
from fairhep.sites import SCHEDULERS, load_site
from fairhep.tasks import TaskContext


def test_every_scheduler_a_site_may_name_has_a_runner() -> None:
    assert tuple(RUNNERS) == SCHEDULERS
    assert all(runner.scheduler == name for name, runner in RUNNERS.items())


def test_the_runner_is_picked_by_the_sites_scheduler() -> None:
    assert isinstance(runner_for(load_site("local")), LocalRunner)
    for name in ("ci-slurm", "hal", "dgx", "thetagpu"):
        assert isinstance(runner_for(load_site(name)), SlurmRunner)


def test_an_unknown_scheduler_is_one_line_naming_the_site_file(tmp_path: Path) -> None:
    path = tmp_path / "pbs.toml"
    path.write_text('scheduler = "pbs"\n')
    with pytest.raises(ConfigError) as exc:
        load_site(path)
    assert str(path) in str(exc.value) and "scheduler must be one of slurm, local" in str(exc.value)
    # A site object that got past the file check anyway (built in code) fails the same way.
    site = load_site("local")
    object.__setattr__(site, "scheduler", "pbs")
    with pytest.raises(ConfigError) as exc:
        runner_for(site)
    msg = str(exc.value)
    assert "\n" not in msg and str(site.source) in msg and "'pbs' has no runner" in msg


def test_site_checks_come_from_the_sites_runner(tmp_path: Path,
                                                monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "s.toml"
    path.write_text('scheduler = "slurm"\ngpus_per_node = 4\n'
                    '[container]\nruntime = "apptainer"\nimage = "/nowhere/x.sif"\n'
                    '[slurm]\naccount = "CHANGE-ME"\n')
    monkeypatch.setenv("PATH", str(tmp_path))  # no sbatch
    warnings = check_site(load_site(path))
    assert [w.split()[0] for w in warnings] == [
        "slurm.account", "sbatch", "no", "gpus_per_node", "container.image"]
    assert warnings[-1] == "container.image /nowhere/x.sif does not exist here"
    local = tmp_path / "l.toml"
    local.write_text('scheduler = "local"\ngpus_per_node = 4\n')
    assert check_site(load_site(local)) == []  # Slurm's warnings are the Slurm runner's


RECORDER = """#!{python}
import json, os, sys
name = os.path.basename(sys.argv[0])
with open(os.environ["RECORD_FILE"], "a") as fh:
    fh.write(json.dumps([name, *sys.argv[1:]]) + "\\n")
if name == "squeue":
    print("41_0|RUNNING")
    print("41_2|PENDING")
"""


def test_slurm_cancel_scancels_only_what_is_still_queued(tmp_path: Path,
                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    for prog in ("squeue", "scontrol", "scancel"):
        tool = bin_dir / prog
        tool.write_text(RECORDER.format(python=sys.executable))
        tool.chmod(tool.stat().st_mode | stat.S_IXUSR)
    record = tmp_path / "calls.jsonl"
    monkeypatch.setenv("PATH", f"{bin_dir}{os.pathsep}{os.environ['PATH']}")
    monkeypatch.setenv("RECORD_FILE", str(record))
    ctx = TaskContext.create(load_site("ci-slurm"), load_campaign("smoke"), tmp_path / "r")
    assert cancel(ctx) == []  # nothing submitted: Slurm is not even asked
    assert not record.exists()
    ctx.layout.jobs.mkdir(parents=True)
    (ctx.layout.jobs / "submissions.json").write_text(json.dumps([{"chunks": [
        {"kind": "train", "offset": 0, "indices": [0, 1, 2], "job_id": "41"}]}]))
    assert cancel(ctx) == ["41_0", "41_2"]  # 41_1 is neither queued nor running any more
    calls = [json.loads(line) for line in record.read_text().splitlines()]
    assert calls[-1] == ["scancel", "41_0", "41_2"]
    states = runner_for(ctx.site).job_states(ctx)
    assert {k: (s.state, s.phase) for k, s in states.items()} == {
        ("train", 0): ("RUNNING", "running"), ("train", 1): ("UNKNOWN", "ended"),
        ("train", 2): ("PENDING", "pending")}


def test_local_runner_has_nothing_to_cancel(tmp_path: Path) -> None:
    ctx = TaskContext.create(load_site("local"), load_campaign("smoke"), tmp_path)
    assert cancel(ctx) == []
