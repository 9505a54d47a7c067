"""Running one task: what every runner (the local one, a Slurm array element) ends up in.

:func:`run_task` runs a task unless its result exists and then writes its ``campaign.task``
record: that record is what makes the task "done", so running it again is a no-op and
``submit --resume`` leaves it out. Training resumes from its checkpoint, so a task killed by a
time limit or ``scancel`` continues where it stopped when it is run again.

One process per task: the lock (``locks/<task>.lock``) is taken first and "already done" is
decided under it, so two ``task run`` of one task never both run it. A distributed task (the
scaling study's trainings) runs as several processes, its ranks: rank 0 takes the lock and
writes the record; the other ranks run beside it, and see the same records, so every rank
decides "already done" alike.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from fairhep.results import ResultRecord, ensure_record_dirs, write_record
from fairhep.tasks.context import Layout, TaskContext, TaskError
from fairhep.tasks.done import TASK_RECORD_KIND, finished_tasks
from fairhep.tasks.handlers import HANDLERS
from fairhep.tasks.tasklist import Task

# Exit status of a task stopped by SIGTERM after checkpointing (128 + SIGTERM, as a shell
# reports it): non-zero, so that Slurm marks the element failed and --resume picks it up.
EXIT_INTERRUPTED = 143


@dataclass
class TaskOutcome:
    task: Task
    status: str  # "done" | "already-done" | "interrupted"
    record: Path | None = None
    outputs: dict[str, Any] = field(default_factory=dict)


@contextlib.contextmanager
def _task_lock(layout: Layout, task: Task) -> Iterator[None]:
    """One process per task at a time: a resubmission must not train the same run twice."""
    layout.locks.mkdir(parents=True, exist_ok=True)
    with open(layout.locks / f"{task.id}.lock", "w") as fh:
        try:
            fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise TaskError(f"task {task.id} is already running elsewhere (lock "
                            f"{layout.locks / (task.id + '.lock')}); nothing was run") from None
        yield


@contextlib.contextmanager
def _task_environment(ctx: TaskContext, task: Task) -> Iterator[None]:
    """FAIRHEP_TASK_ID/FAIRHEP_SITE make every record the task writes name its task and site."""
    saved = {k: os.environ.get(k) for k in ("FAIRHEP_TASK_ID", "FAIRHEP_SITE")}
    os.environ["FAIRHEP_TASK_ID"] = task.id
    os.environ["FAIRHEP_SITE"] = ctx.site.name
    try:
        yield
    finally:
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


def _helper_rank(task: Task) -> bool:
    """Whether this process is a rank other than 0 of a distributed task."""
    if task.world_size is None:
        return False
    from fairhep.train.distributed import launch_from_environment

    return launch_from_environment().rank != 0


def run_task(ctx: TaskContext, task: Task, force: bool = False) -> TaskOutcome:
    """Run one task unless its result exists; write its ``campaign.task`` record when done."""
    if _helper_rank(task):
        if not force and task.id in finished_tasks(ctx.layout):
            return TaskOutcome(task, "already-done")
        with _task_environment(ctx, task):
            outputs = HANDLERS[task.kind](ctx, task)
        status = "interrupted" if outputs.pop("interrupted", False) else "done"
        return TaskOutcome(task, status, outputs=outputs)
    ensure_record_dirs(ctx.layout.records, TASK_RECORD_KIND,
                       what="the campaign's results directory",
                       fix=f"choose another with --results or fix paths.results in "
                       f"{ctx.site.source}")
    started = time.perf_counter()
    with _task_lock(ctx.layout, task):
        # Under the lock: a task that finished while this one waited to start is not rerun.
        if not force and task.id in finished_tasks(ctx.layout):
            return TaskOutcome(task, "already-done")
        with _task_environment(ctx, task):
            outputs = HANDLERS[task.kind](ctx, task)
            if outputs.pop("interrupted", False):
                return TaskOutcome(task, "interrupted", outputs=outputs)
            record = ResultRecord(
                kind=TASK_RECORD_KIND,
                task_id=task.id,
                config={
                    "campaign": ctx.campaign.name, "site": ctx.site.name, "task": task.id,
                    "kind": task.kind, "index": task.index, "params": task.params,
                },
                metrics={k: _jsonable(v) for k, v in outputs.items()},
                timings={"total_s": time.perf_counter() - started},
            )
            path = write_record(ctx.layout.records, record)
    return TaskOutcome(task, "done", path, outputs)


def _jsonable(value: Any) -> Any:
    if isinstance(value, Path):
        return str(value)
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    return value
