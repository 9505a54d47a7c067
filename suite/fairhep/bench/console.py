"""What the bench modes print through: one console, one progress bar, one "not run" line."""

from __future__ import annotations

import os
import sys

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

# Batch-job logs (Slurm, containers) are not terminals: rich would fold the tables to 80
# columns there. COLUMNS still wins when set.
LOG_WIDTH = 150


def console() -> Console:
    width = None if sys.stdout.isatty() or os.environ.get("COLUMNS") else LOG_WIDTH
    return Console(width=width)


def progress_bar(console: Console) -> Progress:
    """A transient bar: it leaves nothing in a log, only the tables printed after it."""
    return Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
                    TimeElapsedColumn(), console=console, transient=True)


def print_not_run(console: Console, label: str, reason: str, status: str = "skipped") -> None:
    console.print(f"[yellow]{status}[/yellow] {label}: {reason}", highlight=False)
