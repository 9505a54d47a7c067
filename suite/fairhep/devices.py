"""Choosing the torch device; the one place that turns ``--device auto|cpu|cuda`` into one."""

from __future__ import annotations

import torch

from fairhep.errors import BackendUnavailable


def cuda_unavailable_reason() -> str | None:
    if not torch.cuda.is_available():
        if torch.version.cuda is None:
            return "CUDA: this torch build has no CUDA support (CPU-only wheel)"
        return "CUDA: no GPU visible to torch"
    return None


def resolve_device(name: str = "auto") -> torch.device:
    """``auto`` = the GPU when there is one; asking for ``cuda`` without one is an error."""
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name == "cuda":
        reason = cuda_unavailable_reason()
        if reason:
            raise BackendUnavailable(f"--device cuda: {reason}; use --device cpu or auto")
        return torch.device("cuda")
    if name == "cpu":
        return torch.device("cpu")
    raise ValueError(f"unknown device {name!r}: choose auto, cpu or cuda")


def synchronize(device: torch.device) -> None:
    """Wait for queued GPU work, so that a timer around it measures the work itself."""
    if device.type == "cuda":
        torch.cuda.synchronize(device)
