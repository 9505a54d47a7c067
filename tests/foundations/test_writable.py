"""ensure_writable: a location that cannot be written is one line naming it and the fix."""

from __future__ import annotations

from pathlib import Path

import pytest

from fairhep.writable import NotWritable, ensure_writable


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
