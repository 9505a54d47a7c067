"""Exporting a trained run to ONNX, self-describing (Les Houches checklist, paper §2.4).

The exported graph is :class:`fairhep.model.ScoreModel` (softmax inside, as the FAIR export
had it) with the FAIR export's tensor names (``schema.ONNX_INPUT_TRACKS`` = ``input_cpf``,
``schema.ONNX_INPUT_SVS`` = ``input_sv``, ``schema.ONNX_OUTPUT`` = ``output1``). We keep those
names rather than clearer ones so that consumers written for the published .onnx files feed
ours unchanged; what each name means is spelled out in the tensors' ``doc_string`` and in the
metadata below, so nothing has to be guessed.

``metadata_props`` carry everything a reader of the .onnx alone needs: the input interface
from :func:`fairhep.schema.describe` (feature names and order, units, padding, layouts,
classes), the tensor names, the model id (a hash of the weights) and version, the fairhep
version and the training-data DOI. See :func:`read_metadata`.

This module only knows ONNX; TensorRT engines are built by ``fairhep.backends`` (the one
place that imports tensorrt), from the file written here.
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import json
import logging
import os
import re
import tempfile
import warnings
from pathlib import Path
from typing import TYPE_CHECKING, Any

import torch

from fairhep import __version__, schema
from fairhep.errors import FairhepError
from fairhep.model import BEST_WEIGHTS, InteractionNetwork, ScoreModel, load_run_model
from fairhep.writable import ensure_writable

if TYPE_CHECKING:
    import onnx

# TensorRT 8.6's ONNX parser reads opsets up to 17 (TensorRT 10 reads newer ones); the
# dynamo exporter emits 18 and converts down. ONNX Runtime reads both. A file is written only
# in the opset asked for: the dynamo exporter keeps 18 when it cannot convert (asked for 3,
# it writes 18 with a warning), and a consumer that needs 17 would only find out later.
DEFAULT_OPSET = schema.ONNX_OPSET
EXPORTERS = ("auto", "dynamo", "torchscript")
META_PREFIX = "fairhep."
GRAPH_HASH = "graph_sha256"  # metadata key (after META_PREFIX): see graph_sha256()
# The two graphs of one set of weights (metadata ``graph_form``): same inputs, outputs and
# scores (within 1e-5); the dense one stays the reference the paper published.
FORMS = {
    "dense": "the published network as the paper exported it: every track pair evaluated",
    "fast": "the same weights computed the fast way (fairhep.model.fast.onnx_graph): padded tracks "
            "and SVs in closed form, edges only among the batch's real tracks; same scores "
            "as the dense form within 1e-5",
}
# torch.onnx.export gained ``dynamo=`` (and torch.export.Dim its use here) in torch 2.5; the
# ppc64le stack has torch 2.1.2, where only the plain TorchScript exporter exists.
DYNAMO_MIN_TORCH = (2, 5)
# ``auto`` (the default) takes the dynamo exporter from the first torch it was measured to
# export this network with a dynamic batch on (2.13, the x86_64-cpu stack); before, the
# TorchScript exporter the paper's ONNX was made with. Measured: torch 2.8.0's dynamo exporter
# (x86_64-cuda stack) fails on it ("No ONNX function found for aten.sym_size.int").
DYNAMO_DEFAULT_MIN_TORCH = (2, 13)


class ExportError(FairhepError):
    """The model could not be exported or the exported file does not check."""


def weights_hash(net: InteractionNetwork) -> str:
    """sha256 over the state_dict (names, shapes, float32 bytes): the model's identity.

    Hashing tensors rather than the .pth file makes the id independent of how torch
    serialised the checkpoint (zip layout, pickle protocol)."""
    h = hashlib.sha256()
    for name, tensor in sorted(net.state_dict().items()):
        t = tensor.detach().to("cpu", torch.float32).contiguous()
        h.update(name.encode())
        h.update(str(tuple(t.shape)).encode())
        h.update(t.numpy().tobytes())
    return h.hexdigest()


def model_id(net: InteractionNetwork) -> str:
    return "in-" + weights_hash(net)[:16]


def onnx_metadata(
    net: InteractionNetwork, opset: int, weights: str = BEST_WEIGHTS, exporter: str = "auto",
    form: str = "dense",
) -> dict[str, str]:
    """The metadata_props written into the .onnx (all values are strings, as ONNX wants);
    ``form`` is :data:`FORMS`' dense (the paper's graph) or fast (:func:`export_fast_onnx`)."""
    desc = schema.describe()
    c = net.config
    d = c.to_dict()
    meta: dict[str, Any] = {
        "model_id": model_id(net),
        "model_version": weights_hash(net),
        "model_weights": weights,
        "model_config": json.dumps(d),
        "exporter": exporter,
        "graph_form": form,
        "graph_form_meaning": FORMS[form],
        "model_parameters": net.n_parameters(),
        "model_reference": schema.MODEL_REFERENCE,
        "paper_doi": schema.PAPER_DOI,
        "fairhep_version": __version__,
        "torch_version": torch.__version__,
        "opset": opset,
        "dataset_doi": schema.DATASET_DOI,
        "dataset_citation": schema.DATASET_CITATION,
        "input_tracks": schema.ONNX_INPUT_TRACKS,
        "input_svs": schema.ONNX_INPUT_SVS,
        "output": schema.ONNX_OUTPUT,
        "tracks_layout": desc["tracks_layout"],
        "svs_layout": desc["svs_layout"],
        "track_features": ",".join(schema.TRACK_FEATURES),
        "track_units": ",".join(str(f.unit) for f in schema.TRACK_FEATURE_SPECS),
        "sv_features": ",".join(schema.SV_FEATURES),
        "sv_units": ",".join(str(f.unit) for f in schema.SV_FEATURE_SPECS),
        "n_tracks": schema.N_TRACKS,
        "n_svs": schema.N_SVS,
        "padding": desc["padding"],
        "output_meaning": desc["output"],
        "classes": ",".join(schema.CLASSES),
        # Variants trained without some features still take the full arrays (they pick their
        # own rows inside), so a consumer always feeds the schema order above.
        "used_track_features": ",".join(c.track_features),
        "used_sv_features": ",".join(c.sv_features),
        # What the variant does not read: names, and indices in the track/sv_features order.
        "track_features_dropped": ",".join(c.track_features_dropped),
        "sv_features_dropped": ",".join(c.sv_features_dropped),
        "track_indices_dropped": ",".join(str(i) for i in d["track_indices_dropped"]),
        "sv_indices_dropped": ",".join(str(i) for i in d["sv_indices_dropped"]),
        "schema": json.dumps(desc, sort_keys=True),
    }
    return {META_PREFIX + k: str(v) for k, v in meta.items()}


def default_onnx_path(run_dir: Path) -> Path:
    return Path(run_dir) / "model.onnx"


def export_onnx(
    run_dir: Path,
    out: Path | None = None,
    opset: int = DEFAULT_OPSET,
    exporter: str = "auto",
    weights: str = BEST_WEIGHTS,
) -> Path:
    """Export the run's model (``weights`` file) as a checked, self-describing .onnx file."""
    import onnx

    if exporter not in EXPORTERS:
        raise ExportError(f"unknown exporter {exporter!r}: choose {' or '.join(EXPORTERS)}")
    run_dir = Path(run_dir)
    out = Path(out) if out is not None else default_onnx_path(run_dir)
    net = load_run_model(run_dir, weights)
    # A published model's run directory may be read-only: say so before exporting.
    ensure_writable(out.parent, "ONNX output directory", "choose another file with --out")
    used = exporter_for(exporter, torch.__version__)
    newest = onnx.defs.onnx_opset_version()
    if not 1 <= opset <= newest:
        raise ExportError(f"opset {opset}: ONNX {onnx.__version__} defines opsets 1 to "
                          f"{newest}; choose one of them (default {DEFAULT_OPSET})")
    proto = _export_proto(ScoreModel(net).eval(), opset, used, torch.__version__)
    written = max((o.version for o in proto.opset_import if o.domain in ("", "ai.onnx")),
                  default=opset)
    if written != opset:
        raise ExportError(
            f"opset {opset}: the {used} exporter of torch {torch.__version__} cannot write "
            f"it (it made opset {written}); nothing was written; choose another opset, e.g. "
            f"{DEFAULT_OPSET} (the default)"
            + (" or --exporter torchscript" if used != "torchscript" else ""))

    return _finish(proto, net, run_dir, out, opset, weights, used, "dense")


