"""ensure_writable: a location that cannot be written is one line naming it and the fix."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import pytest

from fairhep.writable import NotWritable, ensure_writable, exclusive


def test_a_missing_directory_is_created_and_left_empty(tmp_path: Path) -> None:
    target = tmp_path / "a" / "b"
    assert ensure_writable(target, "results directory", "use --results") == target
    assert target.is_dir() and list(target.iterdir()) == []


def test_a_read_only_directory_is_refused_in_one_line(read_only_dir: Path) -> None:
    with pytest.raises(NotWritable) as exc:
        ensure_writable(read_only_dir / "results", "results directory",
                        "choose another with --results")
    msg = str(exc.value)
    assert "\n" not in msg and str(read_only_dir / "results") in msg and "--results" in msg
    assert "Read-only file system" in msg or "Permission denied" in msg


def test_a_file_in_the_way_is_refused(tmp_path: Path) -> None:
    blocker = tmp_path / "results"
    blocker.write_text("not a directory")
    with pytest.raises(NotWritable, match="results directory is not writable"):
        ensure_writable(blocker, "results directory", "choose another with --results")


def test_a_lock_file_goes_with_its_holder_and_a_waiter_locks_the_file_that_is_there(
        tmp_path: Path) -> None:
    """Failed runs leave no lock file; a waiter that opened the file before its holder
    removed it locks the path's new file, so two holders never overlap."""
    lock = tmp_path / "build.lock"
    inside: list[int] = []
    overlaps: list[int] = []

    def hold(who: int) -> None:
        with exclusive(lock, "build", "", wait=True):
            inside.append(who)
            if len(inside) > 1:
                overlaps.append(who)
            time.sleep(0.05)
            inside.remove(who)

    with exclusive(lock, "build", "", wait=True):
        assert "pid" in lock.read_text()
        waiters = [threading.Thread(target=hold, args=(i,)) for i in range(4)]
        for t in waiters:
            t.start()
        time.sleep(0.2)  # the waiters have opened the file and wait for its lock
    for t in waiters:
        t.join(timeout=30)
    assert overlaps == [] and not lock.exists()
    with pytest.raises(RuntimeError), exclusive(lock, "build", ""):
        raise RuntimeError("a run that fails while it holds the lock")
    assert not lock.exists()
