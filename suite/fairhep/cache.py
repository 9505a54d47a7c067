"""Where fairhep keeps what it can rebuild: the embedded default's data and run, ONNX
exports and TensorRT engines."""

from __future__ import annotations

import os
from pathlib import Path

CACHE_ENV = "FAIRHEP_CACHE"


def default_cache_dir() -> Path:
    """``$FAIRHEP_CACHE``, else ``$XDG_CACHE_HOME/fairhep``, else ``~/.cache/fairhep``."""
    env = os.environ.get(CACHE_ENV)
    if env:
        return Path(env)
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "fairhep"
