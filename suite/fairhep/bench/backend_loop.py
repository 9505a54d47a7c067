"""The one loop of the portability modes: run each selected backend on the same workload.

:func:`plan_backends` decides, before anything runs, which backends cannot run here and why
(not available, left out by ``--device`` or by the mode, no ONNX export for one that needs
it); :func:`run_backends` then prepares, measures and closes each runnable backend in turn.
Every backend that produces no numbers gets a record saying so: ``skipped`` with the reason
when it cannot run here, ``failed`` with the error when it broke. A broken backend never
loses the others' results: the loop goes on, and each outcome is handed to the mode as soon
as it is known (``on_outcome``), so a mode can write its record before the next one starts.

A backend whose record the session already holds (a rerun after a kill:
:mod:`fairhep.bench.session`) is not run again: it comes back as :class:`Resumed`, so skips
and measurements are never written twice. A backend that breaks part-way may hand back what
it measured so far (:class:`PartialResult`): it is recorded as failed, with those numbers.
When no backend ran and at least one failed, :func:`require_one_ran` raises: the command
exits non-zero with every record written.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Generic, TypeVar

from fairhep.backends import Backend
from fairhep.bench.options import BenchOptions
from fairhep.bench.workload import Workload
from fairhep.errors import BackendUnavailable, FairhepError
from fairhep.results import ResultRecord

T = TypeVar("T")

OK, SKIPPED, FAILED = "ok", "skipped", "failed"


@dataclass(frozen=True)
class Planned:
    """A backend, and why it will not run (None: it will)."""

    backend: Backend
    reason: str | None = None
    status: str = OK  # SKIPPED or FAILED when there is a reason

    @property
    def runnable(self) -> bool:
        return self.reason is None


@dataclass(frozen=True)
class Ran(Generic[T]):
    """A backend that ran: what the mode measured, and how long preparing and all took.
    ``status`` FAILED with ``error``: it broke part-way, ``result`` is what it measured."""

    backend: Backend
    config: dict[str, Any]
    result: T
    prepare_s: float
    total_s: float  # prepare, measure and close
    status: str = OK
    error: str | None = None


class PartialResult(Exception):
    """Raised by a mode's ``measure`` that broke part-way: ``result`` is what it measured."""

    def __init__(self, result: Any, error: str) -> None:
        super().__init__(error)
        self.result = result


@dataclass(frozen=True)
class Resumed:
    """A backend the session had already run (or skipped): its record, not run again."""

    backend: Backend
    record: ResultRecord
    path: Path

    @property
    def status(self) -> str:
        return self.record.status

    @property
    def reason(self) -> str:
        return "; ".join(s["reason"] for s in self.record.skipped)


class AllBackendsFailed(FairhepError):
    """No backend produced numbers and at least one broke."""


@dataclass(frozen=True)
class NotRun:
    """A backend that produced no numbers, and the record that says why."""

    backend: Backend
    config: dict[str, Any]
    status: str  # SKIPPED or FAILED
    reason: str
    record: Path


Outcome = Ran[T] | NotRun | Resumed  # what run_backends hands back for one backend


def device_excluded(opts: BenchOptions, backend: Backend) -> str | None:
    """Why ``--device`` leaves this backend out (None: it does not). torch-cpu stays with
    ``--device cuda``: it is the reference every backend is judged by."""
    if opts.device == "cpu" and backend.device == "cuda":
        return "--device cpu: GPU backends not run"
    if opts.device == "cuda" and backend.device == "cpu" and backend.label != "torch-cpu":
        return "--device cuda: CPU backends not run"
    return None


