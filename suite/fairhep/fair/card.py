"""The model card: one source (a JSON-ready dict) from which ``model_card.json`` and
``model_card.md`` are both rendered (:mod:`fairhep.fair.render`).

What it says comes from three places, and the card names which: the ONNX file itself (tensor
names, shapes, opset, producer, ``fairhep.*`` metadata), the trained run when there is one
(config, training recipe and split, ``train.json``, records), and the packager's options
(licence, authors, intended use, a DOI, and, for a foreign file without metadata, the
declaration that its inputs are the FAIR IN's). What none of them says is refused in one
line rather than guessed.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from fairhep import __version__, schema
from fairhep.errors import ConfigError
from fairhep.fair.checklist import checklist
from fairhep.fair.onnxinfo import OnnxDescription, OnnxFileError

CARD_VERSION = "1.0"
DEFAULT_LICENSE = "CC-BY-4.0"
DEFAULT_AUTHORS = ("fairhep developers",)
INTERFACES = ("fair-in",)  # --interface: what a file without metadata may be declared to take
PROTOCOL = "KServe v2 / Open Inference Protocol (HTTP/REST and gRPC)"
DEFAULT_USE = (
    "Inference only: tagging large-radius (AK8) jets as H->bb or QCD from their charged "
    "tracks and secondary vertices, with the feature definitions of the CMS open Hbb dataset "
    "(CMS 2016 simulation); portability and interpretability studies as in Duarte et al. "
    "(2023). Not calibrated for use on collision data."
)


@dataclass(frozen=True)
class CardOptions:
    """What the packager says that no file says."""

    name: str | None = None
    license: str = DEFAULT_LICENSE
    authors: tuple[str, ...] = ()
    intended_use: str | None = None
    limitations: tuple[str, ...] = ()
    doi: str | None = None  # a DOI the bundle was given (a deposit), if any
    dataset_doi: str | None = None  # training data, for a file that does not say
    interface: str | None = None  # "fair-in" for a foreign file without metadata
    dropped_track_features: tuple[str, ...] | None = None
    dropped_sv_features: tuple[str, ...] | None = None
    results: tuple[Path, ...] = ()  # result folders whose records describe the run
    # a publication's figures for this model, quoted on the card with their source
    # (``package --published-model paper``: fairhep.published.model_metrics())
    quoted_metrics: tuple[dict[str, Any], ...] = ()


@dataclass(frozen=True)
class Interface:
    """The inputs as the card states them: features each input holds and those ignored."""

    dropped_tracks: tuple[str, ...]
    dropped_svs: tuple[str, ...]
    declared: bool  # True: stated by --interface, not read from the file


def resolve_interface(desc: OnnxDescription, opts: CardOptions,
                      run_config: dict[str, Any] | None = None) -> Interface:
    """Feature order and dropped features, from the file's metadata, the run, or the options;
    contradictions and silence are one-line errors naming the file."""
    path = desc.path
    meta = desc.metadata
    for key, ours in (("track_features", schema.TRACK_FEATURES),
                      ("sv_features", schema.SV_FEATURES)):
        if key in meta and tuple(meta[key].split(",")) != ours:
            raise OnnxFileError(f"{path}: metadata fairhep.{key} lists another feature order "
                                "than fairhep.schema; fairhep's runtimes feed the schema order")
    if not desc.has_fairhep_metadata and opts.interface is None:
        raise OnnxFileError(
            f"{path}: the file does not say which features its inputs hold (no fairhep.* "
            "metadata); if it takes the FAIR IN's inputs (feature order of fairhep.schema, "
            "zero-padded, channels first, softmax output QCD/H->bb) pass --interface fair-in")
    if opts.interface is not None and opts.interface not in INTERFACES:
        raise ConfigError(f"--interface {opts.interface!r}: choose one of {', '.join(INTERFACES)}")
    found = {}
    for which, option in (("track", opts.dropped_track_features),
                          ("sv", opts.dropped_sv_features)):
        from_file: tuple[str, ...] | None = desc.dropped(which) if desc.has_fairhep_metadata \
            else None
        if run_config is not None:
            names = schema.TRACK_FEATURES if which == "track" else schema.SV_FEATURES
            used = set(run_config[f"{which}_features"])
            from_file = tuple(n for n in names if n not in used)
        if option is not None and from_file is not None and set(option) != set(from_file):
            raise OnnxFileError(f"{path}: --{which}-features-dropped {','.join(option) or '(none)'}"
                                f" contradicts the model's own {','.join(from_file) or '(none)'}")
        found[which] = from_file if from_file is not None else (option or ())
    return Interface(found["track"], found["sv"], declared=not desc.has_fairhep_metadata)


def _input_entry(desc: OnnxDescription, name: str, iface: Interface) -> dict[str, Any]:
    tensor = next(t for t in desc.inputs if t.name == name)
    tracks = name == schema.ONNX_INPUT_TRACKS
    specs = schema.TRACK_FEATURE_SPECS if tracks else schema.SV_FEATURE_SPECS
    dropped = iface.dropped_tracks if tracks else iface.dropped_svs
    described = schema.describe()
    return {
        **tensor.as_card(),
        "holds": "charged tracks" if tracks else "secondary vertices",
        "layout": described["tracks_layout" if tracks else "svs_layout"],
        "max_objects": schema.N_TRACKS if tracks else schema.N_SVS,
        "ordering": ("tracks in the ntupliser's order (descending 2-D impact-parameter "
                     "significance)" if tracks else
                     "SVs in the ntupliser's order (descending dxy significance)"),
        "padding": described["padding"],
        "features": [{"index": i, "name": f.name, "unit": f.unit, "description": f.description,
                      "used": f.name not in dropped} for i, f in enumerate(specs)],
        "dropped_features": list(dropped),
        "source": ("declared with --interface" if iface.declared
                   else "the file's fairhep.* metadata"),
    }


def _outputs(desc: OnnxDescription, sums_to_one: bool) -> list[dict[str, Any]]:
    out = next(t for t in desc.outputs if t.name == schema.ONNX_OUTPUT)
    meaning = (schema.describe()["output"] if sums_to_one else
               "(batch, 2) scores, column 0 = QCD, column 1 = H->bb; they do NOT sum to 1 on "
               "the validation sample: not softmax probabilities")
    return [{**out.as_card(), "meaning": meaning, "classes": list(schema.CLASSES),
             "softmax_inside": sums_to_one}]


def _run_facts(run_dir: Path | None) -> tuple[dict[str, Any], dict[str, Any]]:
    """(training, training_data) sections from a run directory's model.json and train.json."""
    from fairhep.model import RUN_CONFIG
    from fairhep.train import SUMMARY

    if run_dir is None:
        return {"recipe": None}, {}
    model_json = json.loads((run_dir / RUN_CONFIG).read_text())
    summary_path = run_dir / SUMMARY
    summary = json.loads(summary_path.read_text()) if summary_path.is_file() else None
    recipe = model_json.get("training")
    training: dict[str, Any] = {"recipe": recipe, "imported_from": model_json.get("imported_from")}
    if summary is not None:
        training.update({k: summary.get(k) for k in (
            "epochs", "best_epoch", "stopped_early", "n_train_jets", "n_valid_jets",
            "train_s", "resumed")})
        training["device"] = summary.get("config", {}).get("device")
    data: dict[str, Any] = {}
    if recipe:
        data_dir = Path(str(recipe.get("data", "")))
        data["path"] = str(data_dir)
        data["split"] = {k: recipe.get(k) for k in ("split", "seed", "fold", "fold_files",
                                                   "valid_fraction", "max_jets")}
        data["split"]["method"] = data["split"].pop("split")
        from fairhep.data.manifest import Manifest, manifest_path, sha256_file
        from fairhep.errors import DataError

        if (m := manifest_path(data_dir)) is not None:
            data["manifest_sha256"] = sha256_file(m)
            try:
                manifest = Manifest.read(data_dir)
                data["origin"] = manifest.origin
                data["n_jets"] = manifest.n_jets
                data["doi"] = manifest.dataset_doi
            except DataError:  # a malformed manifest: its hash still identifies it
                data["origin"] = "unknown (manifest unreadable)"
    return training, data