def default_fast_onnx_path(run_dir: Path) -> Path:
    return Path(run_dir) / "model-fast.onnx"


def export_fast_onnx(run_dir: Path, out: Path | None = None, opset: int = DEFAULT_OPSET,
                     weights: str = BEST_WEIGHTS) -> Path:
    """The run's model as the fast graph (:mod:`fairhep.model.fast.onnx_graph`): the dense
    export's interface, metadata and checks, plus ``graph_form = fast``; its
    ``model_version`` is the weights hash it was built from."""
    import onnx

    from fairhep.model.fast.onnx_graph import BUILDER, MIN_OPSET, build_fast_graph

    run_dir = Path(run_dir)
    out = Path(out) if out is not None else default_fast_onnx_path(run_dir)
    net = load_run_model(run_dir, weights)
    ensure_writable(out.parent, "ONNX output directory", "choose another file with --out")
    newest = onnx.defs.onnx_opset_version()
    if not MIN_OPSET <= opset <= newest:
        raise ExportError(f"opset {opset}: the fast graph is written in opsets {MIN_OPSET} to "
                          f"{newest} (ONNX {onnx.__version__}); choose one of them "
                          f"(default {DEFAULT_OPSET})")
    proto = build_fast_graph(net, opset)
    return _finish(proto, net, run_dir, out, opset, weights, BUILDER, "fast")


