"""What an ONNX file of the IN says about itself, and what it cannot say.

A file ``fairhep export`` wrote carries ``fairhep.*`` metadata (feature names, units, padding,
the dataset DOI, the model config). A foreign file, such as the FAIR export (inputs
``input_cpf`` / ``input_sv`` with a ``batch_size`` axis, opset 11, no metadata), says only its
tensor names, types and shapes, its opset and its producer. :func:`describe_onnx` reads both;
what a card needs and the file does not say comes from the caller's options, and what the
suite's runtimes cannot feed is refused with one line naming the file.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from fairhep import schema
from fairhep.errors import FairhepError

META_PREFIX = "fairhep."
FLOAT = 1  # onnx.TensorProto.FLOAT


class OnnxFileError(FairhepError):
    """An ONNX file that cannot be read, or that is not an IN the suite can feed."""


@dataclass(frozen=True)
class Tensor:
    """One graph input or output: name, element type and shape (None: a symbolic axis)."""

    name: str
    dtype: str
    shape: tuple[int | None, ...]
    axis_names: tuple[str | None, ...]
    doc: str = ""

    def as_card(self) -> dict[str, Any]:
        return {"name": self.name, "dtype": self.dtype,
                "shape": [d if d is not None else -1 for d in self.shape],
                "axes": [a or (str(d) if d is not None else "?")
                         for a, d in zip(self.axis_names, self.shape, strict=True)],
                "doc": self.doc}


@dataclass(frozen=True)
class OnnxDescription:
    path: Path
    inputs: tuple[Tensor, ...]
    outputs: tuple[Tensor, ...]
    opset: int
    producer: str
    ir_version: int
    metadata: dict[str, str] = field(default_factory=dict)  # fairhep.* without the prefix
    other_metadata: dict[str, str] = field(default_factory=dict)

    @property
    def has_fairhep_metadata(self) -> bool:
        return bool(self.metadata)

    def dropped(self, which: str) -> tuple[str, ...]:
        """Features the model ignores (``track`` or ``sv``), from the metadata: an explicit
        ``<which>_features_dropped`` list where the exporter wrote one, else the schema's
        features missing from ``used_<which>_features``."""
        names = schema.TRACK_FEATURES if which == "track" else schema.SV_FEATURES
        explicit = self.metadata.get(f"{which}_features_dropped")
        if explicit is not None:
            return tuple(n for n in explicit.split(",") if n)
        used = self.metadata.get(f"used_{which}_features")
        if used is None:
            return ()
        kept = set(used.split(","))
        return tuple(n for n in names if n not in kept)

    def model_config(self) -> dict[str, Any] | None:
        text = self.metadata.get("model_config")
        try:
            return dict(json.loads(text)) if text else None
        except ValueError:
            return None


def _tensor(value: Any) -> Tensor:
    import onnx

    tt = value.type.tensor_type
    dims: list[int | None] = []
    axes: list[str | None] = []
    for d in tt.shape.dim:
        dims.append(d.dim_value if d.HasField("dim_value") else None)
        axes.append(d.dim_param or None)
    dtype = onnx.helper.tensor_dtype_to_np_dtype(tt.elem_type).name if tt.elem_type else "?"
    return Tensor(value.name, dtype, tuple(dims), tuple(axes), value.doc_string)


def read_onnx(path: Path) -> OnnxDescription:
    """The interface and metadata of an ONNX file; a file ONNX cannot read is one line."""
    import onnx

    path = Path(path)
    if not path.is_file():
        raise OnnxFileError(f"{path}: no such ONNX file")
    try:
        proto = onnx.load(str(path), load_external_data=False)
        onnx.checker.check_model(proto)
    except Exception as exc:  # onnx raises DecodeError, ValidationError, ...
        first = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
        raise OnnxFileError(f"{path}: not a valid ONNX model ({first}); export it again") from None
    initializers = {i.name for i in proto.graph.initializer}
    inputs = tuple(_tensor(v) for v in proto.graph.input if v.name not in initializers)
    opset = max((o.version for o in proto.opset_import if o.domain in ("", "ai.onnx")), default=0)
    meta = {p.key: p.value for p in proto.metadata_props}
    return OnnxDescription(
        path=path,
        inputs=inputs,
        outputs=tuple(_tensor(v) for v in proto.graph.output),
        opset=opset,
        producer=f"{proto.producer_name} {proto.producer_version}".strip() or "unknown",
        ir_version=proto.ir_version,
        metadata={k[len(META_PREFIX):]: v for k, v in meta.items() if k.startswith(META_PREFIX)},
        other_metadata={k: v for k, v in meta.items() if not k.startswith(META_PREFIX)},
    )


def check_in_interface(desc: OnnxDescription) -> None:
    """Refuse, in one line, a file the suite's runtimes cannot feed as the IN: two float32
    inputs ``input_cpf`` (batch, 30, 60) and ``input_sv`` (batch, 14, 5) with a free batch
    axis, and a float32 ``output1`` (batch, 2)."""
    path = desc.path
    wanted = {schema.ONNX_INPUT_TRACKS: schema.TRACK_SHAPE, schema.ONNX_INPUT_SVS: schema.SV_SHAPE}
    names = [t.name for t in desc.inputs]
    if sorted(names) != sorted(wanted):
        raise OnnxFileError(
            f"{path}: inputs are {names}; fairhep's runtimes feed the FAIR export's "
            f"{list(wanted)}: rename the graph inputs (e.g. with onnx.compose.add_prefix or "
            "by re-exporting) before packaging")
    for t in desc.inputs:
        _check_tensor(path, t, wanted[t.name], "input")
    outs = [t.name for t in desc.outputs]
    if schema.ONNX_OUTPUT not in outs:
        raise OnnxFileError(f"{path}: outputs are {outs}; fairhep reads {schema.ONNX_OUTPUT!r} "
                            "(batch, 2) softmax scores: rename the output or re-export")
    out = next(t for t in desc.outputs if t.name == schema.ONNX_OUTPUT)
    _check_tensor(path, out, schema.TARGET_SHAPE, "output")


def _check_tensor(path: Path, t: Tensor, per_jet: tuple[int, ...], what: str) -> None:
    shape = "x".join("?" if d is None else str(d) for d in t.shape)
    if t.dtype != "float32":
        raise OnnxFileError(f"{path}: {what} {t.name} is {t.dtype}; the IN takes and gives "
                            "float32 (export the model in fp32)")
    if len(t.shape) != len(per_jet) + 1 or tuple(t.shape[1:]) != per_jet:
        full = "x".join(str(d) for d in per_jet)
        hint = (" (an ablated export that takes fewer features: re-export it taking the full "
                "arrays and selecting its features inside the graph, as `fairhep export` does)"
                if what == "input" else "")
        raise OnnxFileError(f"{path}: {what} {t.name} has shape {shape}, the IN's is "
                            f"batch x {full}{hint}")
    if t.shape[0] is not None:
        raise OnnxFileError(f"{path}: {what} {t.name} has a fixed batch of {t.shape[0]} "
                            f"(shape {shape}); export it with a dynamic batch axis")
