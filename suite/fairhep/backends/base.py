"""The one interface every inference backend implements, and what it builds itself from."""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from fairhep.backends import pinned

# Tolerances on per-jet |Δscore| against PyTorch CPU fp32 (the paper's reproducibility
# definition, §2.4: aggregates statistically consistent, single inferences within a stated
# tolerance). fp32 kernels differ only in summation order: a few ulp on the logits, well
# below 1e-5 on a softmax score. fp16 keeps ~3 significant digits through ~20 layers. TF32
# rounds matmul inputs to fp16's 10 mantissa bits but accumulates and stores in fp32, so its
# errors stay an order of magnitude below fp16's (a row that may use TF32 is labelled "tf32").
TOLERANCE: dict[str, float] = {"fp32": 1e-5, "tf32": 1e-3, "fp16": 1e-2}
REFERENCE = "torch-cpu-fp32"


@dataclass(frozen=True)
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
    needs_onnx: bool = True  # built from the run's ONNX export (torch runs the weights)
    # Where host_arrays() puts inputs and predict() its scores (fairhep.backends.pinned);
    # the note says why it is not what was asked for.
    host_memory: str = pinned.PAGEABLE
    host_memory_note: str | None = None

    @property
    def label(self) -> str:
        """Unique, human name: ``torch-cpu``, ``onnxruntime-cuda``, ``tensorrt-fp16``."""
        return f"{self.name}-{self.device}"

    @property
    def tolerance(self) -> float:
        return TOLERANCE[self.precision]

    def config(self) -> dict[str, object]:
        """The record's config block for this backend (keys fixed by the brief; a backend
        adds its own through :meth:`extra_config`)."""
        return {
            "label": self.label,
            "backend": self.name,
            "device": self.device,
            "provider": self.provider,
            "precision": self.precision,
            "reference": REFERENCE,
            "host_memory": self.host_memory,
            "host_memory_note": self.host_memory_note,
            **self.extra_config(),
        }

    def extra_config(self) -> dict[str, object]:
        """What else a record must say about this backend (versions, math mode)."""
        return {}

    def use_host_memory(self, wanted: str = pinned.AUTO) -> None:
        """``auto`` (pinned on a GPU backend where possible), ``pinned`` or ``pageable``."""
        self.host_memory, self.host_memory_note = pinned.choose(wanted, self.device)

    def host_arrays(self, *arrays: np.ndarray) -> tuple[np.ndarray, ...]:
        """The inputs as this backend wants them on the host (contiguous float32, pinned when
        :attr:`host_memory` says so): called before the clock starts, never timed."""
        if self.host_memory == pinned.PINNED:
            return tuple(pinned.pinned_copy(a) for a in arrays)
        return tuple(np.ascontiguousarray(a, np.float32) for a in arrays)

    @abstractmethod
    def available(self) -> str | None:
        """None if this backend can run here, else the reason it cannot (cheap to call)."""

    @abstractmethod
    def prepare(self, model: PreparedModel) -> None:
        """Load or build what ``predict`` runs; may raise BackendUnavailable."""

    @abstractmethod
    def predict(self, tracks: np.ndarray, svs: np.ndarray) -> np.ndarray:
        """(B, 2) float32 scores on the host for host float32 inputs (B, 30, 60), (B, 14, 5)."""

    def close(self) -> None:  # noqa: B027 - optional: a backend may hold nothing to release
        """Release sessions and device memory."""

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.label}>"
