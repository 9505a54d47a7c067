"""The local runner (scheduler ``local``): the same tasks as on Slurm, on this machine, kind
after kind.

With one worker the tasks run in this process; with more (site ``max_concurrent_tasks``)
each task runs as ``python -m fairhep task run ...`` in a small pool of subprocesses (an
argument list, no shell), its output in ``logs/<kind>_local_<index>.out``. A distributed
task (the scaling study's trainings) runs as its ranks, one process each, one task at a time.
A kind starts when the kinds it needs are through; a failed task is reported and its
dependants fail on their own missing inputs, exactly as under Slurm's ``afterany``. Each
task's last outcome is kept in ``jobs/local.json`` for ``fairhep status``.

SIGTERM (or Ctrl-C) stops the whole campaign: no further task starts, running subprocesses
get SIGTERM too and are waited for (a training checkpoints), and the result lists what was
left undone, so that ``submit --resume`` continues.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from types import FrameType
from typing import Any, ClassVar

from fairhep.errors import FairhepError
from fairhep.runners.base import JobState, SubmitOptions, SubmitResult
from fairhep.sites import Site
from fairhep.tasks import Task, TaskContext, finished_tasks, pending_tasks, run_task
from fairhep.tasks.scaling import job_shape

LOCAL_STATE = "local.json"
STOP_SIGNALS = (signal.SIGTERM, signal.SIGINT)
_STOPPED = ("interrupted", "not-started")  # what a stop signal leaves undone
RANK_GRACE_S = 30.0  # how long the other ranks of a failed one get to stop


@dataclass
class LocalResult:
    task: Task
    status: str  # done | already-done | interrupted | failed | not-started
    message: str = ""
    seconds: float = 0.0
    signal: int | None = None  # the stop signal that ended or prevented it


class _Interrupted(BaseException):
    """Raised in this process by the stop handler to end an in-process task (not training:
    training has its own SIGTERM handler, which checkpoints and returns)."""


@dataclass
class _Stop:
    """A stop signal received: nothing new starts; running children are sent SIGTERM."""

    signum: int | None = None
    inside_task: bool = False  # an in-process task is running (raise to end it)
    children: set[subprocess.Popen[bytes]] = field(default_factory=set)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def handler(self, signum: int, _frame: FrameType | None) -> None:
        first = self.signum is None
        self.signum = signum
        with self.lock:
            for child in self.children:
                child.send_signal(signal.SIGTERM)
        if self.inside_task and first:
            raise _Interrupted

    def start(self, argv: list[str], log: Any,
              env: dict[str, str] | None = None) -> subprocess.Popen[bytes] | None:
        with self.lock:
            if self.signum is not None:
                return None
            child = subprocess.Popen(argv, stdout=log, stderr=subprocess.STDOUT, env=env)
            self.children.add(child)
            return child

    def done(self, child: subprocess.Popen[bytes]) -> None:
        with self.lock:
            self.children.discard(child)


@contextlib.contextmanager
def _stop_on_signals(stop: _Stop) -> Iterator[None]:
    if threading.current_thread() is not threading.main_thread():
        yield  # signal handlers can only be set from the main thread
        return
    saved = {s: signal.signal(s, stop.handler) for s in STOP_SIGNALS}
    try:
        yield
    finally:
        for s, handler in saved.items():
            signal.signal(s, handler)


def _in_process(ctx: TaskContext, task: Task, stop: _Stop) -> LocalResult:
    started = time.perf_counter()
    stop.inside_task = True
    try:
        outcome = run_task(ctx, task)
    except FairhepError as exc:
        return LocalResult(task, "failed", str(exc), time.perf_counter() - started)
    except _Interrupted:
        return LocalResult(task, "interrupted", "stopped by a signal",
                           time.perf_counter() - started, stop.signum)
    except Exception as exc:
        return LocalResult(task, "failed", f"{type(exc).__name__}: {exc}",
                           time.perf_counter() - started)
    finally:
        stop.inside_task = False
    if outcome.status == "interrupted":  # training caught SIGTERM itself and checkpointed
        return LocalResult(task, "interrupted", "checkpoint kept",
                           time.perf_counter() - started, stop.signum or signal.SIGTERM)
    return LocalResult(task, outcome.status, "", time.perf_counter() - started)


def _task_argv(ctx: TaskContext, task: Task) -> list[str]:
    args = ctx.command_args()
    if "--results" not in args:
        args += ["--results", str(ctx.layout.root.parent.parent)]
    return [sys.executable, "-m", "fairhep", "task", "run", *args, "--kind", task.kind,
            str(task.index)]


def _subprocess(ctx: TaskContext, task: Task, stop: _Stop) -> LocalResult:
    ctx.layout.logs.mkdir(parents=True, exist_ok=True)
    log = ctx.layout.logs / f"{task.kind}_local_{task.index}.out"
    argv = _task_argv(ctx, task)
    started = time.perf_counter()
    with open(log, "a") as fh:
        child = stop.start(argv, fh)
        if child is None:
            return LocalResult(task, "not-started", signal=stop.signum)
        try:
            rc = child.wait()
        finally:
            stop.done(child)
    seconds = time.perf_counter() - started
    if rc == 0:
        return LocalResult(task, "done", "", seconds)
    if stop.signum is not None:
        return LocalResult(task, "interrupted", f"stopped by a signal (exit {rc}; log {log})",
                           seconds, stop.signum)
    tail = log.read_text(errors="replace").strip().splitlines()[-1:] or [""]
    return LocalResult(task, "failed", f"exit {rc}: {tail[0]} (log {log})", seconds)


def _distributed(ctx: TaskContext, task: Task, stop: _Stop) -> LocalResult:
    """A distributed task as its ranks: one process each, started as torchrun starts them
    (RANK, LOCAL_RANK, WORLD_SIZE, MASTER_ADDR/PORT), this machine's cores shared out; rank
    0 logs to the task's log, rank r to ``.rank<r>.out`` beside it. A rank that fails ends
    the others (SIGTERM), so that none waits for it until its timeout."""
    started = time.perf_counter()
    try:
        shape = job_shape(ctx, task)
    except FairhepError as exc:
        return LocalResult(task, "failed", str(exc))
    world = shape.world_size if shape else 1
    ctx.layout.logs.mkdir(parents=True, exist_ok=True)
    base = ctx.layout.logs / f"{task.kind}_local_{task.index}"
    logs = [base.with_suffix(".out" if r == 0 else f".rank{r}.out") for r in range(world)]
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    common = {**os.environ, "MASTER_ADDR": "127.0.0.1", "MASTER_PORT": str(_free_port()),
              "WORLD_SIZE": str(world), "LOCAL_WORLD_SIZE": str(world)}
    # torch would start one thread per core in every rank: share the cores out instead.
    common.setdefault("OMP_NUM_THREADS", str(max(1, (cores or 1) // world)))
    children: list[subprocess.Popen[bytes]] = []
    with contextlib.ExitStack() as files:
        for rank, log in enumerate(logs):
            env = {**common, "RANK": str(rank), "LOCAL_RANK": str(rank)}
            child = stop.start(_task_argv(ctx, task), files.enter_context(open(log, "a")), env)
            if child is None:
                break
            children.append(child)
        codes = _wait_all(children, stop)
    seconds = time.perf_counter() - started
    if len(children) < world:
        return LocalResult(task, "not-started" if not children else "interrupted",
                           signal=stop.signum, seconds=seconds)
    if all(rc == 0 for rc in codes):
        return LocalResult(task, "done", "", seconds)
    if stop.signum is not None:
        return LocalResult(task, "interrupted", f"stopped by a signal (exits {codes}; log "
                           f"{logs[0]})", seconds, stop.signum)
    rank = next(r for r, rc in enumerate(codes) if rc != 0)
    tail = logs[rank].read_text(errors="replace").strip().splitlines()[-1:] or [""]
    return LocalResult(task, "failed", f"rank {rank} exit {codes[rank]}: {tail[0]} (log "
                       f"{logs[rank]})", seconds)


def _wait_all(children: list[subprocess.Popen[bytes]], stop: _Stop) -> list[int]:
    """Every child's exit status; the first failure sends SIGTERM to those still running, and
    SIGKILL to those still running after RANK_GRACE_S (a rank blocked in a collective with
    the dead one would wait for its --dist-timeout)."""
    try:
        while True:
            codes = [c.poll() for c in children]  # every child's, each time round
            if None not in codes:
                break
            if any(rc not in (None, 0) for rc in codes):
                for c in children:
                    if c.poll() is None:
                        c.send_signal(signal.SIGTERM)
                break
            time.sleep(0.1)
        deadline = time.monotonic() + RANK_GRACE_S
        for c in children:
            try:
                c.wait(timeout=max(deadline - time.monotonic(), 0.1))
            except subprocess.TimeoutExpired:
                c.kill()
        return [c.wait() for c in children]
    finally:
        for c in children:
            stop.done(c)


def _free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def run_local(ctx: TaskContext, tasks: list[Task], workers: int = 1,
              progress: bool = True) -> list[LocalResult]:
    """Run ``tasks`` kind by kind; returns one result per task (failures included; after a
    stop signal, "interrupted" for those it stopped and "not-started" for the rest)."""
    from rich.progress import Progress

    results: list[LocalResult] = []
    stop = _Stop()
    with Progress(disable=not progress, transient=False) as bar, _stop_on_signals(stop):
        overall = bar.add_task(f"{ctx.campaign.name} on {ctx.site.name}", total=len(tasks))

        def through(r: LocalResult) -> None:
            # The bar counts tasks that ran through (done or failed); after a stop signal it
            # says so and stays where the campaign stopped, never a stale 100 %.
            results.append(r)
            if r.status in _STOPPED:
                bar.update(overall, description=f"{ctx.campaign.name}: stopped")
            else:
                bar.advance(overall)

        for kind in ctx.tasks.kinds():
            batch = [t for t in tasks if t.kind == kind]
            if not batch:
                continue
            if stop.signum is None:
                bar.update(overall, description=f"{ctx.campaign.name}: {kind} ({len(batch)})")
            if any(t.world_size is not None for t in batch):
                # One at a time: the ranks of one training share the machine, and timings
                # of trainings that overlap would measure each other.
                for t in batch:
                    through(LocalResult(t, "not-started", signal=stop.signum)
                            if stop.signum is not None else _distributed(ctx, t, stop))
            elif workers <= 1 or len(batch) == 1:
                for t in batch:
                    stopped = stop.signum is not None or any(
                        r.status == "interrupted" for r in results)
                    through(LocalResult(t, "not-started", signal=stop.signum) if stopped
                            else _in_process(ctx, t, stop))
            else:
                with ThreadPoolExecutor(max_workers=workers) as pool:
                    for r in pool.map(lambda t: _subprocess(ctx, t, stop), batch):
                        through(r)
    _save_state(ctx, [r for r in results if r.status != "not-started"])
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


def report_path(ctx: TaskContext) -> Path | None:
    """The campaign's report, once its aggregation task has written one."""
    for rec in finished_tasks(ctx.layout).values():
        if rec.config.get("kind") == "aggregate" and rec.metrics.get("report"):
            return Path(str(rec.metrics["report"]))
    return None


