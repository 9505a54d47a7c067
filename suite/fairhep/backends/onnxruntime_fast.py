"""ONNX Runtime on the fast graph (``onnxruntime-fast-cpu``, ``-cuda``, ``-tensorrt-ep``).

Not one of the paper's frameworks: the same published weights, as the graph of
:mod:`fairhep.model.fast.onnx_graph` (``fairhep export --engine fast``), whose scores agree with the
dense graph's within the fp32 tolerance. Records say so (``config.graph_form = fast``,
``config.paper_framework = false``); Table 8's ``onnxruntime`` rows stay the dense graph.

The graph alone is exact on any batch; its edge tensors are as wide as the batch's widest
jet. :meth:`OnnxRuntimeFastBackend.predict` is the router: it counts each jet's real tracks
(any feature ≠ 0), sorts the jets into the fast engine's buckets
(:data:`fairhep.model.fast.GPU_BUCKETS`: at most seven calls per batch) and runs the graph
once per bucket, so a jet with 10 real tracks does not pay for a neighbour's 60. The count is
taken over all schema features, so for a variant that drops features it can only be too high
(a wider bucket): never wrong, since the graph counts again on the features it reads.
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np

from fairhep import schema
from fairhep.backends.base import PreparedModel
from fairhep.backends.onnxruntime_backend import OnnxRuntimeBackend
from fairhep.errors import BackendUnavailable, FairhepError

GRAPH_NOTE = ("fast ONNX graph (this suite's exact closed form of the same weights, "
              "fairhep export --engine fast; not a paper framework)")


def route(tracks: np.ndarray, buckets: tuple[int, ...]) -> list[np.ndarray]:
    """Row indices of the jets in each bucket of real-track counts (empty buckets left out):
    a jet goes to the smallest bucket ≥ its count."""
    counts = np.count_nonzero(np.any(tracks != 0, axis=1), axis=1)
    which = np.searchsorted(np.asarray(buckets), counts, side="left")
    return [rows for b in range(len(buckets)) if len(rows := np.flatnonzero(which == b))]


class OnnxRuntimeFastBackend(OnnxRuntimeBackend):
    """One ONNX Runtime execution provider on the fast graph, with the bucket router."""

    name = "onnxruntime-fast"
    needs_onnx = False  # builds the fast graph itself, from the run's weights

    def __init__(self, provider: str = "CPUExecutionProvider", precision: str = "fp32",
                 route_jets: bool = True) -> None:
        super().__init__(provider, precision)
        self.route_jets = route_jets

    def _buckets(self) -> tuple[int, ...]:
        from fairhep.model.fast import GPU_BUCKETS

        return tuple(sorted({min(b, schema.N_TRACKS) for b in (*GPU_BUCKETS, schema.N_TRACKS)}))

    def extra_config(self) -> dict[str, object]:
        return {**super().extra_config(), "graph_form": "fast", "engine": GRAPH_NOTE,
                "paper_framework": False,
                "router_buckets": list(self._buckets()) if self.route_jets else None}

    def prepare(self, model: PreparedModel) -> None:
        reason = self.available()
        if reason:
            raise BackendUnavailable(reason)
        from fairhep.export import cached_onnx

        try:
            # Verified against the run (weights, configuration, form) or built again.
            path = cached_onnx(model.run_dir, model.cache_dir / "onnx", form="fast")
        except FairhepError as exc:
            raise BackendUnavailable(f"onnxruntime: fast graph export failed ({exc})") from exc
        super().prepare(replace(model, onnx_path=path))

    def predict(self, tracks: np.ndarray, svs: np.ndarray) -> np.ndarray:
        if not self.route_jets or len(tracks) == 0:
            return super().predict(tracks, svs)
        groups = route(tracks, self._buckets())
        if len(groups) == 1:  # one bucket: no gather, no scatter
            return super().predict(tracks, svs)
        out = np.empty((len(tracks), len(schema.CLASSES)), np.float32)
        for rows in groups:
            out[rows] = super().predict(tracks[rows], svs[rows])
        return out
