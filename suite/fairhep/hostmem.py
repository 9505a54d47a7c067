"""Keeping freed host memory in the process, so that CPU training does not page-fault.

Every IN step allocates and frees activations of ~100 MB (the (batch, 60, 60, h) edge
tensors). glibc serves blocks that large with mmap and unmaps them on free, so each step
faults all of that memory back in; under a sandboxing kernel (gVisor) or a busy node the page
faults cost as much as the arithmetic (measured here: CPU time per baseline step at batch 128
halved, page faults down 5x). Raising the mmap and trim thresholds keeps the blocks in the
heap for reuse. The price is that the process keeps its peak memory until it exits;
``FAIRHEP_RETAIN_MEMORY=0`` turns this off.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import os
import sys
import threading

_M_TRIM_THRESHOLD = -1
_M_MMAP_THRESHOLD = -3
_THRESHOLD = 1 << 30
_done = threading.Event()  # set once glibc has been told


def retain_freed_memory() -> bool:
    """Ask glibc to keep large freed blocks (once per process); False where that is not
    possible (not Linux/glibc) — nothing else changes then."""
    if _done.is_set():
        return True
    if not sys.platform.startswith("linux") or os.environ.get("FAIRHEP_RETAIN_MEMORY") == "0":
        return False
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        mallopt = libc.mallopt
    except (OSError, AttributeError):  # musl or another libc without mallopt
        return False
    if bool(mallopt(_M_MMAP_THRESHOLD, _THRESHOLD)) and bool(
            mallopt(_M_TRIM_THRESHOLD, _THRESHOLD)):
        _done.set()
    return _done.is_set()
