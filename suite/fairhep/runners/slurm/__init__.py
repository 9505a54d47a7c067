"""The Slurm runner: one job array per task kind, chained with dependencies, then aggregation.

:mod:`.script` turns a site and a campaign into one sbatch script per task kind; :mod:`.plan`
(``plan_chunks``) splits what to submit (all tasks, or with ``resume`` only those without a
result and not already queued) into arrays no longer than the cluster's ``MaxArraySize``;
:mod:`.jobs` runs ``sbatch --parsable`` for each chunk, kind after kind, with
``--dependency=afterany:`` on the kinds it needs, records the job ids in
``jobs/submissions.json``, and reads the elements' states back for ``fairhep status``.

Only :mod:`fairhep.runners` imports this package (an import-linter contract): nothing else
knows Slurm.
"""

from __future__ import annotations

import shutil
from typing import ClassVar

from fairhep.runners.base import JobState, Phase, SubmitOptions, SubmitResult
from fairhep.runners.slurm import jobs
from fairhep.runners.slurm.command import SlurmError, run_slurm
from fairhep.runners.slurm.jobs import SUBMISSIONS
from fairhep.runners.slurm.plan import max_array_size, plan_chunks, submission_listing
from fairhep.runners.slurm.script import render_scripts, script_path
from fairhep.sites import Site
from fairhep.tasks import TaskContext, pending_tasks

RUNNING_STATES = {"RUNNING", "COMPLETING", "CONFIGURING", "STAGE_OUT", "SIGNALING"}
PENDING_STATES = {"PENDING", "REQUEUED", "REQUEUE_HOLD", "REQUEUE_FED", "RESIZING", "SUSPENDED",
                  "SPECIAL_EXIT"}


def phase(state: str) -> Phase:
    if state in RUNNING_STATES:
        return "running"
    if state in PENDING_STATES:
        return "pending"
    # Ended (or forgotten by Slurm) without a result: failed, cancelled, timed out.
    return "ended"


class SlurmRunner:
    scheduler: ClassVar[str] = "slurm"

    def submit(self, ctx: TaskContext, opts: SubmitOptions) -> SubmitResult:
        scripts = render_scripts(ctx)
        error = None if opts.dry_run else jobs.placeholder_error(ctx)
        if error:
            raise error
        if opts.resume:
            busy = jobs.queued_indices(ctx)
            todo = [t for t in pending_tasks(ctx) if t.index not in busy.get(t.kind, set())]
            # The report is rebuilt whenever something else runs again.
            aggregate = list(ctx.tasks.by_kind.get("aggregate", ()))
            if todo and aggregate and not any(t.kind == "aggregate" for t in todo):
                todo += aggregate
        else:
            todo = ctx.tasks.all()
            if not opts.dry_run:
                busy = jobs.queued_indices(ctx)
                if busy:
                    n = sum(len(v) for v in busy.values())
                    raise SlurmError(
                        f"{n} task(s) of {ctx.campaign.name} on {ctx.site.name} are still queued "
                        "or running: wait for them, scancel them, or add --resume to submit the "
                        "rest")
        by_kind: dict[str, list[int]] = {}
        for t in todo:
            by_kind.setdefault(t.kind, []).append(t.index)
        size = opts.array_size or max_array_size()
        chunks = plan_chunks(ctx, by_kind, size)
        echo = opts.echo
        if opts.dry_run:
            for name in dict.fromkeys(c.script_name for c in chunks):
                echo(f"# ---- {script_path(ctx, name)} ----")
                echo(scripts[name].rstrip("\n"))
                echo("")
            echo(f"# ---- submission (MaxArraySize {size}; job ids are kept in "
                 f"{ctx.layout.jobs / SUBMISSIONS}) ----")
            echo(submission_listing(ctx, chunks).rstrip("\n") if chunks
                 else "# nothing to submit: every task has a result")
            return SubmitResult(todo)
        if not chunks:
            echo("nothing to submit: every task has a result (or is queued)")
            return SubmitResult([])
        jobs.write_job_files(ctx, {c.script_name: scripts[c.script_name] for c in chunks})
        submitted = jobs.submit(ctx, chunks, opts.resume)
        job_ids: dict[str, list[str]] = {}
        for c in submitted:
            job_ids.setdefault(c.kind, []).append(str(c.job_id))
            after = f" after {', '.join(c.depends_on)}" if c.depends_on else ""
            echo(f"submitted {c.kind}: job {c.job_id} "
                 f"array {c.array_spec(ctx.site.max_concurrent_tasks)}{after}")
        return SubmitResult(todo, job_ids)

    def job_states(self, ctx: TaskContext) -> dict[tuple[str, int], JobState]:
        return {(e.kind, e.index): JobState(e.job, e.state, phase(e.state), e.log)
                for e in jobs.job_states(ctx)}

    def cancel(self, ctx: TaskContext) -> list[str]:
        """``scancel`` every element whose task has no result and is still queued or running."""
        elements = [e.job for e in jobs.job_states(ctx) if jobs.is_queued(e.state)]
        if not elements:
            return []
        if shutil.which("scancel") is None:
            raise SlurmError("scancel not found on PATH: cancel from a Slurm login node")
        # Cancelling twice is harmless: retried like a query.
        run_slurm(["scancel", *elements], "query")
        return elements

    def site_warnings(self, site: Site) -> list[str]:
        warnings = []
        if shutil.which("sbatch") is None:
            warnings.append("sbatch is not on PATH here (fine if you only render scripts "
                            "with --dry-run on this machine)")
        if not site.time_limit("train"):
            warnings.append("no time limit for train (time_limits.train or .default): the "
                            "partition's default applies")
        if site.gpus_per_node and not site.slurm.gpus_per_task:
            warnings.append("gpus_per_node is set but slurm.gpus_per_task is 0: tasks will "
                            "not get a GPU")
        return warnings
