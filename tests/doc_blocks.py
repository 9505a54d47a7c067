"""The docs' executable code blocks, and a runner that replays a page's blocks as a reader
would type them.

A block is marked by a MyST comment on the line just above its fence::

    % test: fast                      run in `make test`
    % test: slow                      run with FAIRHEP_SLOW=1 (the full walk-through)
    % test: fast exit=1               every command of the block must exit 1
    % test: fast file=site.toml       the block is a file: written to that path, not run
    % test: slow unless=apptainer     skipped where `apptainer` is on PATH (it would build)
    % test: fast needs=hepdata_lib    run where that module imports (an optional extra; the
                                      test says which blocks it left out and why)
    % test: shown                     not run: what only a cluster or a build host can run

A command block is a ```console fence: lines starting with ``$ `` are commands (a trailing
``\\`` continues one on the next line), the lines after each are what it prints. A shown line
must appear in the output, in order; ``...`` inside it stands for any text (times, paths,
hashes), and a line that is only ``...`` for any lines. Every console block of a tutorial
carries a mark (a test checks it), so none is left out by oversight.
"""

from __future__ import annotations

import os
import re
import shlex
import shutil
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

_MARK = re.compile(r"^%\s*test:\s*(fast|slow|shown)\b(.*)$")
_FENCE = re.compile(r"^(`{3,}|~{3,})\s*\{?([\w-]*)\}?")


@dataclass(frozen=True)
class Command:
    text: str
    expected: tuple[str, ...]


@dataclass(frozen=True)
class Block:
    page: Path
    line: int  # of the fence, 1-based
    speed: str  # fast | slow
    exit_code: int = 0
    file: str | None = None
    unless: str | None = None
    needs: str | None = None  # a module of an optional extra
    body: str = ""
    commands: tuple[Command, ...] = field(default=())

    @property
    def where(self) -> str:
        return f"{self.page}:{self.line}"


def blocks(page: Path) -> list[Block]:
    """The marked blocks of a Markdown page, in order."""
    lines = page.read_text().splitlines()
    found: list[Block] = []
    i = 0
    while i < len(lines):
        mark = _MARK.match(lines[i])
        if not mark:
            i += 1
            continue
        options = dict(opt.split("=", 1) for opt in mark.group(2).split())
        unknown = set(options) - {"exit", "file", "unless", "needs"}
        fence = _FENCE.match(lines[i + 1]) if i + 1 < len(lines) else None
        if unknown or fence is None:
            raise ValueError(f"{page}:{i + 1}: a test mark takes exit=, file=, unless=, "
                             "needs= and stands on the line just above a code fence")
        end = i + 2
        while not lines[end].startswith(fence.group(1)):
            end += 1
        body = lines[i + 2:end]
        file = options.get("file")
        if file is None and fence.group(2) != "console":
            raise ValueError(f"{page}:{i + 2}: a command block is a console fence "
                             f"(this one is {fence.group(2)!r}); a file block names file=")
        found.append(Block(
            page=page, line=i + 2, speed=mark.group(1), exit_code=int(options.get("exit", 0)),
            file=file, unless=options.get("unless"), needs=options.get("needs"),
            body="\n".join(body) + "\n",
            commands=() if file else _commands(body)))
        i = end + 1
    return found


def unmet(block: Block) -> str | None:
    """Why ``block`` cannot run in this environment (its ``needs`` module does not import),
    or None."""
    import importlib.util

    if block.needs is None or importlib.util.find_spec(block.needs) is not None:
        return None
    return (f"{block.where} needs the module {block.needs}, not installed here (an optional "
            "extra of fairhep's: pyproject.toml names it)")


def _commands(body: list[str]) -> tuple[Command, ...]:
    commands: list[Command] = []
    text: list[str] = []
    expected: list[str] = []
    continued = False
    for line in body:
        if continued:
            text.append(line)
            continued = line.endswith("\\")
        elif line.startswith("$ "):
            if text:
                commands.append(Command("\n".join(text), tuple(expected)))
            text, expected = [line[2:]], []
            continued = line.endswith("\\")
        elif line.strip():
            expected.append(line.strip())
    if text:
        commands.append(Command("\n".join(text), tuple(expected)))
    return tuple(commands)


