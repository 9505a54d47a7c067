"""What every runner provides (:class:`Runner`) and the data it hands back."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import ClassVar, Literal, Protocol

from fairhep.sites import Site
from fairhep.tasks import Task, TaskContext

# Where a task's latest attempt stands: queued, running, or over (without a result, when a
# runner reports it: failed, cancelled, timed out, forgotten).
Phase = Literal["pending", "running", "ended"]


@dataclass(frozen=True)
class SubmitOptions:
    dry_run: bool = False  # print what would run; run or submit nothing
    resume: bool = False  # only tasks without a result (and not already queued)
    array_size: int | None = None  # Slurm: split arrays at this size (None: the cluster's)
    echo: Callable[[str], None] = print


@dataclass
class SubmitResult:
    tasks: list[Task]
    job_ids: dict[str, list[str]] = field(default_factory=dict)  # kind -> array job ids
    failed: list[str] = field(default_factory=list)  # local runner: "task-id: message"
    # Local runner, stopped by a signal: the signal's name and what it left undone.
    stopped_by: str | None = None
    undone: list[str] = field(default_factory=list)
    report: Path | None = None  # local runner: the campaign's report, once written


@dataclass(frozen=True)
class JobState:
    """The latest attempt of a task without a result, as its runner knows it."""

    where: str  # job element (JOBID_INDEX) or "local"
    state: str  # as the scheduler spells it (RUNNING, CANCELLED, FAILED, ...)
    phase: Phase
    log: Path | None
    message: str = ""


class Runner(Protocol):
    """How a campaign's tasks run under one scheduler; every task ends in ``run_task``."""

    scheduler: ClassVar[str]

    def submit(self, ctx: TaskContext, opts: SubmitOptions) -> SubmitResult:
        """Run (local) or submit (batch) the campaign's tasks, or print what would be."""

    def job_states(self, ctx: TaskContext) -> dict[tuple[str, int], JobState]:
        """(kind, index) -> the latest attempt of each task that has no result and one."""

    def cancel(self, ctx: TaskContext) -> list[str]:
        """Stop what is still queued or running of the campaign; what was stopped."""

    def site_warnings(self, site: Site) -> list[str]:
        """What ``fairhep sites check`` says about this scheduler's settings of a site."""
