"""``relu(linear(x))``, the one operation the edge MLPs spend their time in.

On the CPU, oneDNN's fused linear + bias + ReLU (``torch.ops.mkldnn._linear_pointwise``, the
kernel ``torch.compile`` uses for CPU linears) runs the IN's skinny products (K = 60) about
1.5× faster than MKL's sgemm followed by separate bias and ReLU passes (measured here: 80 vs
50 GFLOP/s on one core), and writes the edge tensor once instead of three times. It has no
autograd formula, so training goes through :class:`_LinearReLU`, whose backward is the
textbook one. Elsewhere (CUDA, a torch without oneDNN, ``FAIRHEP_ONEDNN=0``) it is
``relu_(linear(x))``.
"""

from __future__ import annotations

import functools
import os
from typing import Any

import torch
from torch import nn
from torch.nn import functional as nnf


@functools.cache
def onednn_available() -> bool:
    """Whether the fused oneDNN kernel exists and agrees with the plain ops here."""
    if os.environ.get("FAIRHEP_ONEDNN") == "0":
        return False
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


def linear_relu(x: torch.Tensor, layer: nn.Linear) -> torch.Tensor:
    """``relu(layer(x))`` for 2-D ``x`` (rows, in) on any device."""
    if x.device.type == "cpu" and x.dtype == torch.float32 and onednn_available():
        w, b = layer.weight, layer.bias
        if torch.is_grad_enabled() and (w.requires_grad or b.requires_grad or x.requires_grad):
            out: torch.Tensor = _LinearReLU.apply(x, w, b)  # type: ignore[no-untyped-call]
            return out
        return _pointwise(x, w, b)
    return nnf.relu(layer(x), inplace=True)
