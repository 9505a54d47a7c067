"""Host memory for GPU backends: pinned (page-locked) or pageable.

The paper timed host↔device copies from pinned buffers. A copy from pageable memory is staged
by the driver through a pinned bounce buffer (an extra host copy, no overlap); from pinned
memory it is one DMA. The bench lets a GPU backend place its input batches in pinned memory
before the clock starts (:meth:`fairhep.backends.Backend.host_arrays`), and the backend copies
its scores back into pinned memory; every record says which was used (``host_memory``).
Pinned memory is allocated through torch's caching host allocator, so it needs a torch with
CUDA; without one the backend stays pageable and says why.
"""

from __future__ import annotations

import numpy as np

from fairhep.devices import cuda_unavailable_reason

PINNED, PAGEABLE, AUTO = "pinned", "pageable", "auto"
CHOICES = (AUTO, PINNED, PAGEABLE)


def pinned_unavailable_reason() -> str | None:
    reason = cuda_unavailable_reason()
    return None if reason is None else f"pinned host memory needs torch with CUDA ({reason})"


def choose(wanted: str, device: str) -> tuple[str, str | None]:
    """(what a backend on ``device`` uses, a note when that is not what was asked for).
    ``auto`` is pinned on GPU backends where possible, pageable on CPU backends."""
    if wanted not in CHOICES:
        raise ValueError(f"host memory must be one of {', '.join(CHOICES)}, not {wanted!r}")
    if wanted == PAGEABLE:
        return PAGEABLE, None
    if device != "cuda":
        return PAGEABLE, (None if wanted == AUTO else
                          "pinned host memory only matters for GPU backends")
    reason = pinned_unavailable_reason()
    return (PAGEABLE, reason) if reason else (PINNED, None)


def pinned_copy(a: np.ndarray) -> np.ndarray:
    """A float32 copy of ``a`` in pinned memory (a NumPy view that keeps its buffer alive)."""
    import torch

    buffer = torch.empty(a.shape, dtype=torch.float32, pin_memory=True)
    out = buffer.numpy()  # the array holds a reference to the tensor: the memory stays
    out[...] = a
    return out
