"""Output locations are checked before long work starts, so that a read-only results folder
costs one line at once instead of a traceback after the last epoch."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

from fairhep.errors import FairhepError


class NotWritable(FairhepError):
    """An output location that cannot be created or written."""


def ensure_writable(directory: Path, what: str, fix: str) -> Path:
    """Create ``directory`` if needed and prove that a file can be written in it.

    ``what`` names the location for the user ("results directory", "run directory"), ``fix``
    says what to do instead ("choose another with --results"). Returns the directory."""
    directory = Path(directory)
    try:
        directory.mkdir(parents=True, exist_ok=True)
        fd, probe = tempfile.mkstemp(prefix=".fairhep-write-check-", dir=directory)
        os.close(fd)
        os.unlink(probe)
    except OSError as exc:
        reason = exc.strerror or type(exc).__name__
        raise NotWritable(f"{directory}: {what} is not writable ({reason}); {fix}") from None
    return directory
