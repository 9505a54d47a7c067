"""The model card in the conventions other tools read, rendered from the card's one source.

* ``README.md``: the Hugging Face model card, YAML front matter (``license``, ``tags``,
  ``datasets``, ``metrics``, ``library_name``, ``model-index``) above the Markdown card. The
  ``model-index`` holds only metrics of the model's performance (measured on held-out or test
  jets, or quoted from a publication with its source); the validation sample's metrics check
  the file, not the model, and stay out of it.
* ONNX ``metadata_props``: ``model_author``, ``model_license`` and ``model_card`` (the README,
  front matter included, as the ONNX model-card proposal has it), written into the Triton
  repository's copy of the model (``triton/<id>/1/model.onnx``). ``model.onnx`` itself stays
  byte for byte as exported or published: its sha256 is the bundle's identifier, and a
  published model is taken exactly as published.
* KServe v2 metadata: ``fairhep serve`` fills it from the card's ``inputs``/``outputs``, so
  the two agree by construction (:mod:`fairhep.fair.serve`).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from fairhep import schema

README = "README.md"
CARD_PROPS = ("model_author", "model_license", "model_card")
TAGS = ("high-energy-physics", "jet-tagging", "graph-neural-network", "interaction-network",
        "onnx", "fairhep", "cms-open-data")
# What a card metric's "kind" says it measures; only "performance" and "published" are the
# model's physics performance.
PERFORMANCE_KINDS = ("performance", "published")
_HF_METRIC = {"auc": "roc_auc", "accuracy": "accuracy"}


def _license_id(spdx: str) -> str:
    """Hugging Face spells SPDX ids in lower case (``cc-by-4.0``, ``mit``)."""
    return spdx.lower()


def front_matter(card: dict[str, Any]) -> dict[str, Any]:
    """The Hugging Face front matter of ``card``."""
    data = card.get("training_data") or {}
    datasets = [f"doi:{data['doi']}"] if data.get("doi") else []
    # A run trained and evaluated on generated jets is measured on them, not on CMS's.
    measured_on = ({"name": "synthetic jets (fairhep data synth), not CMS simulation",
                    "type": "synthetic"} if data.get("origin") == "synthetic" else
                   {"name": schema.DATASET_CITATION,
                    "type": datasets[0] if datasets else "cms-open-hbb"})
    results = []
    for m in card.get("metrics") or []:
        if m.get("kind") not in PERFORMANCE_KINDS or m.get("value") is None:
            continue
        metric: dict[str, Any] = {"type": _HF_METRIC.get(m["name"], m["name"]),
                                  "name": f"{m['name']} ({m['source']})",
                                  "value": float(m["value"]), "verified": False}
        results.append({
            "task": {"type": "tabular-classification", "name": "H->bb vs QCD jet tagging"},
            "dataset": (measured_on if m.get("kind") == "performance" else
                        {"name": schema.DATASET_CITATION, "type": f"doi:{schema.DATASET_DOI}"}),
            "metrics": [metric],
        })
    fm: dict[str, Any] = {
        "license": _license_id(str(card["license"])),
        "library_name": "onnx",
        "pipeline_tag": "tabular-classification",
        "tags": list(TAGS),
        "datasets": datasets,
        "metrics": sorted({_HF_METRIC.get(m["name"], m["name"])
                           for m in card.get("metrics") or []}),
        "model_id": card["model_id"],
        "identifier": card["identifier"],
        "authors": list(card["authors"]),
    }
    if results:
        fm["model-index"] = [{"name": card["title"], "results": results}]
    return fm


def readme(card: dict[str, Any], markdown: str) -> str:
    """``README.md``: the front matter, then the Markdown card."""
    head = yaml.safe_dump(front_matter(card), sort_keys=False, allow_unicode=True, width=100)
    return f"---\n{head}---\n\n{markdown}"


def read_front_matter(text: str) -> dict[str, Any]:
    """The front matter of a README as a dict (what Hugging Face's hub reads)."""
    if not text.startswith("---\n"):
        return {}
    head, _, _ = text[4:].partition("\n---\n")
    data = yaml.safe_load(head)
    return data if isinstance(data, dict) else {}


def onnx_props(card: dict[str, Any], readme_text: str) -> dict[str, str]:
    return {"model_author": ", ".join(card["authors"]), "model_license": str(card["license"]),
            "model_card": readme_text}


def write_carded_onnx(src: Path, dst: Path, props: dict[str, str]) -> None:
    """``src`` with ``props`` set in its metadata_props (others kept) written to ``dst``."""
    import onnx

    proto = onnx.load(str(src))
    kept = [(p.key, p.value) for p in proto.metadata_props if p.key not in props]
    del proto.metadata_props[:]
    for key, value in [*kept, *props.items()]:
        proto.metadata_props.add(key=key, value=value)
    onnx.save(proto, str(dst))
