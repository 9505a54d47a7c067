"""What is done: a task that finished wrote a ``campaign.task`` record naming it; a training
also needs its own ``train`` record (a run killed between its last checkpoint and that record
is not done: rerunning it writes the record from the run directory)."""

from __future__ import annotations

from pathlib import Path

from fairhep.results import ResultRecord, kinds, load_records
from fairhep.tasks.context import Layout, TaskContext
from fairhep.tasks.tasklist import Task

TASK_RECORD_KIND = kinds.CAMPAIGN_TASK
TRAIN_RECORD_KIND = kinds.TRAIN


def recorded_trainings(layout: Layout) -> dict[str, ResultRecord]:
    """Train task id -> its valid ``train`` record."""
    return {r.task_id: r for r in load_records(layout.records, TRAIN_RECORD_KIND, errors=[])
            if r.status == "ok" and r.task_id}


def finished_tasks(layout: Layout) -> dict[str, ResultRecord]:
    """Task id -> its valid ``campaign.task`` record. Unreadable records count as not done."""
    done: dict[str, ResultRecord] = {}
    errors: list[str] = []
    trained: dict[str, ResultRecord] | None = None
    for rec in load_records(layout.records, TASK_RECORD_KIND, errors=errors):
        if rec.status != "ok" or not rec.task_id:
            continue
        kind = rec.config.get("kind")
        # An aggregation made while tasks were missing is rebuilt once they are done.
        if kind == "aggregate" and not rec.metrics.get("complete"):
            continue
        if kind == "train":
            trained = recorded_trainings(layout) if trained is None else trained
            if rec.task_id not in trained:
                continue
        done[rec.task_id] = rec
    return done


def pending_tasks(ctx: TaskContext) -> list[Task]:
    done = finished_tasks(ctx.layout)
    return [t for t in ctx.tasks.all() if t.id not in done]


def written_by(ctx: TaskContext, task: Task, *record_kinds: str) -> dict[str, Path]:
    """The records of these kinds that ``task`` already wrote (an attempt killed after a
    study but before its task record): reused, not written twice."""
    from fairhep.results import RecordError, iter_record_files, read_record

    out: dict[str, Path] = {}
    for kind in record_kinds:
        for path in iter_record_files(ctx.layout.records, kind):
            try:
                if read_record(path).task_id == task.id:
                    out[kind] = path
            except RecordError:  # listed by the report; not this task's
                continue
    return out
