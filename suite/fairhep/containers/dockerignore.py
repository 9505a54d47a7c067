"""Docker's ``.dockerignore`` rules, enough to tell what reaches a build context."""

from __future__ import annotations

import re
from pathlib import Path

DOCKERIGNORE = ".dockerignore"
# What must never reach a Docker build context (virtual environments, results, data, git).
MUST_BE_IGNORED = (".venv", "results", "reports", ".git", "site_configs", "data")


def _ignore_regex(pattern: str) -> re.Pattern[str]:
    pattern = pattern.strip("/")
    out, i = "", 0
    while i < len(pattern):
        if pattern.startswith("**/", i):
            out, i = out + "(?:.*/)?", i + 3
        elif pattern.startswith("**", i):
            out, i = out + ".*", i + 2
        elif pattern[i] == "*":
            out, i = out + "[^/]*", i + 1
        elif pattern[i] == "?":
            out, i = out + "[^/]", i + 1
        else:
            out, i = out + re.escape(pattern[i]), i + 1
    return re.compile(out + "$")


def dockerignore_excludes(root: Path, relpath: str) -> bool:
    """Whether ``.dockerignore`` keeps ``relpath`` out of the build context (Docker's rules:
    patterns in order, the last match wins, ``!`` re-admits, a matched directory covers its
    contents)."""
    path = root / DOCKERIGNORE
    if not path.is_file():
        return False
    rules = []
    for raw in path.read_text().splitlines():
        line = raw.strip()
        if line and not line.startswith("#"):
            negated = line.startswith("!")
            rules.append((negated, _ignore_regex(line.lstrip("!").strip())))
    parts = Path(relpath).as_posix().strip("/").split("/")
    candidates = ["/".join(parts[: i + 1]) for i in range(len(parts))]
    excluded = False
    for negated, rx in rules:
        if any(rx.match(c) for c in candidates):
            excluded = not negated
    return excluded