def _squeeze(text: str) -> str:
    return " ".join(text.split())


def _pattern(shown: str) -> re.Pattern[str]:
    # Spacing is the terminal's business (rich pads table cells): compared squeezed.
    return re.compile(".*".join(re.escape(p) for p in _squeeze(shown).split("...")))


def output_problem(expected: tuple[str, ...], output: str) -> str | None:
    """Why ``output`` does not show the ``expected`` lines in order, or None."""
    lines = [_squeeze(line) for line in output.splitlines()]
    at = 0
    for shown in expected:
        if shown == "...":
            continue
        pattern = _pattern(shown)
        while at < len(lines) and not pattern.fullmatch(lines[at]):
            at += 1
        if at == len(lines):
            return f"the output has no line (in this order) matching: {shown}"
        at += 1
    return None


def run_page(page_blocks: list[Block], workdir: Path, env: dict[str, str],
             timeout: float) -> list[str]:
    """Replay the blocks in one shell, as one reader's terminal (variables, `cd` and
    background jobs carry over); the problems found, each naming the page and line."""
    script = ["set +e", "trap 'kill $(jobs -p) 2>/dev/null; wait' EXIT"]
    checks: list[tuple[Block, Command, int]] = []
    for block in page_blocks:
        if block.speed == "shown":
            continue
        if block.unless and shutil.which(block.unless):
            continue
        if block.file:
            script.append(f"mkdir -p \"$(dirname {shlex.quote(block.file)})\"")
            script.append(f"cat > {shlex.quote(block.file)} <<'FAIRHEP_DOC_EOF'\n"
                          f"{block.body}FAIRHEP_DOC_EOF")
            continue
        for command in block.commands:
            n = len(checks)
            checks.append((block, command, n))
            script.append(f"{{\n{command.text}\n}} > .doc-out-{n} 2>&1 </dev/null")
            script.append(f"rc=$?; echo $rc > .doc-rc-{n}; "
                          f"[ $rc = {block.exit_code} ] || exit 97")
    workdir.mkdir(parents=True, exist_ok=True)
    (workdir / ".doc-script.sh").write_text("\n".join(script) + "\n")
    subprocess.run(["bash", ".doc-script.sh"], cwd=workdir, env=env, timeout=timeout,
                   check=False)
    problems = []
    for block, command, n in checks:
        rc_file, out_file = workdir / f".doc-rc-{n}", workdir / f".doc-out-{n}"
        if not rc_file.exists():
            problems.append(f"{block.where}: not reached: $ {command.text}")
            break
        output = out_file.read_text(errors="replace")
        rc = int(rc_file.read_text())
        if rc != block.exit_code:
            problems.append(f"{block.where}: $ {command.text} exited {rc}, not "
                            f"{block.exit_code}; it printed:\n{output[-3000:]}")
            break
        why = output_problem(command.expected, output)
        if why:
            problems.append(f"{block.where}: $ {command.text}: {why}; it printed:\n"
                            f"{output[-3000:]}")
    return problems


def tutorial_env(tmp: Path, repo: Path) -> dict[str, str]:
    """A reader's environment: the venv's `fairhep` first on PATH, every default folder
    (results, cache) in ``tmp``, the checkout as $FAIRHEP_SRC, and a wide terminal so that
    tables are not wrapped differently on each machine."""
    env = dict(os.environ)
    bindir = Path(sys.executable).parent  # the interpreter running the tests, and its fairhep
    env.update({
        "PATH": f"{bindir}{os.pathsep}{env.get('PATH', '')}",
        "FAIRHEP_RESULTS": str(tmp / "results"),
        "FAIRHEP_CACHE": str(tmp / "cache"),
        "FAIRHEP_SRC": str(repo),
        # The checkout's site files, as a site's staff point at theirs: an installed wheel (the
        # images, the stack sessions) carries none, by design.
        "FAIRHEP_SITE_CONFIGS": str(repo / "site_configs"),
        "COLUMNS": "200",
        "OMP_NUM_THREADS": "1",
        "HOME": str(tmp / "home"),
    })
    return env