class LocalRunner:
    scheduler: ClassVar[str] = "local"

    def submit(self, ctx: TaskContext, opts: SubmitOptions) -> SubmitResult:
        # A finished task is skipped anyway, so --resume only changes what is listed.
        todo = pending_tasks(ctx) if opts.resume else ctx.tasks.all()
        if opts.dry_run:
            opts.echo(f"# site {ctx.site.name} runs tasks on this machine "
                      f"({max(ctx.site.max_concurrent_tasks, 1)} at a time); results in "
                      f"{ctx.layout.root}")
            args = " ".join(map(_quote, ctx.command_args()))
            for t in todo:
                opts.echo(f"fairhep task run {args} --kind {t.kind} {t.index}    # {t.id}")
            return SubmitResult(todo)
        if not todo:
            opts.echo(f"nothing to do: every task of {ctx.campaign.name} on {ctx.site.name} "
                      f"has a result ({ctx.layout.root})")
            return SubmitResult([], report=report_path(ctx))
        results = run_local(ctx, todo, workers=ctx.site.max_concurrent_tasks)
        failed = [f"{r.task.id}: {r.message}" for r in results if r.status == "failed"]
        stopped = [r for r in results if r.status in ("interrupted", "not-started")]
        signum = next((r.signal for r in stopped if r.signal), signal.SIGTERM)
        return SubmitResult(
            todo, failed=failed, report=report_path(ctx),
            undone=[f"{r.task.id} ({r.status}{': ' + r.message if r.message else ''})"
                    for r in stopped],
            stopped_by=signal.Signals(signum).name if stopped else None)

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
        return []  # local tasks run in the foreground of `fairhep submit`: SIGTERM stops them

    def site_warnings(self, site: Site) -> list[str]:  # noqa: ARG002
        return []  # no settings of its own


def _quote(word: str) -> str:
    import shlex

    return shlex.quote(word)