def _limitations(card: dict[str, Any], opts: CardOptions, iface: Interface) -> list[str]:
    out = []
    origin = card["training_data"].get("origin")
    if origin == "synthetic":
        out.append("Trained on synthetic jets (fairhep data synth), not CMS simulation: a model "
                   "for testing tools, not for physics.")
    else:
        out.append("Trained and validated on simulation (CMS 2016 MC) only; no calibration to "
                   "collision data.")
    out.append("Inputs must follow the feature order, units and zero padding of the card "
               "exactly; the network has no mask, so padded (all-zero) tracks and SVs are "
               "ordinary nodes and the number of real objects matters.")
    out.append("Tracks and SVs are detector-level quantities of CMS reconstruction: reuse "
               "outside it needs the same definitions (Les Houches guide, section 3).")
    if card["validation"]["source"].get("kind") == "synthetic":
        out.append("The validation sample is synthetic: it checks that runtimes agree with the "
                   "reference engine, not the model's physics performance.")
    if iface.declared:
        out.append("The ONNX file carries no metadata: its feature order, units, padding and "
                   "output meaning were declared when packaging (--interface "
                   f"{opts.interface}), not read from the file.")
    if card["training"].get("recipe") is None and card["weights"] is None:
        out.append("No weights in the bundle: the PyTorch runtime cannot be validated, and "
                   "the training process is known only as far as the file says.")
    return out + list(opts.limitations)


