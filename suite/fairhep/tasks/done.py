"""What is done: a task that finished wrote a ``campaign.task`` result record naming it."""

from __future__ import annotations

from fairhep.results import ResultRecord, kinds, load_records
from fairhep.tasks.context import Layout, TaskContext
from fairhep.tasks.tasklist import Task

TASK_RECORD_KIND = kinds.CAMPAIGN_TASK


def finished_tasks(layout: Layout) -> dict[str, ResultRecord]:
    """Task id -> its valid ``campaign.task`` record. Unreadable records count as not done."""
    done: dict[str, ResultRecord] = {}
    errors: list[str] = []
    for rec in load_records(layout.records, TASK_RECORD_KIND, errors=errors):
        if rec.status != "ok" or not rec.task_id:
            continue
        # An aggregation made while tasks were missing is rebuilt once they are done.
        if rec.config.get("kind") == "aggregate" and not rec.metrics.get("complete"):
            continue
        done[rec.task_id] = rec
    return done


def pending_tasks(ctx: TaskContext) -> list[Task]:
    done = finished_tasks(ctx.layout)
    return [t for t in ctx.tasks.all() if t.id not in done]
