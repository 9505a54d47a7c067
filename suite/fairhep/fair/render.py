"""Rendering a card: ``model_card.json`` (the source itself), ``model_card.md``,
``CITATION.cff`` and the Triton ``config.pbtxt``, the last three from jinja2 templates shipped
in the package (``fair/templates``)."""

from __future__ import annotations

import functools
import json
from pathlib import Path
from typing import Any

import jinja2

# Triton's dynamic batcher may join requests up to this many jets (the sweep's largest batch).
TRITON_MAX_BATCH = 4200


@functools.cache
def _env() -> jinja2.Environment:
    env = jinja2.Environment(
        loader=jinja2.PackageLoader("fairhep.fair", "templates"),
        autoescape=False,  # Markdown, YAML and protobuf text, not HTML
        keep_trailing_newline=True,
    )
    # A YAML double-quoted scalar: JSON strings are YAML, non-ASCII kept readable.
    env.filters["q"] = lambda value: json.dumps(str(value), ensure_ascii=False)
    return env


def render(template: str, **context: Any) -> str:
    return _env().get_template(template).render(**context)


def card_json(card: dict[str, Any]) -> str:
    # allow_nan=False: a NaN would make the card invalid JSON; fail loudly instead.
    return json.dumps(card, indent=2, sort_keys=True, ensure_ascii=False, allow_nan=False) + "\n"


def write_card(folder: Path, card: dict[str, Any]) -> list[Path]:
    """model_card.json, model_card.md, README.md (the same card with Hugging Face front
    matter, :mod:`fairhep.fair.interop`) and CITATION.cff in ``folder``."""
    from fairhep.fair.bundle import CARD_JSON, CARD_MD, CITATION
    from fairhep.fair.interop import README, readme

    markdown = render("model_card.md.j2", card=card)
    out = [(folder / CARD_JSON, card_json(card)),
           (folder / CARD_MD, markdown),
           (folder / README, readme(card, markdown)),
           (folder / CITATION, render("CITATION.cff.j2", card=card))]
    for path, text in out:
        path.write_text(text)
    return [p for p, _ in out]


def triton_config(card: dict[str, Any], max_batch_size: int = TRITON_MAX_BATCH) -> str:
    return render("config.pbtxt.j2", card=card, max_batch_size=max_batch_size)
