"""What the bench modes print through: one console, one progress bar, one "not run" line."""

from __future__ import annotations

import os
import sys
import time
from typing import Any

from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TaskID,
    TextColumn,
    TimeElapsedColumn,
)

# Batch-job logs (Slurm, containers) are not terminals: rich would fold the tables to 80
# columns there. COLUMNS still wins when set.
LOG_WIDTH = 150
# Off a terminal, a progress line at most this often (and at each new step and at the end).
LOG_EVERY_S = 15.0


def console() -> Console:
    width = None if sys.stdout.isatty() or os.environ.get("COLUMNS") else LOG_WIDTH
    return Console(width=width)


class LoggedProgress(Progress):
    """rich's transient bar on a terminal. Elsewhere (a job log, a pipe, `| tee`) rich draws
    nothing, so a minutes-long sweep would print nothing at all: there, a plain line per task
    when it starts or changes its description, every ``every_s`` seconds, and when it is
    complete."""

    def __init__(self, *columns: Any, console: Console, every_s: float = LOG_EVERY_S,
                 **kwargs: Any) -> None:
        self.plain = not console.is_terminal
        # Off a terminal the live display would only leave a stray blank line.
        super().__init__(*columns, console=console, disable=self.plain, **kwargs)
        self.every_s = every_s
        self._logged: dict[TaskID, tuple[float, str, bool]] = {}  # time, description, done

    def stop(self) -> None:
        if self.plain:  # rich < 14.1 ends a progress off a terminal with a blank line
            self.live.stop()
            return
        super().stop()

    def add_task(self, description: str, start: bool = True, total: float | None = 100.0,
                 completed: int = 0, visible: bool = True, **fields: Any) -> TaskID:
        task_id = super().add_task(description, start, total, completed, visible, **fields)
        self._log(task_id)
        return task_id

    def update(self, task_id: TaskID, **kwargs: Any) -> None:
        super().update(task_id, **kwargs)
        self._log(task_id)

    def advance(self, task_id: TaskID, advance: float = 1) -> None:
        super().advance(task_id, advance)
        self._log(task_id)

    def _log(self, task_id: TaskID) -> None:
        if not self.plain:
            return
        with self._lock:
            task = self._tasks[task_id]
            done = task.total is not None and task.completed >= task.total
            now = time.monotonic()
            last = self._logged.get(task_id)
            if last is not None and last[1] == task.description and last[2] == done and (
                    done or now - last[0] < self.every_s):
                return
            self._logged[task_id] = (now, task.description, done)
            shown = f"{task.completed:.0f}" + ("" if task.total is None else
                                                f"/{task.total:.0f} ({task.percentage:.0f} %)")
            elapsed = task.elapsed or 0.0
        self.console.print(f"{task.description}: {shown}, {elapsed:.0f} s", highlight=False,
                           markup=False)


def progress_bar(console: Console) -> Progress:
    """A transient bar: it leaves nothing in a log, only the tables printed after it (and,
    off a terminal, plain progress lines: :class:`LoggedProgress`)."""
    return LoggedProgress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
                          TimeElapsedColumn(), console=console, transient=True)


def print_not_run(console: Console, label: str, reason: str, status: str = "skipped") -> None:
    console.print(f"[yellow]{status}[/yellow] {label}: {reason}", highlight=False)
