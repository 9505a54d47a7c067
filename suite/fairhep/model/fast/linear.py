"""``relu(linear(x))``, the one operation the edge MLPs spend their time in.

By default ``relu_(linear(x))``. ``fused=True`` (``--onednn``, the engine's
``EngineOptions.onednn``) uses oneDNN's fused linear + bias +
ReLU on the CPU (``torch.ops.mkldnn._linear_pointwise``, the kernel ``torch.compile`` uses for
CPU linears; it has no autograd formula, so training goes through :class:`_LinearReLU`, whose
backward is the textbook one). It is off by default because oneDNN builds and caches one
primitive per input shape, and the engine's shapes change with every batch's real-track
counts: measured here, streaming 20k jets through ``evaluate`` took twice the CPU time and
peaked at 1.0 GB instead of 0.34 GB (its primitive cache), although on shapes it has seen it
is ~25% faster than sgemm.
"""

from __future__ import annotations

import functools
from typing import Any

import torch
from torch import nn
from torch.nn import functional as nnf


@functools.cache
def onednn_available() -> bool:
    """Whether the fused oneDNN kernel exists and agrees with the plain ops here."""
    if not torch.backends.mkldnn.is_available():  # type: ignore[no-untyped-call]
        return False
    try:
        x = torch.linspace(-1.0, 1.0, 24).view(4, 6)
        w = torch.linspace(-0.5, 0.5, 18).view(3, 6)
        b = torch.tensor([0.1, -0.2, 0.0])
        with torch.no_grad():
            got = _pointwise(x, w, b)
        return bool(torch.allclose(got, torch.relu(nnf.linear(x, w, b)), atol=1e-6))
    except (RuntimeError, AttributeError):  # an old torch, or a build without the op
        return False


def _pointwise(x: torch.Tensor, w: torch.Tensor, b: torch.Tensor | None) -> torch.Tensor:
    out: torch.Tensor = torch.ops.mkldnn._linear_pointwise(x, w, b, "relu", [None], "")
    return out


class _LinearReLU(torch.autograd.Function):
    """Fused forward; backward through the ReLU's output (what autograd would do)."""

    @staticmethod
    def forward(ctx: Any, x: torch.Tensor, w: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
        out = _pointwise(x, w, b)
        ctx.save_for_backward(x, w, out)
        return out

    @staticmethod
    def backward(ctx: Any, *grads: torch.Tensor) -> tuple[torch.Tensor | None, ...]:
        x, w, out = ctx.saved_tensors
        g = torch.ops.aten.threshold_backward(grads[0], out, 0)  # ReLU's own backward kernel
        grad_x = g @ w if ctx.needs_input_grad[0] else None
        grad_w = g.t() @ x if ctx.needs_input_grad[1] else None
        grad_b = g.sum(dim=0) if ctx.needs_input_grad[2] else None
        return grad_x, grad_w, grad_b


def linear_relu(x: torch.Tensor, layer: nn.Linear, fused: bool = False) -> torch.Tensor:
    """``relu(layer(x))`` for 2-D ``x`` (rows, in) on any device; ``fused``: through oneDNN
    where it runs (CPU, float32, :func:`onednn_available`)."""
    if fused and x.device.type == "cpu" and x.dtype == torch.float32 and onednn_available():
        w, b = layer.weight, layer.bias
        if torch.is_grad_enabled() and (w.requires_grad or b.requires_grad or x.requires_grad):
            out: torch.Tensor = _LinearReLU.apply(x, w, b)  # type: ignore[no-untyped-call]
            return out
        return _pointwise(x, w, b)
    return nnf.relu(layer(x), inplace=True)