def _references(dataset_doi: str | None) -> list[dict[str, str]]:
    refs = [
        {"role": "architecture", "text": schema.MODEL_REFERENCE, "arxiv": "1909.12285"},
        {"role": "study", "text": "J. Duarte et al., FAIR AI models in high energy physics, "
         "Mach. Learn.: Sci. Technol. (2023)", "doi": schema.PAPER_DOI,
         "arxiv": schema.PAPER_ARXIV},
        {"role": "software", "text": f"fairhep {__version__}"},
    ]
    if dataset_doi:
        refs.insert(2, {"role": "training data", "text": schema.DATASET_CITATION
                        if dataset_doi == schema.DATASET_DOI else f"doi:{dataset_doi}",
                        "doi": dataset_doi})
    return refs


def build_card(desc: OnnxDescription, ident: str, model_id: str, opts: CardOptions, *,
               run_dir: Path | None, weights: dict[str, Any] | None,
               validation: dict[str, Any], metrics: list[dict[str, Any]],
               sums_to_one: bool, software: dict[str, str],
               onnx_source: Path | None = None) -> dict[str, Any]:
    """The card's one source. ``weights``: what the bundle's PyTorch weights are (None when it
    has none); ``validation``: the sample's description (validation.json); ``onnx_source``:
    the file a foreign model was packaged from (``desc`` reads the bundle's copy)."""
    run_config = weights["config"] if weights else desc.model_config()
    iface = resolve_interface(desc, opts, weights["config"] if weights else None)
    training, data = _run_facts(run_dir)
    data.setdefault("doi", opts.dataset_doi or desc.metadata.get("dataset_doi"))
    if data.get("doi") == schema.DATASET_DOI:
        data["citation"] = schema.DATASET_CITATION
    ablated = bool(iface.dropped_tracks or iface.dropped_svs)
    name = opts.name or ("H->bb interaction network" + (" (ablated)" if ablated else ""))
    card: dict[str, Any] = {
        "card_version": CARD_VERSION,
        "name": name,
        "title": f"{name} ({model_id})",
        "model_id": model_id,
        "identifier": ident,
        "doi": opts.doi,
        "created": datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "packaged_by": f"fairhep {__version__}",
        "source": {"kind": "run", "path": str(run_dir)} if run_dir is not None else
                  {"kind": "onnx file", "path": str(onnx_source or desc.path)},
        "model": {
            "architecture": "interaction network (graph neural network over tracks and SVs)",
            "reference": schema.MODEL_REFERENCE,
            "format": "ONNX", "file": "model.onnx", "opset": desc.opset,
            "ir_version": desc.ir_version, "producer": desc.producer,
            "config": run_config,
            "parameters": (weights or {}).get("parameters")
            or _int(desc.metadata.get("model_parameters")),
            "weights_sha256": (weights or {}).get("weights_sha256")
            or desc.metadata.get("model_version"),
            "file_metadata": "fairhep.* metadata_props" if desc.has_fairhep_metadata else "none",
        },
        "inputs": [_input_entry(desc, n, iface)
                   for n in (schema.ONNX_INPUT_TRACKS, schema.ONNX_INPUT_SVS)],
        "outputs": _outputs(desc, sums_to_one),
        "weights": None if weights is None else {"folder": "weights", "files": weights["files"]},
        "training": training,
        "training_data": data,
        "metrics": metrics,
        "validation": validation,
        "intended_use": opts.intended_use or DEFAULT_USE,
        "license": opts.license,
        "authors": list(opts.authors or DEFAULT_AUTHORS),
        "references": _references(data.get("doi")),
        "software": software,
        "serving": {"protocol": PROTOCOL, "model_name": model_id,
                    "command": "fairhep serve BUNDLE [--host 127.0.0.1] [--port 8080]",
                    "triton_repository": f"triton/{model_id}"},
        "citation": {"file": "CITATION.cff"},
    }
    card["limitations"] = _limitations(card, opts, iface)
    authors = ", ".join(card["authors"])
    card["citation"]["text"] = (f"{authors}, {name}, model {model_id} ({card['created'][:4]}), "
                                f"{ident}")
    card["fair"] = checklist(card)
    return card


def _int(text: str | None) -> int | None:
    try:
        return int(text) if text is not None else None
    except ValueError:
        return None
