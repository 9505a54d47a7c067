"""The fast IN engine: the published network, exactly, at the cost of its real tracks (one
package, one public face: the names below).

``forward`` (:func:`fast_logits`, :class:`EngineOptions`: padded tracks and SVs in closed form,
batched and differentiable), ``engine`` (:class:`FastEngine`: bound to a network, a device and
a precision; what the commands call through :func:`make_forward`), ``onnx_graph`` (the same
algebra as one ONNX graph for the portable runtimes, ``fairhep export --engine fast``),
``settings`` (:class:`EngineSettings`: what the commands' ``--engine-*`` options choose), and
their parts: ``algebra`` (one chunk's closed form), ``plan`` (padded slots found, jets grouped
and chunked), ``parallel`` (chunks side by side on the CPU's threads) and ``linear`` (the edge
MLPs' ``relu(linear(x))``).
"""

from __future__ import annotations

from fairhep.model.fast.engine import (
    FastEngine,
    check_engine,
    check_precision,
    engine_record,
    make_forward,
)
from fairhep.model.fast.forward import (
    DEFAULT_ENGINE,
    ENGINES,
    FAST_READ_JETS,
    GPU_BUCKETS,
    PRECISIONS,
    EngineOptions,
    fast_logits,
    scores,
)
from fairhep.model.fast.onnx_graph import BUILDER, MIN_OPSET, build_fast_graph
from fairhep.model.fast.settings import COMPILE_MODES, EngineSettings

__all__ = [
    "BUILDER",
    "COMPILE_MODES",
    "DEFAULT_ENGINE",
    "ENGINES",
    "FAST_READ_JETS",
    "GPU_BUCKETS",
    "MIN_OPSET",
    "PRECISIONS",
    "EngineOptions",
    "EngineSettings",
    "FastEngine",
    "build_fast_graph",
    "check_engine",
    "check_precision",
    "engine_record",
    "fast_logits",
    "make_forward",
    "scores",
]
