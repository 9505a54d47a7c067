"""What a user may choose about how the fast engine runs (:class:`EngineSettings`): given by
the commands (``--engine-compile``, ``--engine-buckets``, ``--engine-budget-mb``,
``--onednn``), applied by :meth:`fairhep.model.fast.EngineOptions.for_device`. The model layer
reads nothing from the process: the command line does (its defaults are ``FAIRHEP_ENGINE_*``).

No torch here: the checks are shared with the command line's parsing.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

from fairhep.errors import SettingError

# torch.compile's modes; "none" runs the engine eagerly.
COMPILE_MODES = ("default", "reduce-overhead", "max-autotune", "max-autotune-no-cudagraphs")
EAGER = "none"


def check_compile(mode: str) -> str:
    """A torch.compile mode or ``none``; ValueError naming the choices otherwise."""
    if mode not in (*COMPILE_MODES, EAGER):
        raise ValueError(f"give one of {', '.join((*COMPILE_MODES, EAGER))}")
    return mode


def check_buckets(sizes: Sequence[int]) -> tuple[int, ...]:
    """Ascending distinct positive sizes; ValueError saying what to give otherwise."""
    b = tuple(int(v) for v in sizes)
    if not b or list(b) != sorted(set(b)) or b[0] < 1:
        raise ValueError("give ascending positive sizes like 20,40,60")
    return b


def check_budget(mb: float) -> float:
    """A finite positive number of megabytes; ValueError saying what to give otherwise."""
    if not (math.isfinite(mb) and mb > 0):
        raise ValueError("give a positive number of megabytes, like 64")
    return float(mb)


@dataclass(frozen=True)
class EngineSettings:
    """The fast engine's user-level settings; None leaves the device's default.

    ``compile``: a ``torch.compile`` mode for the chunk function on CUDA, or ``none`` for
    eager; ``buckets``: the CUDA bucket sizes (fewer shapes compile sooner);
    ``memory_budget_mb``: a chunk's memory budget; ``onednn``: oneDNN's fused linear + ReLU on
    the CPU (:mod:`fairhep.model.fast.linear`)."""

    compile: str | None = None
    buckets: tuple[int, ...] | None = None
    memory_budget_mb: float | None = None
    onednn: bool = False

    def __post_init__(self) -> None:
        checks = (("compile", check_compile), ("buckets", check_buckets),
                  ("memory_budget_mb", check_budget))
        for name, check in checks:
            value = getattr(self, name)
            if value is None:
                continue
            try:
                object.__setattr__(self, name, check(value))
            except (TypeError, ValueError) as exc:
                raise SettingError(f"engine {name} {value!r}: {exc}") from None
