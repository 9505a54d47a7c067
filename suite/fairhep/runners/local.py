"""The local runner (scheduler ``local``): the same tasks as on Slurm, on this machine, kind
after kind.

With one worker the tasks run in this process; with more (site ``max_concurrent_tasks``)
each task runs as ``python -m fairhep task run ...`` in a small pool of subprocesses (an
argument list, no shell), its output in ``logs/<kind>_local_<index>.out``. A kind starts
when the kinds it needs are through; a failed task is reported and its dependants fail on
their own missing inputs, exactly as under Slurm's ``afterany``. Each task's last outcome is
kept in ``jobs/local.json`` for ``fairhep status``.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

from fairhep.errors import FairhepError
from fairhep.runners.base import JobState, SubmitOptions, SubmitResult
from fairhep.sites import Site
from fairhep.tasks import Task, TaskContext, pending_tasks, run_task

LOCAL_STATE = "local.json"


@dataclass
class LocalResult:
    task: Task
    status: str  # done | already-done | interrupted | failed
    message: str = ""
    seconds: float = 0.0


def _in_process(ctx: TaskContext, task: Task) -> LocalResult:
    started = time.perf_counter()
    try:
        outcome = run_task(ctx, task)
    except FairhepError as exc:
        return LocalResult(task, "failed", str(exc), time.perf_counter() - started)
    except Exception as exc:
        return LocalResult(task, "failed", f"{type(exc).__name__}: {exc}",
                           time.perf_counter() - started)
    return LocalResult(task, outcome.status, "", time.perf_counter() - started)


def _subprocess(ctx: TaskContext, task: Task, site_file: Path, campaign_file: Path) -> LocalResult:
    ctx.layout.logs.mkdir(parents=True, exist_ok=True)
    log = ctx.layout.logs / f"{task.kind}_local_{task.index}.out"
    argv = [sys.executable, "-m", "fairhep", "task", "run", "--site", str(site_file),
            "--campaign", str(campaign_file), "--results", str(ctx.layout.root.parent.parent),
            "--kind", task.kind, str(task.index)]
    started = time.perf_counter()
    with open(log, "a") as fh:
        rc = subprocess.run(argv, stdout=fh, stderr=subprocess.STDOUT, check=False).returncode
    seconds = time.perf_counter() - started
    if rc == 0:
        return LocalResult(task, "done", "", seconds)
    tail = log.read_text(errors="replace").strip().splitlines()[-1:] or [""]
    return LocalResult(task, "failed", f"exit {rc}: {tail[0]} (log {log})", seconds)


def run_local(ctx: TaskContext, tasks: list[Task], workers: int = 1,
              progress: bool = True) -> list[LocalResult]:
    """Run ``tasks`` kind by kind; returns one result per task (failures included)."""
    from rich.progress import Progress

    results: list[LocalResult] = []
    site_file, campaign_file = ctx.site.source, ctx.campaign.source
    assert site_file is not None and campaign_file is not None
    with Progress(disable=not progress, transient=False) as bar:
        overall = bar.add_task(f"{ctx.campaign.name} on {ctx.site.name}", total=len(tasks))
        for kind in ctx.tasks.kinds():
            batch = [t for t in tasks if t.kind == kind]
            if not batch:
                continue
            bar.update(overall, description=f"{ctx.campaign.name}: {kind} ({len(batch)})")
            if workers <= 1 or len(batch) == 1:
                for t in batch:
                    results.append(_in_process(ctx, t))
                    bar.advance(overall)
            else:
                with ThreadPoolExecutor(max_workers=workers) as pool:
                    for r in pool.map(lambda t: _subprocess(ctx, t, site_file, campaign_file),
                                      batch):
                        results.append(r)
                        bar.advance(overall)
    _save_state(ctx, results)
    return results


def _save_state(ctx: TaskContext, results: list[LocalResult]) -> None:
    """Outcome of each task's last local attempt, for `fairhep status`."""
    path = ctx.layout.jobs / LOCAL_STATE
    path.parent.mkdir(parents=True, exist_ok=True)
    state = load_state(ctx)
    for r in results:
        state[f"{r.task.kind}/{r.task.index}"] = {
            "task": r.task.id, "status": r.status, "message": r.message, "seconds": r.seconds,
        }
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_text(json.dumps(state, indent=2) + "\n")
    tmp.replace(path)


def load_state(ctx: TaskContext) -> dict[str, dict[str, Any]]:
    path = ctx.layout.jobs / LOCAL_STATE
    try:
        data = json.loads(path.read_text())
    except (OSError, json.JSONDecodeError):
        return {}
    return data if isinstance(data, dict) else {}


class LocalRunner:
    scheduler: ClassVar[str] = "local"

    def submit(self, ctx: TaskContext, opts: SubmitOptions) -> SubmitResult:
        # A finished task is skipped anyway, so --resume only changes what is listed.
        todo = pending_tasks(ctx) if opts.resume else ctx.tasks.all()
        if opts.dry_run:
            opts.echo(f"# site {ctx.site.name} runs tasks on this machine "
                      f"({max(ctx.site.max_concurrent_tasks, 1)} at a time); results in "
                      f"{ctx.layout.root}")
            for t in todo:
                opts.echo(f"fairhep task run --site {ctx.site.name} --campaign "
                          f"{ctx.campaign.name} --kind {t.kind} {t.index}    # {t.id}")
            return SubmitResult(todo)
        results = run_local(ctx, todo, workers=ctx.site.max_concurrent_tasks)
        failed = [f"{r.task.id}: {r.message}" for r in results
                  if r.status in ("failed", "interrupted")]
        return SubmitResult(todo, failed=failed)

    def job_states(self, ctx: TaskContext) -> dict[tuple[str, int], JobState]:
        states = {}
        for key, entry in load_state(ctx).items():
            kind, _, index = key.partition("/")
            if entry.get("status") in ("failed", "interrupted"):
                log = ctx.layout.logs / f"{kind}_local_{index}.out"
                states[(kind, int(index))] = JobState("local", entry["status"].upper(), "ended",
                                                      log, entry.get("message", ""))
        return states

    # The Runner protocol's signatures; the local runner needs neither argument.
    def cancel(self, ctx: TaskContext) -> list[str]:  # noqa: ARG002
        return []  # local tasks run in the foreground of `fairhep submit`: Ctrl-C stops them

    def site_warnings(self, site: Site) -> list[str]:  # noqa: ARG002
        return []  # no settings of its own
