"""The session guard of tests/conftest.py: what it sees change in a work tree, and the
results folder a command without --results writes into during the tests."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

import tree_guard
from fairhep.results.location import RESULTS_ENV, default_results_dir


def _git(repo: Path, *args: str) -> None:
    subprocess.run(["git", "-C", str(repo), *args], check=True, capture_output=True)


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    repo = tmp_path / "checkout"
    (repo / "results" / "published").mkdir(parents=True)
    (repo / ".gitignore").write_text("/results/*\n!/results/published/\n/reports/*\n")
    (repo / "README.md").write_text("hello\n")
    (repo / "results" / "published" / "table4.json").write_text("{}\n")
    _git(repo, "init", "-q")
    _git(repo, "add", ".")
    _git(repo, "-c", "user.name=t", "-c", "user.email=t@t", "commit", "-q", "-m", "init")
    return repo


def test_every_kind_of_change_in_the_tree_is_named(repo: Path) -> None:
    (repo / "results" / "records" / "evaluate").mkdir(parents=True)
    old = repo / "results" / "records" / "evaluate" / "old.json"
    old.write_text("{}")
    before = tree_guard.snapshot(repo)
    assert before is not None and tree_guard.changes(before, before) == []
    (repo / "results" / "records" / "evaluate" / "new.json").write_text("{}")  # ignored
    (repo / "reports" / "bench-1").mkdir(parents=True)  # an ignored, empty folder
    old.write_text('{"changed": true}')
    (repo / "README.md").write_text("changed\n")  # tracked
    (repo / "notes.txt").write_text("x")  # untracked
    (repo / "results" / "published" / "table4.json").unlink()  # tracked, deleted
    after = tree_guard.snapshot(repo)
    assert after is not None
    lines = tree_guard.changes(before, after)
    for expected in ("changed README.md", "added   notes.txt", "added   reports/bench-1/",
                     "changed results/records/evaluate/old.json",
                     "added   results/records/evaluate/new.json"):
        assert expected in lines
    assert "removed results/published/table4.json" in lines  # tracked: git lists it as deleted


def test_outside_a_git_work_tree_there_is_no_snapshot(tmp_path: Path) -> None:
    assert tree_guard.snapshot(tmp_path) is None


def test_commands_without_results_write_into_the_sessions_temporary_folder(
        default_results: Path) -> None:
    assert default_results_dir() == default_results
    assert Path("results").resolve() not in (default_results.resolve(),
                                             *default_results.resolve().parents)


def test_the_results_folder_of_every_command_follows_the_environment(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from fairhep.bench import BenchOptions
    from fairhep.cli import build_parser
    from fairhep.xai import StudyOptions

    monkeypatch.setenv(RESULTS_ENV, str(tmp_path / "mine"))
    parser = build_parser()
    for argv in (["evaluate", "--run", "r", "--data", "d"], ["train", "--data", "d", "--out", "o"],
                 ["bench"], ["validate", "b"], ["xai", "mask"], ["report"]):
        args = parser.parse_args(argv)
        got = args.results if argv[0] != "report" else args.results[0]
        assert got == tmp_path / "mine", argv
    assert BenchOptions().results == tmp_path / "mine"
    assert StudyOptions(run=Path("r"), data=Path("d")).results == tmp_path / "mine"
    monkeypatch.delenv(RESULTS_ENV)
    assert build_parser().parse_args(["bench"]).results == Path("results")
    assert BenchOptions().results == Path("results")