def plan_backends(
    opts: BenchOptions, work: Workload, backends: Sequence[Backend],
    excluded: Callable[[Backend], str | None] | None = None,
) -> list[Planned]:
    """Which backends run, in order. ``excluded`` adds the mode's own reasons, asked only of
    backends that are available and not left out by ``--device``."""
    plan: list[Planned] = []
    for b in backends:
        reason = b.available() or device_excluded(opts, b)
        if reason is None and excluded is not None:
            reason = excluded(b)
        if reason is not None:
            plan.append(Planned(b, reason, SKIPPED))
        elif b.needs_onnx and work.export_error:
            plan.append(Planned(b, work.export_error, FAILED))
        else:
            plan.append(Planned(b))
    return plan


def run_backends(
    work: Workload,
    plan: Sequence[Planned],
    *,
    kind: str,
    config: Callable[[Backend], dict[str, Any]],
    measure: Callable[[Backend], T],
    not_run_metrics: Callable[[Backend], Mapping[str, Any]],
    on_outcome: Callable[[Outcome[T]], None] | None = None,
    done: Mapping[str, tuple[Path, ResultRecord]] | None = None,
) -> list[Outcome[T]]:
    """Prepare, ``measure`` and close each runnable backend of ``plan``; write a ``kind``
    record for each one that did not run or broke (its metrics: ``not_run_metrics``).
    Backends in ``done`` (label -> the session's record) are not run again.

    Records of backends that ran are the mode's to write, each as it comes (``on_outcome``)."""
    outcomes: list[Outcome[T]] = []
    for p in plan:
        b = p.backend
        outcome: Outcome[T]
        if done and b.label in done:
            path, record = done[b.label]
            outcome = Resumed(b, record, path)
            outcomes.append(outcome)
            if on_outcome is not None:
                on_outcome(outcome)
            continue
        cfg = config(b)
        if p.reason is not None:
            outcome = _not_run(work, kind, b, cfg, p.status, p.reason, not_run_metrics(b))
        else:
            outcome = _run_one(work, kind, b, cfg, measure, not_run_metrics)
        outcomes.append(outcome)
        if on_outcome is not None:
            on_outcome(outcome)
    return outcomes


def _run_one(
    work: Workload, kind: str, b: Backend, cfg: dict[str, Any], measure: Callable[[Backend], T],
    not_run_metrics: Callable[[Backend], Mapping[str, Any]],
) -> Ran[T] | NotRun:
    t_start = time.perf_counter()
    prepare_s = 0.0
    try:
        b.prepare(work.model)
        prepare_s = time.perf_counter() - t_start
        result = measure(b)
    except PartialResult as partial:
        return Ran(b, cfg, partial.result, prepare_s, time.perf_counter() - t_start, FAILED,
                   str(partial))
    except BackendUnavailable as exc:
        return _not_run(work, kind, b, cfg, SKIPPED, str(exc), not_run_metrics(b))
    except Exception as exc:  # a broken backend must not lose the others' results
        return _not_run(work, kind, b, cfg, FAILED, f"{type(exc).__name__}: {exc}",
                        not_run_metrics(b))
    finally:
        b.close()
    return Ran(b, cfg, result, prepare_s, time.perf_counter() - t_start)


def require_one_ran(outcomes: Sequence[Ran[Any] | NotRun | Resumed], records: Path) -> None:
    """Raise when no backend produced numbers and at least one broke (every one skipped is
    not an error: nothing could run here, and each record says why)."""
    if any(o.status == OK for o in outcomes) or not any(o.status == FAILED for o in outcomes):
        return
    failed = [o for o in outcomes if o.status == FAILED]
    first = failed[0]
    why = first.error if isinstance(first, Ran) else first.reason
    raise AllBackendsFailed(
        f"every backend failed ({len(failed)}; first {first.backend.label}: {why}); their "
        f"records are under {records}")


def _not_run(work: Workload, kind: str, b: Backend, cfg: dict[str, Any], status: str,
             reason: str, metrics: Mapping[str, Any]) -> NotRun:
    record = ResultRecord(kind=kind, config=cfg, metrics=dict(metrics), status=status)
    record.skip(b.label, reason)
    return NotRun(b, cfg, status, reason, work.write(record))
