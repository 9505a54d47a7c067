"""The FAIR repository's per-checkpoint metadata (``<label>_model_metadata.json``).

It is the only place that says which input features an ablated checkpoint dropped:
``drop_pfeatures`` / ``drop_svfeatures`` are comma-separated 0-based indices in the IN order
(an empty string when none), beside ``hidden``, ``De``, ``Do``, ``label`` and ``batch_size``.
Everything it claims that the weights can confirm is checked against them
(:func:`check_metadata`); a mismatch means the file belongs to another checkpoint.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from fairhep import schema
from fairhep.model.checkpoint import CheckpointError, Shapes
from fairhep.model.config import FeatureListError, parse_feature_list

# metadata key -> (the Shapes field it must equal, the weight that shows it)
SIZE_KEYS: Mapping[str, tuple[str, str]] = {
    "hidden": ("hidden", "fr1.weight rows"),
    "De": ("de", "fr3.weight rows"),
    "Do": ("do", "fo3.weight rows"),
}
DROP_KEYS: Mapping[str, str] = {"drop_pfeatures": "track", "drop_svfeatures": "sv"}


@dataclass(frozen=True)
class FairMetadata:
    path: Path
    track_dropped: tuple[str, ...]
    sv_dropped: tuple[str, ...]
    sizes: dict[str, int]  # the SIZE_KEYS present in the file
    label: str | None = None
    raw: dict[str, Any] = field(default_factory=dict)


def read_fair_metadata(path: Path) -> FairMetadata:
    """Parse one metadata file; a missing, malformed or incomplete one is a one-line error."""
    path = Path(path)
    try:
        raw = json.loads(path.read_text())
    except FileNotFoundError:
        raise CheckpointError(f"{path}: no such metadata file (--metadata)") from None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise CheckpointError(f"{path}: not a JSON metadata file ({exc})") from None
    if not isinstance(raw, dict):
        raise CheckpointError(f"{path}: holds a JSON {type(raw).__name__}, expected an object "
                              "with drop_pfeatures and drop_svfeatures")
    dropped: dict[str, tuple[str, ...]] = {}
    for key, kind in DROP_KEYS.items():
        if key not in raw:
            raise CheckpointError(f"{path}: no {key!r} key; the FAIR metadata names the dropped "
                                  "features there (an empty string when none)")
        value = raw[key]
        if not isinstance(value, (str, list)):
            raise CheckpointError(f"{path}: {key!r} is {value!r}, expected comma-separated "
                                  "indices such as \"2,8\" or \"\"")
        try:
            dropped[kind] = parse_feature_list(value, kind, f"{path}: {key!r}")
        except FeatureListError as exc:
            raise CheckpointError(str(exc)) from None
    sizes: dict[str, int] = {}
    for key in SIZE_KEYS:
        if key in raw:
            value = raw[key]
            if isinstance(value, str) and value.strip().isdigit():
                value = int(value)
            if not isinstance(value, int) or isinstance(value, bool) or value < 1:
                raise CheckpointError(f"{path}: {key!r} is {raw[key]!r}, expected a positive "
                                      "integer")
            sizes[key] = value
    label = raw.get("label")
    return FairMetadata(path, dropped["track"], dropped["sv"], sizes,
                        None if label is None else str(label), raw)


def check_metadata(meta: FairMetadata, shapes: Shapes, checkpoint: Path) -> None:
    """Refuse, in one line naming the key and both values, what the weights contradict."""
    for key, (attr, where) in SIZE_KEYS.items():
        if key in meta.sizes and meta.sizes[key] != getattr(shapes, attr):
            raise CheckpointError(
                f"{meta.path}: {key!r} is {meta.sizes[key]}, but {checkpoint} has "
                f"{getattr(shapes, attr)} ({where}); this metadata belongs to another checkpoint"
            )
    for key, dropped, n, total, weight in (
        ("drop_pfeatures", meta.track_dropped, shapes.track_dropped, schema.N_TRACK_FEATURES,
         "fr1.weight"),
        ("drop_svfeatures", meta.sv_dropped, shapes.sv_dropped, schema.N_SV_FEATURES,
         "fr1_pv.weight"),
    ):
        if len(dropped) != n:
            raise CheckpointError(
                f"{meta.path}: {key!r} drops {len(dropped)} features, but {checkpoint} reads "
                f"{total - n} of {total} ({weight} input width), i.e. {n} dropped; this "
                "metadata belongs to another checkpoint"
            )