def _finish(proto: onnx.ModelProto, net: InteractionNetwork, run_dir: Path, out: Path,
            opset: int, weights: str, exporter: str, form: str) -> Path:
    """Describe, check and write ``proto`` (either form) to ``out`` atomically."""
    import onnx

    proto.doc_string = (
        f"H->bb vs QCD interaction network ({schema.MODEL_REFERENCE}); softmax scores; "
        f"{form} form: {FORMS[form]}. "
        f"Exported by fairhep {__version__}; see metadata_props '{META_PREFIX}*'."
    )
    proto.producer_name = "fairhep"
    proto.producer_version = __version__
    docs = {
        schema.ONNX_INPUT_TRACKS: "tracks: (batch, 30 features, 60 tracks) float32, features "
        f"in {META_PREFIX}track_features order, zero-padded",
        schema.ONNX_INPUT_SVS: "secondary vertices: (batch, 14 features, 5 SVs) float32, "
        f"features in {META_PREFIX}sv_features order, zero-padded",
        schema.ONNX_OUTPUT: "(batch, 2) softmax scores: column 0 = QCD, column 1 = H->bb",
    }
    for value in list(proto.graph.input) + list(proto.graph.output):
        value.doc_string = docs.get(value.name, "")
    del proto.metadata_props[:]
    for key, value in onnx_metadata(net, opset, weights, exporter, form).items():
        proto.metadata_props.add(key=key, value=value)
    # Binds the graph (its weights included) to the metadata naming the torch weights, so a
    # cached file whose weights were altered is not taken for the export (cached_onnx).
    proto.metadata_props.add(key=META_PREFIX + GRAPH_HASH, value=graph_sha256(proto))

    try:
        onnx.checker.check_model(proto, full_check=True)
    except Exception as exc:  # onnx raises ValidationError/InferenceError
        raise ExportError(f"{run_dir}: exported ONNX graph fails onnx.checker: {exc}") from exc
    out.parent.mkdir(parents=True, exist_ok=True)
    # Per-process name: two processes filling one cache must not rename each other's file.
    tmp = out.with_name(f".{out.name}.{os.getpid()}.tmp")
    onnx.save_model(proto, str(tmp))
    tmp.replace(out)
    return out


