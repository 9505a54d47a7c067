"""``--engine fast|reference`` and ``--precision fp32|tf32|bf16``, shared by ``train``,
``evaluate`` and ``bench``, and how the fast engine runs: ``--engine-compile``,
``--engine-buckets``, ``--engine-budget-mb`` and ``--onednn`` (also on ``task run``).

Spelled here without importing torch (the parser is built on every call); a test holds them
equal to :data:`fairhep.model.fast.ENGINES` / ``PRECISIONS`` / ``COMPILE_MODES``. The engine's
settings default to the variables ``FAIRHEP_ENGINE_COMPILE``, ``FAIRHEP_ENGINE_BUCKETS``,
``FAIRHEP_ENGINE_BUDGET_MB`` and ``FAIRHEP_ONEDNN=1`` (job files and ``tools/gpu-check`` set
them): this is the one place that reads them; the model layer is given
:class:`fairhep.model.fast.EngineSettings` by :func:`engine_settings`.
"""

from __future__ import annotations

import argparse
import os
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from fairhep.cli._values import OptionValueError, int_list, positive_float
from fairhep.errors import SettingError

if TYPE_CHECKING:
    from fairhep.model.fast import EngineSettings

ENGINE_CHOICES = ("fast", "reference")
PRECISION_CHOICES = ("fp32", "tf32", "bf16")
# torch.compile's modes, then "none" (eager): fairhep.model.fast.COMPILE_MODES + "none".
COMPILE_CHOICES = ("default", "reduce-overhead", "max-autotune", "max-autotune-no-cudagraphs",
                   "none")
COMPILE_ENV = "FAIRHEP_ENGINE_COMPILE"
BUCKETS_ENV = "FAIRHEP_ENGINE_BUCKETS"
BUDGET_ENV = "FAIRHEP_ENGINE_BUDGET_MB"
ONEDNN_ENV = "FAIRHEP_ONEDNN"


def compile_mode(text: str) -> str:
    """A ``torch.compile`` mode, or ``none`` for eager."""
    if text not in COMPILE_CHOICES:
        raise OptionValueError(f"{text!r} is not a torch.compile mode; give one of "
                               f"{', '.join(COMPILE_CHOICES[:-1])}, or none to run eagerly")
    return text


def bucket_sizes(text: str) -> tuple[int, ...]:
    """Bucket sizes such as ``20,40,60`` (a set of upper bounds on real tracks: ascending)."""
    return tuple(sorted(int_list(text)))


def _onednn(text: str) -> bool:
    if text not in ("", "0", "1"):
        raise OptionValueError(f"{text!r} is neither 1 (on) nor 0 (off)")
    return text == "1"


# dest -> (option, variable, parser of the variable's text)
_SETTINGS: dict[str, tuple[str, str, Callable[[str], Any]]] = {
    "engine_compile": ("--engine-compile", COMPILE_ENV, compile_mode),
    "engine_buckets": ("--engine-buckets", BUCKETS_ENV, bucket_sizes),
    "engine_budget_mb": ("--engine-budget-mb", BUDGET_ENV, positive_float),
    "onednn": ("--onednn", ONEDNN_ENV, _onednn),
}


def add_engine_options(p: argparse.ArgumentParser, precision: bool = True) -> None:
    p.add_argument("--engine", choices=ENGINE_CHOICES, default=ENGINE_CHOICES[0],
                   help="fast (default): the exact closed form for padded tracks and SVs, "
                   "equal to the network within float rounding; reference: the factored "
                   "dense forward that ONNX Runtime and TensorRT run")
    if precision:
        p.add_argument("--precision", choices=PRECISION_CHOICES, default="fp32",
                       help="matmul precision on CUDA (default fp32); tf32 and bf16 are "
                       "approximate and recorded as such")
    add_engine_settings_options(p)


def add_engine_settings_options(p: argparse.ArgumentParser, suppress: bool = False) -> None:
    """How the fast engine runs; none of it changes what it computes beyond float rounding.
    ``suppress``: leave the namespace alone when not given (a second parse of the same
    words, as ``task run`` does)."""
    unset = argparse.SUPPRESS if suppress else None
    p.add_argument("--engine-compile", type=compile_mode, metavar="MODE", default=unset,
                   help="fast engine on CUDA: the torch.compile mode of its chunk function "
                   f"({', '.join(COMPILE_CHOICES[:-1])}), or none to run eagerly (default: "
                   f"${COMPILE_ENV}, else max-autotune for inference and default for "
                   "training)")
    p.add_argument("--engine-buckets", type=bucket_sizes, metavar="SIZES", default=unset,
                   help="fast engine on CUDA: its fixed bucket sizes in real tracks, e.g. "
                   f"20,40,60 (fewer shapes to compile; default: ${BUCKETS_ENV}, else "
                   "8,16,24,32,40,48,60)")
    p.add_argument("--engine-budget-mb", type=positive_float, metavar="MB", default=unset,
                   help="fast engine: the memory budget of one chunk of jets in MB (default: "
                   f"${BUDGET_ENV}, else 64 on the CPU and 512 on CUDA)")
    p.add_argument("--onednn", action=argparse.BooleanOptionalAction, default=unset,
                   help="fast engine on the CPU: oneDNN's fused linear + ReLU, faster on "
                   "shapes it has seen but caching one kernel per shape (memory grows on "
                   f"streams of jets; default: on when ${ONEDNN_ENV}=1, else off)")


def engine_settings(args: argparse.Namespace) -> EngineSettings | None:
    """The fast engine's settings from ``args`` (any command's: options it lacks count as
    not given), each not given taken from its variable; None when nothing is set (the
    device's defaults, and torch not imported for it). A variable's bad value is a
    one-line SettingError naming it."""
    values: dict[str, Any] = {}
    for dest, (option, var, parse) in _SETTINGS.items():
        value = getattr(args, dest, None)
        raw = os.environ.get(var, "")
        if value is None and raw.strip():
            try:
                value = parse(raw.strip())
            except OptionValueError as exc:
                raise SettingError(f"${var}={raw!r} (the default of {option}): {exc}; fix "
                                   f"or unset it, or give {option}") from None
        values[dest] = value
    if all(v is None or v is False for v in values.values()):
        return None
    from fairhep.model.fast import EngineSettings

    return EngineSettings(compile=values["engine_compile"], buckets=values["engine_buckets"],
                          memory_budget_mb=values["engine_budget_mb"],
                          onednn=bool(values["onednn"]))
