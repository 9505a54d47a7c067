"""The working tree before and after a test session: tests write only into their temporary
folders, never into the checkout (a user's ./results, ./reports, or a tracked file).

A snapshot is every file ``git status`` lists (changed tracked files, untracked files that are
not ignored) plus every file under the ignored folders where commands write by default
(``results/``, ``reports/``), each with its status, size and modification time. Outside a git
work tree there is nothing to compare: no snapshot.
"""

from __future__ import annotations

import subprocess
from pathlib import Path

# Ignored by git, and where a command run without --results/--out would write.
WATCHED_IGNORED = ("results", "reports")

Snapshot = dict[str, tuple[str, int, int]]  # path -> (git status, size, mtime_ns)


def _stat(path: Path) -> tuple[int, int]:
    try:
        st = path.lstat()
    except OSError:
        return (-1, -1)  # listed by git as deleted
    return (st.st_size, st.st_mtime_ns)


def snapshot(root: Path) -> Snapshot | None:
    """The files of ``root``'s work tree that differ from HEAD, and those under
    :data:`WATCHED_IGNORED`; None when ``root`` is not in a git work tree."""
    try:
        done = subprocess.run(
            ["git", "-C", str(root), "status", "--porcelain=v1", "-z", "--untracked-files=all",
             "--ignore-submodules=all"], capture_output=True, check=False, timeout=120)
    except (OSError, subprocess.TimeoutExpired):
        return None
    if done.returncode != 0:
        return None
    found: Snapshot = {}
    fields = iter(done.stdout.decode(errors="surrogateescape").split("\0"))
    for entry in fields:
        if not entry:
            continue
        code, rel = entry[:2], entry[3:]
        if code[0] in "RC":  # a rename or copy: the next field is the old path
            next(fields, None)
        found[rel] = (code, *_stat(root / rel))
    for folder in WATCHED_IGNORED:
        base = root / folder
        if base.is_dir():
            for path in base.rglob("*"):
                rel = str(path.relative_to(root))
                if path.is_dir() and not path.is_symlink():  # an empty new folder counts too
                    found.setdefault(rel + "/", ("!!", 0, 0))
                else:
                    found.setdefault(rel, ("!!", *_stat(path)))
    return found


def changes(before: Snapshot, after: Snapshot) -> list[str]:
    """One line per file added, removed or changed between two snapshots, sorted by path
    (a tracked file that only now differs from HEAD is "changed", not "added")."""
    untracked = ("??", "!!")
    lines = []
    for rel in sorted(set(before) | set(after)):
        was, now = before.get(rel), after.get(rel)
        if was == now:
            continue
        if now is not None and now[1] == -1:
            what = "removed"  # git lists it as deleted
        elif now is None:
            what = "removed" if was is not None and was[0] in untracked else "changed"
        elif was is None:
            what = "added" if now[0] in untracked else "changed"
        else:
            what = "changed"
        lines.append(f"{what:<7} {rel}")
    return lines
