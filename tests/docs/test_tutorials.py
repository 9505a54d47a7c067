"""The tutorials run as written: their marked commands are replayed in a temporary folder
and what they show of each command's output is checked (doc_blocks says how blocks are
marked). The fast blocks run in every `make test`; the whole walk-through of each page is
marked slow."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from doc_blocks import Block, Command, blocks, output_problem, run_page, tutorial_env, unmet

REPO = Path(__file__).resolve().parents[2]
TUTORIALS = sorted((REPO / "docs" / "tutorials").glob("*.md"))
# What a page needs that a reader fetches first: (folder in the tutorial's working
# directory, where the tests find it). CI has shared/ beside the clone.
SHARED_PUBLISHED = REPO.parent / "shared" / "published"
INPUTS = {"model-author": ("published", SHARED_PUBLISHED)}


def _replay(page: Path, tmp_path: Path, speeds: tuple[str, ...], timeout: float) -> None:
    chosen = [b for b in blocks(page) if b.speed in speeds or b.file]
    if page.stem in INPUTS:
        name, source = INPUTS[page.stem]
        if not source.is_dir():
            pytest.skip(f"{page.name} starts from {source}, which is absent here")
        shutil.copytree(source, tmp_path / "work" / name)
    # A stack's session installs only its own extras: a block needing another is left out,
    # the others run, and the test ends skipped with the reason, never passed.
    left_out = [why for b in chosen if (why := unmet(b))]
    chosen = [b for b in chosen if unmet(b) is None]
    problems = run_page(chosen, tmp_path / "work", tutorial_env(tmp_path, REPO), timeout)
    assert problems == [], "\n".join(problems)
    if left_out:
        pytest.skip("the other blocks passed; left out: " + "; ".join(left_out))


@pytest.mark.parametrize("page", TUTORIALS, ids=lambda p: p.stem)
def test_tutorial_fast_blocks(page: Path, tmp_path: Path) -> None:
    _replay(page, tmp_path, ("fast",), timeout=300)


@pytest.mark.slow
@pytest.mark.parametrize("page", TUTORIALS, ids=lambda p: p.stem)
def test_tutorial_walkthrough(page: Path, tmp_path: Path) -> None:
    _replay(page, tmp_path, ("fast", "slow"), timeout=1800)


def test_every_tutorial_command_block_is_marked() -> None:
    # An unmarked console block would be a command no test runs, by oversight.
    unmarked = []
    for page in TUTORIALS:
        lines = page.read_text().splitlines()
        for i, line in enumerate(lines):
            if line.startswith("```console") and not (i and lines[i - 1].startswith("% test:")):
                unmarked.append(f"{page.name}:{i + 1}")
    assert unmarked == []
    assert {p.stem for p in TUTORIALS} >= {"researcher", "site-staff", "model-author"}
    assert all(any(b.speed == "fast" for b in blocks(p)) for p in TUTORIALS)


def test_shown_output_is_matched_in_order_with_ellipses() -> None:
    out = "epoch   1  loss 0.5\nwrote 400 jets (1,234 jets/s)\nrecord /x/y.json\n"
    assert output_problem(("wrote 400 jets (... jets/s)", "record .../y.json"), out) is None
    assert output_problem(("epoch 1 loss 0.5",), out) is None  # spacing is the terminal's
    assert output_problem(("record ...", "wrote 400 ..."), out) is not None  # order
    assert output_problem(("wrote 401 jets ...",), out) is not None


def test_a_failing_or_unexpected_command_is_reported(tmp_path: Path) -> None:
    page = tmp_path / "page.md"
    page.write_text("% test: fast file=f.txt\n```text\nhello\n```\n\n"
                    "% test: fast\n```console\n$ cat f.txt\nhello\n"
                    "$ sh -c 'echo a; exit 3'\nb\n```\n"
                    "% test: fast exit=1\n```console\n$ false\n```\n")
    found = blocks(page)
    assert [b.file for b in found] == ["f.txt", None, None]
    assert found[1].commands == (Command("cat f.txt", ("hello",)),
                                 Command("sh -c 'echo a; exit 3'", ("b",)))
    problems = run_page(found, tmp_path / "w", tutorial_env(tmp_path, REPO), timeout=60)
    assert len(problems) == 1 and "exited 3, not 0" in problems[0] and ":7:" in problems[0]
    fixed = [found[0], Block(page, 7, "fast", commands=(Command("cat f.txt", ("hello",)),)),
             found[2]]
    assert run_page(fixed, tmp_path / "w2", tutorial_env(tmp_path, REPO), timeout=60) == []
    wrong = [found[0], Block(page, 7, "fast", commands=(Command("cat f.txt", ("bye",)),))]
    (problem,) = run_page(wrong, tmp_path / "w3", tutorial_env(tmp_path, REPO), timeout=60)
    assert "matching: bye" in problem


def test_a_block_needing_an_absent_module_is_named_not_run(tmp_path: Path) -> None:
    page = tmp_path / "page.md"
    page.write_text("% test: fast needs=json\n```console\n$ true\n```\n\n"
                    "% test: fast needs=fairhep_no_such_module\n```console\n$ false\n```\n")
    present, absent = blocks(page)
    assert (present.needs, unmet(present)) == ("json", None)
    why = unmet(absent)
    assert why is not None and f"{page}:7 needs the module fairhep_no_such_module" in why
