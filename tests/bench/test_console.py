"""The bench's progress off a terminal: a 5-minute sweep in a job log or a pipe says where
it is, in plain lines, instead of nothing at all."""

from __future__ import annotations

import io

from rich.console import Console

from fairhep.bench.console import progress_bar


def _run(console: Console, every_s: float) -> None:
    progress = progress_bar(console)
    progress.every_s = every_s  # type: ignore[attr-defined]
    with progress:
        task = progress.add_task("sweep torch-cpu", total=6)
        for i in range(6):
            if i == 3:
                progress.update(task, description="sweep onnxruntime-cpu")
            progress.advance(task)


def test_off_a_terminal_each_step_and_the_end_are_plain_lines() -> None:
    out = io.StringIO()
    _run(Console(file=out, force_terminal=False, width=100), every_s=3600)
    lines = out.getvalue().splitlines()
    assert [line.rsplit(",", 1)[0] for line in lines] == [
        "sweep torch-cpu: 0/6 (0 %)",
        "sweep onnxruntime-cpu: 3/6 (50 %)",
        "sweep onnxruntime-cpu: 6/6 (100 %)",
    ]
    assert all(line.endswith(" s") for line in lines)


def test_off_a_terminal_lines_come_as_often_as_asked() -> None:
    out = io.StringIO()
    _run(Console(file=out, force_terminal=False, width=100), every_s=0)
    # the start, every advance, and the new description
    assert len(out.getvalue().splitlines()) == 1 + 6 + 1


def test_on_a_terminal_only_the_bar_is_drawn() -> None:
    out = io.StringIO()
    _run(Console(file=out, force_terminal=True, width=100), every_s=0)
    assert " (50 %)," not in out.getvalue()
