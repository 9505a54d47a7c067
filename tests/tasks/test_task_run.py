"""`task run` of one task: "done" is decided under the task's lock (a real second process),
a training is done only with its train record, and an unwritable results folder is one line
before anything runs."""

from __future__ import annotations

import fcntl
import subprocess
import sys
from pathlib import Path

import pytest

from campaign_helpers import write_campaign
from fairhep.campaign import load_campaign
from fairhep.cli import main
from fairhep.results import ResultRecord, load_records, write_record
from fairhep.runners import campaign_status
from fairhep.sites import load_site
from fairhep.tasks import TASK_RECORD_KIND, TaskContext, TaskError, finished_tasks, run_task

ONE = "one training on a few synthetic jets: the task tests"
ONLY_TRAINING = {"evaluate": {"enabled": False}, "aggregate": {"enabled": False}}

@pytest.fixture
def ctx(tmp_path: Path) -> TaskContext:
    path = write_campaign(tmp_path / "one.toml", ONE, **ONLY_TRAINING)
    return TaskContext.create(load_site("local"), load_campaign(path), tmp_path / "results")


def _task_run(ctx: TaskContext, kind: str, index: int = 0) -> subprocess.Popen[str]:
    argv = [sys.executable, "-m", "fairhep", "task", "run", *ctx.command_args(), "--kind",
            kind, str(index)]
    return subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def _task_records(ctx: TaskContext) -> list[ResultRecord]:
    return load_records(ctx.layout.records, TASK_RECORD_KIND, errors=[])


def test_done_is_decided_under_the_lock_by_a_second_process(ctx: TaskContext) -> None:
    task = ctx.tasks.get("data", 0)
    ctx.layout.locks.mkdir(parents=True)
    with open(ctx.layout.locks / f"{task.id}.lock", "w") as held:
        # This process runs the task (holds its lock) and has just recorded its result.
        fcntl.flock(held, fcntl.LOCK_EX | fcntl.LOCK_NB)
        write_record(ctx.layout.records, ResultRecord(
            kind=TASK_RECORD_KIND, task_id=task.id,
            config={"campaign": ctx.campaign.name, "kind": "data", "task": task.id},
            metrics={}, timings={}))
        out, err = _task_run(ctx, "data").communicate(timeout=120)
        assert "task data is already running elsewhere" in err and "nothing was run" in err
    out, err = _task_run(ctx, "data").communicate(timeout=120)
    assert "data: result exists, nothing to do" in out, err
    assert len(_task_records(ctx)) == 1
    assert not ctx.layout.data.exists()  # neither second process ran it


def test_two_task_runs_started_together_run_the_task_once(ctx: TaskContext) -> None:
    first, second = _task_run(ctx, "data"), _task_run(ctx, "data")
    outs = [p.communicate(timeout=180) for p in (first, second)]
    ran = [o for o, _ in outs if "data: done" in o]
    assert len(ran) == 1, outs
    other = next(o + e for o, e in outs if "data: done" not in o)
    assert "already running elsewhere" in other or "result exists, nothing to do" in other
    assert len(_task_records(ctx)) == 1


@pytest.mark.usefixtures("one_torch_thread")
def test_a_training_is_done_only_when_its_train_record_exists(ctx: TaskContext) -> None:
    run_task(ctx, ctx.tasks.get("data", 0))
    train = ctx.tasks.get("train", 0)
    assert run_task(ctx, train).status == "done"
    assert train.id in finished_tasks(ctx.layout)
    assert [r.task_id for r in load_records(ctx.layout.records, "train")] == [train.id]
    # Killed between the final checkpoint and the train record (or the write failed):
    for path in (ctx.layout.records / "records" / "train").glob("*.json"):
        path.unlink()
    assert train.id not in finished_tasks(ctx.layout)
    rows = {r.kind: r for r in campaign_status(ctx)}
    assert rows["train"].done == 0
    # The rerun trains nothing (the run directory is finished); the task is done again only
    # once its train record is back, written from the run directory.
    error = None
    try:
        outcome = run_task(ctx, train)
    except TaskError as exc:
        error = str(exc)
    if error is not None:
        assert f"task {train.id}: training finished in" in error
        assert "wrote no train record" in error
        assert train.id not in finished_tasks(ctx.layout)
    else:
        assert outcome.status == "done"
        assert [r.task_id for r in load_records(ctx.layout.records, "train")] == [train.id]
        assert train.id in finished_tasks(ctx.layout)


def test_submit_and_task_run_check_the_results_folder_first(
        tmp_path: Path, read_only_dir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    campaign = write_campaign(tmp_path / "one.toml", ONE, **ONLY_TRAINING)
    for argv in (["submit", "--site", "local", "--campaign", str(campaign)],
                 ["task", "run", str(campaign), "--kind", "data", "0"]):
        assert main([*argv, "--results", str(read_only_dir)]) == 1
        err = capsys.readouterr().err.strip()
        assert len(err.splitlines()) == 1, err
        assert f"{read_only_dir}/local/one: the campaign's results directory is not writable" \
            in err
        assert "choose another with --results" in err
    assert not any(read_only_dir.iterdir())
