"""SIGTERM stops a whole local campaign (`fairhep submit --site local`): no further task
starts, running task processes are stopped too (none is left behind), trainings checkpoint,
and the command says what was left undone and how to continue. A real signal to a real
`fairhep submit`, in both modes: tasks in the process, and a pool of task processes."""

from __future__ import annotations

import os
import shlex
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from campaign_helpers import write_campaign
from fairhep.results import load_records
from fairhep.tasks import TASK_RECORD_KIND

# Trainings that last long enough to be stopped in the middle (thousands of tiny epochs).
LONG: dict[str, dict[str, Any]] = {
    "data": {"seed": 5}, "train": {"seeds": [0, 1], "epochs": 2000, "patience": 5000}}


def _site(tmp_path: Path, workers: int) -> Path:
    # Given by path (not in any site directory), as a user's own site file would be.
    path = tmp_path / "elsewhere" / f"mine-{workers}.toml"
    path.parent.mkdir(exist_ok=True)
    path.write_text(f'scheduler = "local"\nmax_concurrent_tasks = {workers}\n'
                    '[paths]\nresults = "results"\n')
    return path


def _processes_mentioning(text: str) -> list[str]:
    found = []
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit() or int(proc.name) == os.getpid():
            continue
        try:
            cmdline = (proc / "cmdline").read_bytes().replace(b"\0", b" ").decode()
        except OSError:
            continue
        if text in cmdline:
            found.append(f"{proc.name}: {cmdline}")
    return found


def _wait_for(condition: object, what: str, timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    while not condition():  # type: ignore[operator]
        if time.monotonic() > deadline:
            pytest.fail(f"timed out waiting for {what}")
        time.sleep(0.2)


@pytest.mark.parametrize("workers", [1, 2])
def test_sigterm_stops_the_whole_local_campaign_and_says_what_is_left(tmp_path: Path,
                                                                      workers: int) -> None:
    campaign = write_campaign(tmp_path / "long.toml", "long tiny trainings, to be stopped",
                              **LONG)
    results = tmp_path / "results"
    site = _site(tmp_path, workers)
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    argv = [sys.executable, "-m", "fairhep", "submit", "--site", str(site), "--campaign",
            str(campaign), "--results", str(results)]
    proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env=env)
    layout = results / site.stem / "long"
    # Both trainings (workers=2) or the first (in process) have started their epochs.
    want = 2 if workers == 2 else 1
    _wait_for(lambda: len(list((layout / "runs").glob("train-*/last.pth"))) >= want,
              "the trainings to checkpoint their first epoch")
    proc.send_signal(signal.SIGTERM)
    out, err = proc.communicate(timeout=120)
    assert proc.returncode == 143, (out, err)
    assert _processes_mentioning(str(results)) == []  # no task process left running
    assert "fairhep submit: stopped by SIGTERM" in err
    assert "left undone" in err
    assert "train-s0-kfold-f0 (interrupted" in err
    for evaluation in ("evaluate-s0-kfold-f0", "evaluate-s1-kfold-f0", "aggregate"):
        assert f"{evaluation} (not-started)" in err
    resume = next(line for line in err.splitlines() if line.startswith("continue with: "))
    assert shlex.split(resume.removeprefix("continue with: ")) == [
        "fairhep", "submit", "--site", str(site), "--campaign", str(campaign), "--results",
        str(results), "--resume"]
    done = {r.task_id for r in load_records(layout, TASK_RECORD_KIND, errors=[])}
    assert done == {"data"}  # nothing stopped is recorded as done
    assert not load_records(layout, "evaluate", errors=[])
    # The trainings kept their checkpoints for --resume.
    assert len(list((layout / "runs").glob("train-*/last.pth"))) >= want
