"""Output locations: checked before long work starts, so that a read-only results folder
costs one line at once instead of a traceback after the last epoch; and held by one writer
at a time (:func:`exclusive`), so that two trainings never share a run directory."""

from __future__ import annotations

import contextlib
import fcntl
import os
import socket
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TextIO

from fairhep.errors import FairhepError


class NotWritable(FairhepError):
    """An output location that cannot be created or written."""


class Locked(FairhepError):
    """An output location another process is writing."""


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


@contextmanager
def exclusive(lock_file: Path, what: str, fix: str, wait: bool = False) -> Iterator[None]:
    """Hold an exclusive ``flock`` on ``lock_file`` (created if needed) or refuse at once
    (``wait``: wait for the holder instead, for work a second process can then reuse).

    The lock dies with its process, and its file says who holds it while it is held; the
    holder removes the file when it lets go (a failed run leaves nothing behind; a kill
    leaves a file that is no lock and is taken over). ``what`` names the location, ``fix``
    what to do instead."""
    lock_file = Path(lock_file)
    fh = _lock(lock_file, what, fix, wait)
    try:
        fh.seek(0)
        fh.truncate()
        fh.write(f"pid {os.getpid()} on {socket.gethostname()} since "
                 f"{time.strftime('%Y-%m-%dT%H:%M:%S')}\n")
        fh.flush()
        yield
    finally:
        # Removed while still held: whoever opened this file meanwhile finds it gone once
        # the lock is theirs, and starts over on the path (see _lock).
        with contextlib.suppress(OSError):
            lock_file.unlink()
        fh.close()  # releases the lock


def _lock(lock_file: Path, what: str, fix: str, wait: bool) -> TextIO:
    """The open, locked ``lock_file``: locked on the file that the path still names, not on
    one a previous holder removed after this process had opened it."""
    while True:
        fh = open(lock_file, "a+")  # noqa: SIM115  (held open by the caller)
        try:
            fcntl.flock(fh, fcntl.LOCK_EX if wait else fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            fh.seek(0)
            holder = " ".join(fh.read().split()) or "another process"
            fh.close()
            raise Locked(f"{lock_file.parent}: {what} is in use by {holder} (lock "
                         f"{lock_file}); {fix}") from None
        try:
            if os.path.samestat(os.fstat(fh.fileno()), os.stat(lock_file)):
                return fh
        except FileNotFoundError:
            pass
        fh.close()
