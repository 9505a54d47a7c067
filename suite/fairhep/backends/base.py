"""The one interface every inference backend implements, and what it builds itself from."""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

# Tolerances on per-jet |Δscore| against PyTorch CPU fp32 (the paper's reproducibility
# definition, §2.4: aggregates statistically consistent, single inferences within a stated
# tolerance). fp32 kernels differ only in summation order: a few ulp on the logits, well
# below 1e-5 on a softmax score. fp16 keeps ~3 significant digits through ~20 layers.
TOLERANCE: dict[str, float] = {"fp32": 1e-5, "fp16": 1e-2}
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

    def close(self) -> None:  # noqa: B027 - optional: a backend may hold nothing to release
        """Release sessions and device memory."""

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.label}>"
