"""Runners: how a campaign's tasks get run on a site (Slurm job arrays, or this machine).

One :class:`~fairhep.runners.base.Runner` per scheduler, in :data:`RUNNERS`, keyed by a
site's ``scheduler``: :mod:`.local` and :mod:`.slurm` own everything about theirs. The
functions here (:func:`submit`, :func:`campaign_status`, :func:`cancel`, :func:`check_site`)
ask the site's runner and never branch on the scheduler themselves; every runner ends up in
:func:`fairhep.tasks.run_task` for every task.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from fairhep.errors import ConfigError
from fairhep.runners.base import JobState, Runner, SubmitOptions, SubmitResult
from fairhep.runners.local import LocalRunner
from fairhep.runners.slurm import SlurmRunner
from fairhep.sites import PLACEHOLDER, Site, image_warnings, placeholder_warnings, submit_refusal
from fairhep.tasks import TaskContext, finished_tasks
from fairhep.writable import ensure_writable

__all__ = [
    "RUNNERS", "FailedTask", "JobState", "KindStatus", "Runner", "SubmitOptions",
    "SubmitResult", "campaign_status", "cancel", "check_site", "runner_for", "submit",
]

# fairhep.sites.SCHEDULERS (what a site file may name) lists the same keys, in this order.
RUNNERS: dict[str, Runner] = {r.scheduler: r for r in (SlurmRunner(), LocalRunner())}


def runner_for(site: Site) -> Runner:
    try:
        return RUNNERS[site.scheduler]
    except KeyError:
        raise ConfigError(f"{site.source}: scheduler {site.scheduler!r} has no runner; known: "
                          f"{', '.join(RUNNERS)}") from None


def submit(
    ctx: TaskContext,
    *,
    dry_run: bool = False,
    resume: bool = False,
    array_size: int | None = None,
    echo: Callable[[str], None] = print,
) -> SubmitResult:
    refusal = None if dry_run else submit_refusal(ctx.site)
    if refusal:  # every runner's; `fairhep sites check` fails with the same line
        raise ConfigError(refusal)
    if ctx.campaign.data.source == "site":
        ctx.data_dirs()  # an empty paths.data fails here, not in every task
    if not dry_run and PLACEHOLDER not in str(ctx.layout.root):  # --dry-run renders them
        # Every task writes here (records, runs, logs, job files): fail now, in one line.
        ensure_writable(ctx.layout.root, "the campaign's results directory",
                        f"choose another with --results or fix paths.results in "
                        f"{ctx.site.source}")
    opts = SubmitOptions(dry_run=dry_run, resume=resume, array_size=array_size, echo=echo)
    return runner_for(ctx.site).submit(ctx, opts)


def cancel(ctx: TaskContext) -> list[str]:
    """Stop what is still queued or running of a campaign on its site; what was stopped."""
    return runner_for(ctx.site).cancel(ctx)


def check_site(site: Site) -> list[str]:
    """Warnings a user should act on before submitting: placeholders, the scheduler's and the
    container runtime's own."""
    return [*placeholder_warnings(site), *runner_for(site).site_warnings(site),
            *image_warnings(site)]


# ---- status --------------------------------------------------------------------------------

@dataclass
class FailedTask:
    task_id: str
    where: str  # job element or "local"
    state: str
    log: Path | None
    tail: list[str]


@dataclass
class KindStatus:
    kind: str
    total: int
    done: int = 0
    pending: int = 0
    running: int = 0
    failed: int = 0
    not_submitted: int = 0
    failures: list[FailedTask] = field(default_factory=list)


def _tail(path: Path | None, lines: int) -> list[str]:
    if path is None or not path.is_file():
        return []
    text = path.read_text(errors="replace").rstrip("\n").splitlines()
    return text[-lines:]


def campaign_status(ctx: TaskContext, tail_lines: int = 10) -> list[KindStatus]:
    done = finished_tasks(ctx.layout)
    rows = {k: KindStatus(k, len(ctx.tasks.by_kind[k])) for k in ctx.tasks.kinds()}
    states = runner_for(ctx.site).job_states(ctx)
    for t in ctx.tasks.all():
        row = rows[t.kind]
        if t.id in done:
            row.done += 1
            continue
        job = states.get((t.kind, t.index))
        if job is None:
            row.not_submitted += 1
        elif job.phase == "running":
            row.running += 1
        elif job.phase == "pending":
            row.pending += 1
        else:
            row.failed += 1
            tail = _tail(job.log, tail_lines) or ([job.message] if job.message else [])
            log = job.log if tail and job.log and job.log.is_file() else None
            row.failures.append(FailedTask(t.id, job.where, job.state, log, tail))
    return list(rows.values())
