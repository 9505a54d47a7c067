"""Inference backends: one small interface, one implementation per framework.

Every backend takes host (NumPy) arrays and returns host scores, so a timer around
:meth:`Backend.predict` measures what the paper's Table 8 measured: host→device copy,
inference, device→host copy. ``predict`` returns only when the result is on the host, so GPU
work is finished (synchronised) when it returns.

A backend that cannot run here says why through :meth:`Backend.available` (a reason shaped
``"<component>: <what is missing>"``, e.g. ``"tensorrt: module not installed"`` or
``"CUDA: no GPU visible to torch"``) or by raising :class:`~fairhep.errors.BackendUnavailable`
from :meth:`Backend.prepare`; the bench modes record it as skipped with that reason.

This package is the only place in fairhep that imports onnxruntime or tensorrt, and it
imports them lazily, so listing backends works where neither is installed.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from fairhep.backends.base import REFERENCE, TOLERANCE, Backend, PreparedModel
from fairhep.errors import ConfigError

if TYPE_CHECKING:
    from fairhep.model.fast import EngineSettings


def all_backends(engine: EngineSettings | None = None) -> list[Backend]:
    """Every backend fairhep knows, in Table 8 order (reference first); none is dropped.
    ``engine``: how the fast engine's backends run (the commands' ``--engine-*``)."""
    from fairhep.backends.fast_backend import FastBackend
    from fairhep.backends.onnxruntime_backend import OnnxRuntimeBackend
    from fairhep.backends.onnxruntime_fast import OnnxRuntimeFastBackend
    from fairhep.backends.tensorrt_backend import TensorRTBackend
    from fairhep.backends.torch_backend import TorchBackend

    return [
        TorchBackend("cpu"),
        TorchBackend("cuda"),
        OnnxRuntimeBackend("CPUExecutionProvider"),
        OnnxRuntimeBackend("CUDAExecutionProvider"),
        OnnxRuntimeBackend("TensorrtExecutionProvider"),
        TensorRTBackend("fp32"),
        TensorRTBackend("fp16"),
        # This suite's engine, not a paper framework.
        FastBackend("cpu", settings=engine), FastBackend("cuda", settings=engine),
        # This suite's fast graph on ONNX Runtime: same weights, not the paper's graph.
        OnnxRuntimeFastBackend("CPUExecutionProvider"),
        OnnxRuntimeFastBackend("CUDAExecutionProvider"),
        OnnxRuntimeFastBackend("TensorrtExecutionProvider"),
    ]


def select_backends(names: Sequence[str] = (), known: Sequence[Backend] | None = None,
                    option: str = "--backends", engine: EngineSettings | None = None
                    ) -> list[Backend]:
    """Backends matching ``names`` (framework ``torch`` or label ``onnxruntime-cpu``); all
    when empty. The reference (torch-cpu) is not added here; the modes add it when needed.
    ``known``: choose among these instead of :func:`all_backends` (``option`` names the
    command-line option in the error; ``engine``: the fast engine's settings, for
    :func:`all_backends`)."""
    known = list(known) if known is not None else all_backends(engine)
    if not names:
        return known
    chosen: list[Backend] = []
    for name in names:
        hits = [b for b in known if name in (b.name, b.label)]
        if not hits:
            choices = sorted({b.name for b in known} | {b.label for b in known})
            raise ConfigError(f"{option}: unknown {option.strip('-').rstrip('s')} {name!r}; "
                              f"choose from {', '.join(choices)}")
        chosen += [b for b in hits if b not in chosen]
    return chosen


def availability() -> dict[str, str | None]:
    """label -> None (can run) or the reason it cannot, for every known backend."""
    return {b.label: b.available() for b in all_backends()}


__all__ = [
    "REFERENCE",
    "TOLERANCE",
    "Backend",
    "PreparedModel",
    "all_backends",
    "availability",
    "select_backends",
]
