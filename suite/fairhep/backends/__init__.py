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

from abc import ABC, abstractmethod
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from fairhep.errors import ConfigError

# Tolerances on per-jet |Δscore| against PyTorch CPU fp32 (the paper's reproducibility
# definition, §2.4: aggregates statistically consistent, single inferences within a stated
# tolerance). fp32 kernels differ only in summation order: a few ulp on the logits, well
# below 1e-5 on a softmax score. fp16 keeps ~3 significant digits through ~20 layers.
TOLERANCE: dict[str, float] = {"fp32": 1e-5, "fp16": 1e-2}
REFERENCE = "torch-cpu-fp32"


@dataclass
class PreparedModel:
    """What a backend may build itself from: the trained run and its ONNX export."""

    run_dir: Path
    onnx_path: Path | None  # None: only backends that need no ONNX can prepare
    batch_sizes: tuple[int, ...] = (1, 128)  # an engine's optimisation profile must cover these
    cache_dir: Path = field(default_factory=lambda: Path(".fairhep-cache"))


class Backend(ABC):
    """One way of running the IN: framework (``name``), ``device``, EP and precision."""

    name: str = ""  # "torch" | "onnxruntime" | "tensorrt"
    device: str = "cpu"  # "cpu" | "cuda"
    provider: str | None = None  # ONNX Runtime execution provider, else None
    precision: str = "fp32"

    @property
    def label(self) -> str:
        """Unique, human name: ``torch-cpu``, ``onnxruntime-cuda``, ``tensorrt-fp16``."""
        return f"{self.name}-{self.device}"

    @property
    def tolerance(self) -> float:
        return TOLERANCE[self.precision]

    def config(self) -> dict[str, object]:
        """The record's config block for this backend (keys fixed by the brief)."""
        return {
            "label": self.label,
            "backend": self.name,
            "device": self.device,
            "provider": self.provider,
            "precision": self.precision,
            "reference": REFERENCE,
        }

    @abstractmethod
    def available(self) -> str | None:
        """None if this backend can run here, else the reason it cannot (cheap to call)."""

    @abstractmethod
    def prepare(self, model: PreparedModel) -> None:
        """Load or build what ``predict`` runs; may raise BackendUnavailable."""

    @abstractmethod
    def predict(self, tracks: np.ndarray, svs: np.ndarray) -> np.ndarray:
        """(B, 2) float32 scores on the host for host float32 inputs (B, 30, 60), (B, 14, 5)."""

    def close(self) -> None:
        """Release sessions and device memory."""

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.label}>"


def all_backends() -> list[Backend]:
    """Every backend fairhep knows, in Table 8 order (reference first); none is dropped."""
    from fairhep.backends.onnxruntime_backend import OnnxRuntimeBackend
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
    ]


def select_backends(names: Sequence[str] = ()) -> list[Backend]:
    """Backends matching ``names`` (framework ``torch`` or label ``onnxruntime-cpu``); all
    when empty. The reference (torch-cpu) is not added here; the modes add it when needed."""
    known = all_backends()
    if not names:
        return known
    chosen: list[Backend] = []
    for name in names:
        hits = [b for b in known if name in (b.name, b.label)]
        if not hits:
            choices = sorted({b.name for b in known} | {b.label for b in known})
            raise ConfigError(f"--backends: unknown backend {name!r}; choose from "
                              f"{', '.join(choices)}")
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