def _torch_release(torch_version: str) -> tuple[int, int]:
    found = re.match(r"(\d+)\.(\d+)", torch_version)
    if not found:
        raise ExportError(f"cannot read the torch version {torch_version!r}")
    return int(found.group(1)), int(found.group(2))


def exporter_for(requested: str, torch_version: str) -> str:
    """The exporter that runs: ``requested``, except that torch < 2.5 has only TorchScript;
    ``auto`` is dynamo from :data:`DYNAMO_DEFAULT_MIN_TORCH` on, TorchScript before."""
    if requested not in EXPORTERS:
        raise ExportError(f"unknown exporter {requested!r}: choose {' or '.join(EXPORTERS)}")
    release = _torch_release(torch_version)
    if release < DYNAMO_MIN_TORCH:
        return "torchscript"
    if requested == "auto":
        return "dynamo" if release >= DYNAMO_DEFAULT_MIN_TORCH else "torchscript"
    return requested


def export_arguments(exporter: str, torch_version: str, inputs: list[str],
                     outputs: list[str], opset: int) -> dict[str, Any]:
    """The keyword arguments of ``torch.onnx.export`` for ``exporter`` on ``torch_version``.

    torch < 2.5 knows neither ``dynamo=`` nor ``torch.export.Dim``: it gets the plain
    TorchScript call, with the batch axis made dynamic through ``dynamic_axes``."""
    common: dict[str, Any] = {"opset_version": opset, "input_names": inputs,
                              "output_names": outputs}
    axes = {n: {0: "batch"} for n in inputs + outputs}
    if _torch_release(torch_version) < DYNAMO_MIN_TORCH:
        if exporter != "torchscript":
            raise ExportError(f"torch {torch_version} has no {exporter} exporter")
        return {**common, "dynamic_axes": axes}
    if exporter == "dynamo":
        batch = torch.export.Dim("batch", min=1)
        return {**common, "dynamo": True, "dynamic_shapes": ({0: batch}, {0: batch}),
                "verbose": False}
    return {**common, "dynamo": False, "dynamic_axes": axes}


def _export_proto(model: ScoreModel, opset: int, exporter: str,
                  torch_version: str) -> onnx.ModelProto:
    """Trace ``model`` into a ModelProto with a dynamic batch axis."""
    import onnx

    example = (
        torch.zeros(2, *schema.TRACK_SHAPE, dtype=torch.float32),
        torch.zeros(2, *schema.SV_SHAPE, dtype=torch.float32),
    )
    # The exporters print progress lines, log notes and raise their own deprecation warnings
    # (nothing a user can act on); keep the output ours, and show the chatter on failure.
    # The result is judged by onnx.checker and the parity tests, not by these messages.
    chatter = io.StringIO()
    quiet = [logging.getLogger(n) for n in ("torch.onnx", "onnxscript", "torch.export")]
    levels = [q.level for q in quiet]
    try:
        for q in quiet:
            q.setLevel(logging.ERROR)
        kwargs = export_arguments(exporter, torch_version, [schema.ONNX_INPUT_TRACKS,
                                  schema.ONNX_INPUT_SVS], [schema.ONNX_OUTPUT], opset)
        with contextlib.redirect_stdout(chatter), contextlib.redirect_stderr(chatter), \
                warnings.catch_warnings():
            warnings.simplefilter("ignore")
            if kwargs.get("dynamo"):
                program = torch.onnx.export(model, example, None, **kwargs)
                if program is None:
                    raise RuntimeError("the exporter returned no ONNX program")
                proto: onnx.ModelProto = program.model_proto
                return proto
            # A file, not a buffer: torch.onnx.export is annotated to take a path.
            with tempfile.TemporaryDirectory(prefix="fairhep-export-") as tmp:
                path = Path(tmp) / "model.onnx"
                torch.onnx.export(model, example, path, **kwargs)
                return onnx.load(str(path))
    except ExportError:
        raise
    except Exception as exc:
        tail = chatter.getvalue().strip().splitlines()[-3:]
        raise ExportError(
            f"torch.onnx.export ({exporter}, opset {opset}) failed: {exc}"
            + (f" [{' | '.join(tail)}]" if tail else "")
            + ("; try another --opset" if exporter == "torchscript"
               else "; try --exporter torchscript or another --opset")
        ) from exc
    finally:
        for q, level in zip(quiet, levels, strict=True):
            q.setLevel(level)


