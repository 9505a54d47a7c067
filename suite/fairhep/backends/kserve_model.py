"""The model class ``fairhep serve`` gives MLServer: an ONNX file run by ONNX Runtime.

MLServer speaks the KServe v2 / Open Inference Protocol (HTTP and gRPC) and ships no ONNX
runtime of its own; this class is the small piece between the two. MLServer imports it by
its dotted path from the model settings ``fairhep serve`` writes
(``implementation: fairhep.backends.kserve_model.OnnxRuntimeModel``, ``parameters.uri``: the
bundle's ``model.onnx``); the inputs, outputs and shapes the metadata endpoint names come from
the same settings, filled in from the model card. It lives in ``fairhep.backends`` because it
imports onnxruntime.

Every request is held to that metadata before anything is decoded (:func:`check_request`):
names, datatype, rank and every axis but the batch one exactly as advertised, one batch size
for all inputs, at most ``max_batch`` jets, as many numbers as the shape says. What fails is
an :class:`mlserver.errors.InferenceError`, which MLServer answers as HTTP 400 with a JSON
``{"error": ...}`` body (gRPC ``INVALID_ARGUMENT``), never a 500 or a silent cast.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np
from mlserver import MLModel
from mlserver.codecs import NumpyCodec
from mlserver.errors import InferenceError
from mlserver.types import InferenceRequest, InferenceResponse, MetadataModelResponse, Parameters

from fairhep.backends.onnxruntime_backend import _ort

NUMPY = {"FP32": np.float32}  # the v2 datatypes this model takes, and their dtype


def _names(tensors: Sequence[Any]) -> str:
    return ", ".join(t.name for t in tensors)


def check_request(model: str, payload: InferenceRequest, inputs: Sequence[Any],
                  outputs: Sequence[Any], max_batch: int) -> int:
    """Raise :class:`InferenceError` naming the first way ``payload`` differs from the
    metadata (``inputs``/``outputs``: MLServer's ``MetadataTensor``); return the batch size."""
    known = {t.name: t for t in inputs}
    given = [i.name for i in payload.inputs]
    for name in given:
        if name not in known:
            raise InferenceError(f"model {model}: no input named {name!r}; its inputs are "
                                 f"{_names(inputs)}")
    if len(set(given)) != len(given):
        raise InferenceError(f"model {model}: an input is given twice ({', '.join(given)})")
    missing = [n for n in known if n not in given]
    if missing:
        raise InferenceError(f"model {model}: input {', '.join(missing)} missing; the model "
                             f"takes {_names(inputs)}")
    batches: dict[str, int] = {}
    for i in payload.inputs:
        meta = known[i.name]
        if i.datatype != meta.datatype:
            raise InferenceError(f"model {model}: input {i.name} has datatype {i.datatype}; "
                                 f"the model takes {meta.datatype}")
        shape, want = list(i.shape), list(meta.shape)
        fixed_ok = len(shape) == len(want) and all(
            s == w for s, w in zip(shape[1:], want[1:], strict=True))
        if not fixed_ok or shape[0] < 1:
            raise InferenceError(
                f"model {model}: input {i.name} has shape {shape}; the model takes {want} "
                "(-1: any batch size of at least 1)")
        batches[i.name] = shape[0]
    if len(set(batches.values())) > 1:
        raise InferenceError(f"model {model}: the inputs' batch sizes differ ("
                             + ", ".join(f"{k}: {v}" for k, v in batches.items()) + ")")
    batch = next(iter(batches.values()))
    if batch > max_batch:
        raise InferenceError(f"model {model}: batch {batch} exceeds the maximum of {max_batch} "
                             "jets per request (fairhep serve --max-batch); split the request")
    wanted = {o.name for o in payload.outputs or ()}
    unknown = sorted(wanted - {o.name for o in outputs})
    if unknown:
        raise InferenceError(f"model {model}: no output named {', '.join(unknown)}; its "
                             f"outputs are {_names(outputs)}")
    return batch


def decode(model: str, i: Any) -> np.ndarray:
    """The input as a C-contiguous array of its shape, or :class:`InferenceError` when its
    data are not numbers of its datatype or not as many as the shape says. Strings, booleans
    and nulls are refused, not converted (numpy would read ``"1.5"`` as 1.5)."""
    dtype = np.dtype(NUMPY[i.datatype])
    data = i.data.root if hasattr(i.data, "root") else i.data
    if isinstance(data, bytes | bytearray):  # gRPC raw_input_contents: little-endian values
        count = len(data) / dtype.itemsize
        whole = len(data) % dtype.itemsize == 0
        array = np.frombuffer(data if whole else b"", dtype.newbyteorder("<"))
    else:
        try:
            array = np.asarray(data)
        except ValueError:  # ragged nesting
            array = np.asarray(data, dtype=object)
        if array.dtype.kind not in "fiu":
            raise InferenceError(f"model {model}: input {i.name}: its data are not all "
                                 f"{i.datatype} numbers")
        count = array.size
    if count != math.prod(i.shape):
        raise InferenceError(f"model {model}: input {i.name} has {count:g} values; its shape "
                             f"{list(i.shape)} needs {math.prod(i.shape)}")
    return np.ascontiguousarray(array.reshape(i.shape), dtype)


class OnnxRuntimeModel(MLModel):  # type: ignore[misc]  # mlserver ships no type hints
    """Every request input is fed by name to one CPU ONNX Runtime session; every graph
    output comes back (float32 scores for the IN). ``parameters.extra.max_batch`` caps the
    jets of one request."""

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
        extra = self.settings.parameters.extra or {}
        self._max_batch = int(extra.get("max_batch", 2**31 - 1))
        return True

    async def metadata(self) -> MetadataModelResponse:
        """MLServer's metadata, with ``parameters.graph_form`` (dense | fast) and
        ``parameters.version``: which of the bundle's graphs answers at this version."""
        meta = await super().metadata()
        extra = (self.settings.parameters.extra if self.settings.parameters else None) or {}
        known = meta.parameters.model_dump(exclude_none=True) if meta.parameters else {}
        meta.parameters = Parameters(**known, graph_form=extra.get("graph_form", "dense"),
                                     version=self.version)
        return meta

    async def predict(self, payload: InferenceRequest) -> InferenceResponse:
        check_request(self.name, payload, self.settings.inputs or [],
                      self.settings.outputs or [], self._max_batch)
        feeds = {i.name: decode(self.name, i) for i in payload.inputs}
        wanted = [o.name for o in payload.outputs] if payload.outputs else self._outputs
        values = self._session.run(wanted, feeds)
        return InferenceResponse(
            model_name=self.name,
            model_version=self.version,
            id=payload.id,
            outputs=[NumpyCodec.encode_output(name, np.asarray(v))
                     for name, v in zip(wanted, values, strict=True)],
        )
