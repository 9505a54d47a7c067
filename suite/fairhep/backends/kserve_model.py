"""The model class ``fairhep serve`` gives MLServer: an ONNX file run by ONNX Runtime.

MLServer speaks the KServe v2 / Open Inference Protocol (HTTP and gRPC) and ships no ONNX
runtime of its own; this class is the small piece between the two. MLServer imports it by
its dotted path from the model settings ``fairhep serve`` writes
(``implementation: fairhep.backends.kserve_model.OnnxRuntimeModel``, ``parameters.uri``: the
bundle's ``model.onnx``); the inputs, outputs and shapes the metadata endpoint names come from
the same settings, filled in from the model card. It lives in ``fairhep.backends`` because it
imports onnxruntime.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from mlserver import MLModel
from mlserver.codecs import NumpyCodec
from mlserver.types import InferenceRequest, InferenceResponse

from fairhep.backends.onnxruntime_backend import _ort


class OnnxRuntimeModel(MLModel):  # type: ignore[misc]  # mlserver ships no type hints
    """Every request input is fed by name to one CPU ONNX Runtime session; every graph
    output comes back (float32 scores for the IN)."""

    _session: Any = None

    async def load(self) -> bool:
        uri = self.settings.parameters.uri if self.settings.parameters else None
        if not uri:
            raise ValueError(f"model {self.name}: parameters.uri (the .onnx file) is not set")
        ort = _ort()
        opts = ort.SessionOptions()
        opts.log_severity_level = 3
        self._session = ort.InferenceSession(uri, opts, providers=["CPUExecutionProvider"])
        self._outputs = [o.name for o in self._session.get_outputs()]
        return True

    async def predict(self, payload: InferenceRequest) -> InferenceResponse:
        feeds = {i.name: np.ascontiguousarray(NumpyCodec.decode_input(i), np.float32)
                 for i in payload.inputs}
        wanted = [o.name for o in payload.outputs] if payload.outputs else self._outputs
        values = self._session.run(wanted, feeds)
        return InferenceResponse(
            model_name=self.name,
            model_version=self.version,
            id=payload.id,
            outputs=[NumpyCodec.encode_output(name, np.asarray(v))
                     for name, v in zip(wanted, values, strict=True)],
        )