def graph_sha256(proto: onnx.ModelProto) -> str:
    """sha256 of the model's graph: its nodes and initializers (the weights), not the
    metadata that carries this hash."""
    return hashlib.sha256(proto.graph.SerializeToString(deterministic=True)).hexdigest()


def read_metadata(path: Path) -> dict[str, str]:
    """The ``fairhep.*`` metadata_props of an exported file, without the prefix."""
    import onnx

    proto = onnx.load(str(path), load_external_data=False)
    return {
        p.key[len(META_PREFIX):]: p.value
        for p in proto.metadata_props
        if p.key.startswith(META_PREFIX)
    }


def cached_onnx(run_dir: Path, cache_dir: Path, opset: int = DEFAULT_OPSET,
                exporter: str = "auto", form: str = "dense") -> Path:
    """The run's ONNX file in ``cache_dir``, exported once per set of weights.

    Keyed by the weights hash, so a retrained run never reuses a stale export and a
    read-only run directory (a published model) is never written into. A cached file is
    trusted only when its own ``fairhep.*`` metadata names these weights, its graph is the
    one that metadata was written with (:func:`graph_sha256`) and it passes onnx.checker;
    anything else (a truncated file, another model's export, altered weights) is rebuilt."""
    if form not in FORMS:
        raise ExportError(f"unknown graph form {form!r}: choose {' or '.join(FORMS)}")
    net = load_run_model(Path(run_dir))
    suffix = "" if form == "dense" else f"-{form}"
    path = Path(cache_dir) / f"{model_id(net)}-opset{opset}{suffix}.onnx"
    if path.is_file() and cached_file_problem(path, net, form) is None:
        return path
    if form == "fast":
        export_fast_onnx(run_dir, path, opset=opset)
    else:
        export_onnx(run_dir, path, opset=opset, exporter=exporter)
    problem = cached_file_problem(path, net, form)
    if problem is not None:  # the file just written: nothing else should be in the way
        raise ExportError(f"{path}: the fresh export does not verify ({problem})")
    return path


def cached_file_problem(path: Path, net: InteractionNetwork,
                        form: str = "dense") -> str | None:
    """Why the ONNX file at ``path`` is not the ``form`` export of ``net`` (None when it
    is); files written before the metadata named a form are dense."""
    import onnx

    try:
        proto = onnx.load(str(path), load_external_data=False)
        onnx.checker.check_model(proto)
    except Exception as exc:  # onnx raises DecodeError, ValidationError, OSError, ...
        return f"not a valid ONNX file: {' '.join(str(exc).split())[:120]}"
    meta = {p.key[len(META_PREFIX):]: p.value for p in proto.metadata_props
            if p.key.startswith(META_PREFIX)}
    if meta.get("model_version") != weights_hash(net):
        return (f"its metadata names weights {str(meta.get('model_version'))[:16]}, "
                f"not {weights_hash(net)[:16]}")
    if meta.get("graph_form", "dense") != form:
        return f"it is the {meta.get('graph_form')} form, not the {form} one"
    if meta.get("model_config") != json.dumps(net.config.to_dict()):
        return "its metadata names another model configuration"
    if meta.get(GRAPH_HASH) != graph_sha256(proto):
        return ("its graph or weights are not those its metadata was written with"
                if GRAPH_HASH in meta else "it predates the graph hash in the metadata")
    return None
