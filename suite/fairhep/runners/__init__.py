"""Runners: how a campaign's tasks get run on a site (Slurm job arrays, or this machine).

:func:`submit` and :func:`campaign_status` pick the runner from the site's scheduler; both
runners end up in :func:`fairhep.tasks.run_task` for every task.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from fairhep.campaign import Task
from fairhep.tasks import TaskContext, finished_tasks, pending_tasks

RUNNING_STATES = {"RUNNING", "COMPLETING", "CONFIGURING", "STAGE_OUT", "SIGNALING"}
PENDING_STATES = {"PENDING", "REQUEUED", "REQUEUE_HOLD", "REQUEUE_FED", "RESIZING", "SUSPENDED",
                  "SPECIAL_EXIT"}


@dataclass
class SubmitResult:
    tasks: list[Task]
    job_ids: dict[str, list[str]] = field(default_factory=dict)  # kind -> array job ids
    failed: list[str] = field(default_factory=list)  # local runner: "task-id: message"


def submit(
    ctx: TaskContext,
    *,
    dry_run: bool = False,
    resume: bool = False,
    array_size: int | None = None,
    echo: Callable[[str], None] = print,
) -> SubmitResult:
    if ctx.campaign.data.source == "site":
        ctx.data_dirs()  # an empty paths.data fails here, not in every task
    if ctx.site.scheduler == "local":
        return _submit_local(ctx, dry_run, resume, echo)
    return _submit_slurm(ctx, dry_run, resume, array_size, echo)


def _submit_local(ctx: TaskContext, dry_run: bool, resume: bool,
                  echo: Callable[[str], None]) -> SubmitResult:
    from fairhep.runners.local import run_local

    # Locally a finished task is skipped anyway, so --resume only changes what is listed.
    todo = pending_tasks(ctx) if resume else ctx.tasks.all()
    if dry_run:
        echo(f"# site {ctx.site.name} runs tasks on this machine "
             f"({max(ctx.site.max_concurrent_tasks, 1)} at a time); results in {ctx.layout.root}")
        for t in todo:
            echo(f"fairhep task run --site {ctx.site.name} --campaign {ctx.campaign.name} "
                 f"--kind {t.kind} {t.index}    # {t.id}")
        return SubmitResult(todo)
    results = run_local(ctx, todo, workers=ctx.site.max_concurrent_tasks)
    failed = [f"{r.task.id}: {r.message}" for r in results if r.status in ("failed", "interrupted")]
    return SubmitResult(todo, failed=failed)


def _submit_slurm(ctx: TaskContext, dry_run: bool, resume: bool, array_size: int | None,
                  echo: Callable[[str], None]) -> SubmitResult:
    from fairhep.runners import slurm

    scripts = slurm.render_scripts(ctx)
    error = None if dry_run else slurm.placeholder_error(ctx)
    if error:
        raise error
    if resume:
        busy = slurm.queued_indices(ctx)
        todo = [t for t in pending_tasks(ctx) if t.index not in busy.get(t.kind, set())]
        # The report is rebuilt whenever something else runs again.
        aggregate = list(ctx.tasks.by_kind.get("aggregate", ()))
        if todo and aggregate and not any(t.kind == "aggregate" for t in todo):
            todo += aggregate
    else:
        todo = ctx.tasks.all()
        if not dry_run:
            busy = slurm.queued_indices(ctx)
            if busy:
                n = sum(len(v) for v in busy.values())
                raise slurm.SlurmError(
                    f"{n} task(s) of {ctx.campaign.name} on {ctx.site.name} are still queued or "
                    "running: wait for them, scancel them, or add --resume to submit the rest")
    by_kind: dict[str, list[int]] = {}
    for t in todo:
        by_kind.setdefault(t.kind, []).append(t.index)
    size = array_size or slurm.max_array_size()
    chunks = slurm.plan(ctx, by_kind, size)
    if dry_run:
        for kind in ctx.tasks.kinds():
            if kind in by_kind:
                echo(f"# ---- {slurm.script_path(ctx, kind)} ----")
                echo(scripts[kind].rstrip("\n"))
                echo("")
        echo(f"# ---- submission (MaxArraySize {size}; job ids are kept in "
             f"{ctx.layout.jobs / slurm.SUBMISSIONS}) ----")
        echo(slurm.submission_listing(ctx, chunks).rstrip("\n") if chunks
             else "# nothing to submit: every task has a result")
        return SubmitResult(todo)
    if not chunks:
        echo("nothing to submit: every task has a result (or is queued)")
        return SubmitResult([])
    slurm.write_job_files(ctx, {k: scripts[k] for k in by_kind})
    submitted = slurm.submit(ctx, chunks, resume)
    job_ids: dict[str, list[str]] = {}
    for c in submitted:
        job_ids.setdefault(c.kind, []).append(str(c.job_id))
        after = f" after {', '.join(c.depends_on)}" if c.depends_on else ""
        echo(f"submitted {c.kind}: job {c.job_id} "
             f"array {c.array_spec(ctx.site.max_concurrent_tasks)}{after}")
    return SubmitResult(todo, job_ids)


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
    # (kind, index) -> (job element or "local", state, log, message)
    states: dict[tuple[str, int], tuple[str, str, Path | None, str]] = {}
    if ctx.site.scheduler == "slurm":
        from fairhep.runners import slurm

        for e in slurm.job_states(ctx):
            states[(e.kind, e.index)] = (e.job, e.state, e.log, "")
    else:
        from fairhep.runners.local import load_state

        for key, entry in load_state(ctx).items():
            kind, _, index = key.partition("/")
            if entry.get("status") in ("failed", "interrupted"):
                log = ctx.layout.logs / f"{kind}_local_{index}.out"
                states[(kind, int(index))] = ("local", entry["status"].upper(), log,
                                              entry.get("message", ""))
    for t in ctx.tasks.all():
        row = rows[t.kind]
        if t.id in done:
            row.done += 1
            continue
        found = states.get((t.kind, t.index))
        if found is None:
            row.not_submitted += 1
            continue
        where, state, log, message = found
        if state in RUNNING_STATES:
            row.running += 1
        elif state in PENDING_STATES:
            row.pending += 1
        else:
            # Ended (or forgotten by Slurm) without a result: failed, cancelled, timed out.
            row.failed += 1
            tail = _tail(log, tail_lines) or ([message] if message else [])
            row.failures.append(FailedTask(t.id, where, state, log if tail and log and log.is_file()
                                           else None, tail))
    return list(rows.values())
