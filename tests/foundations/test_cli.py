"""The command line as a new user meets it: `fairhep` alone lists the commands, an error in a
sub-command shows that sub-command's usage, and a closed pipe ends quietly."""

from __future__ import annotations

import subprocess
import sys

import pytest

from fairhep.cli import build_parser, main

FAIRHEP = [sys.executable, "-m", "fairhep"]


def test_fairhep_alone_lists_every_command(capsys: pytest.CaptureFixture[str]) -> None:
    assert main([]) == 0
    out = capsys.readouterr().out
    sub = next(a for a in build_parser()._actions if a.dest == "command")
    assert sub.choices is not None
    names = list(sub.choices)
    assert {"data", "model", "train", "evaluate", "export", "bench", "report"} <= set(names)
    for name in names:
        assert f"\n    {name}" in out, name


@pytest.mark.parametrize("argv", [
    ["containers", "build", "x86_64-cpu", "--engine", "docker"],
    ["model", "import", "x.pth", "--out", "r", "--bogus"],
    ["train", "--data", "d", "--out", "r", "--epoch", "3", "--unknown"],
])
def test_an_error_in_a_sub_command_shows_its_usage(argv: list[str],
                                                   capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exc:
        main(argv)
    assert exc.value.code == 2
    err = capsys.readouterr().err
    words = argv[:2] if argv[0] in ("containers", "model") else argv[:1]
    assert err.startswith(f"usage: fairhep {' '.join(words)} ")
    assert "usage: fairhep [-h]" not in err and "unrecognized arguments" in err


@pytest.mark.parametrize("argv", [["sites", "list"], ["task", "list", "paper"]])
def test_a_closed_pipe_ends_quietly(argv: list[str]) -> None:
    # The reader is gone before the command writes: every write hits EPIPE (what `| head`
    # does to a long listing), deterministically.
    proc = subprocess.Popen([*FAIRHEP, *argv], stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    assert proc.stdout is not None and proc.stderr is not None
    proc.stdout.close()
    err = proc.stderr.read().decode()
    assert proc.wait(timeout=60) == 141 and err == ""
    # And as the issue ran it, through a shell.
    shell = subprocess.run(f"{' '.join(FAIRHEP)} {' '.join(argv)} | head -1", shell=True,
                           capture_output=True, text=True, check=False)
    assert shell.stderr == "" and len(shell.stdout.splitlines()) == 1
