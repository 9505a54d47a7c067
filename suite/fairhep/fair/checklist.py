"""The FAIR checklist of a model card: each principle of the paper's Table 1 (Duarte et al.
2023, §2.1: F1–F4, A1, A1.1, A1.2, A2, I1, I2, R1, R1.1, R1.2, R2, R3), and how this bundle
meets it, or why it does not. The statuses follow from the card's facts, never from a
constant: a bundle without a DOI, without training provenance or without a registered entry
says so."""

from __future__ import annotations

from typing import Any

MET, PARTLY, NOT_MET = "met", "partly", "not met"

PRINCIPLES: tuple[tuple[str, str], ...] = (
    ("F1", "The AI model is assigned a globally unique and persistent identifier."),
    ("F2", "The AI model is described with rich metadata."),
    ("F3", ("Metadata clearly and explicitly include the identifier of the AI model they "
           "describe.")),
    ("F4", "Metadata and the AI model are registered or indexed in a searchable resource."),
    ("A1", ("The AI model is retrievable by its identifier using a standardized communications "
           "protocol.")),
    ("A1.1", "The protocol is open, free, and universally implementable."),
    ("A1.2", ("The protocol allows for an authentication and authorization procedure, where "
             "necessary.")),
    ("A2", "Metadata are accessible, even when the AI model is no longer available."),
    ("I1", ("The AI model reads, writes and exchanges data in a way that meets domain-relevant "
           "community standards.")),
    ("I2", ("The AI model includes qualified references to other objects, including the (FAIR) "
           "data used to train the model.")),
    ("R1", "The AI model is described with a plurality of accurate and relevant attributes."),
    ("R1.1", "The AI model is given a clear and accessible license."),
    ("R1.2", ("The AI model is associated with detailed provenance, such as information about "
             "the input data preparation and training process.")),
    ("R2", ("The AI model includes qualified references to other models and/or software, such "
           "as dependencies.")),
    ("R3", "The AI model meets domain-relevant community standards."),
)


def _f(card: dict[str, Any]) -> dict[str, tuple[str, str]]:
    mid, ident, doi = card["model_id"], card["identifier"], card.get("doi")
    return {
        "F1": (MET if doi else PARTLY,
               f"identifier {ident} (sha256 of model.onnx: globally unique, and it cannot "
               f"drift from the bytes it names)" + (f"; DOI {doi}" if doi else
               "; no DOI yet: deposit the bundle (e.g. Zenodo) and package again with --doi")),
        "F2": (MET, ("model_card.json (machine-readable) and model_card.md: inputs with feature "
               "names, order, units and padding, outputs, training data, metrics, use, "
               "limitations, licence, authors, citation")),
        "F3": (MET, f"the model id {mid} names the card, CITATION.cff, the Triton model "
               "(triton/" + mid + "), the served model and every validate record; model.onnx "
               "cannot hold its own hash, SHA256SUMS binds it"),
        "F4": ((MET, f"registered with DataCite (searchable) through its DOI {doi}") if doi else
               (NOT_MET, ("fairhep does not register models: upload the bundle with its card to "
                "a searchable resource (Zenodo, Hugging Face, HEPData) and record its DOI"))),
    }


def _a(card: dict[str, Any]) -> dict[str, tuple[str, str]]:
    mid = card["model_id"]
    return {
        "A1": (MET, (f"`fairhep serve` serves it by its id over the KServe v2 / Open Inference "
               f"Protocol (GET /v2/models/{mid}, POST /v2/models/{mid}/infer, HTTP and gRPC); "
               "the Triton repository in triton/ serves it as is where a site has Triton")),
        "A1.1": (MET, ("HTTP/REST and gRPC with the open KServe v2 specification; open-source "
                 "servers (MLServer, Triton, KServe) and clients (tritonclient) implement it")),
        "A1.2": (PARTLY, ("the protocol runs behind any HTTP/gRPC authentication (TLS, tokens, a "
                 "reverse proxy); `fairhep serve` itself binds loopback only and has none")),
        "A2": (MET, ("model_card.md/.json and CITATION.cff are plain files apart from the model, "
               "readable without it; deposited with the bundle they outlive any server")),
    }


def _i(card: dict[str, Any]) -> dict[str, tuple[str, str]]:
    data = card["training_data"]
    dataset = data.get("doi")
    manifest = data.get("manifest_sha256")
    i2: tuple[str, str]
    if dataset and manifest:
        i2 = (MET, (f"training data doi:{dataset}, dataset manifest sha256 {manifest[:16]}..., "
              f"split {data.get('split', {}).get('method', '?')}"))
    elif dataset:
        i2 = (PARTLY, (f"training data doi:{dataset}; no dataset manifest hash was recorded, "
              "so the exact files cannot be checked"))
    else:
        i2 = (NOT_MET, "the training data is unknown (pass --dataset-doi when packaging)")
    return {
        "I1": (MET, (f"ONNX (opset {card['model']['opset']}) with named inputs and a dynamic "
               "batch axis; the validation jets in the CMS open-data FAIR HDF5 layout; KServe "
               "v2 for serving")),
        "I2": i2,
    }


def _r(card: dict[str, Any]) -> dict[str, tuple[str, str]]:
    training = card["training"]
    r12: tuple[str, str]
    if training.get("recipe"):
        r12 = (MET, ("training recipe and split in the card (from the run's model.json and "
               "train.json), the validation sample's origin in validation/manifest.json"))
    else:
        r12 = (PARTLY, ("the model file records no training provenance: the card gives what "
               "its producer and the options said, and the validation sample's origin"))
    software = ", ".join(f"{k} {v}" for k, v in sorted(card["software"].items()))
    return {
        "R1": (MET, (f"{len(card['inputs'])} inputs with per-feature attributes, "
               f"{len(card['metrics'])} metrics with uncertainties where defined, intended use "
               f"and {len(card['limitations'])} limitations")),
        "R1.1": (MET, f"licence {card['license']} (SPDX), stated in the card and CITATION.cff"),
        "R1.2": r12,
        "R2": (MET, (f"references: {len(card['references'])} (architecture, study, dataset); "
               f"software: {software}")),
        "R3": (MET, ("the Les Houches recommendations for reusable ML models: exact input "
               "definitions (order, units, padding), a validation sample with expected "
               "outputs, runnable from C++ through the ONNX Runtime API (`fairhep validate`)")),
    }


def checklist(card: dict[str, Any]) -> list[dict[str, str]]:
    """One entry per principle: id, principle, status (met / partly / not met), how."""
    facts = {**_f(card), **_a(card), **_i(card), **_r(card)}
    return [{"id": pid, "principle": text, "status": facts[pid][0], "how": facts[pid][1]}
            for pid, text in PRINCIPLES]
