"""A result record: what ran, what it measured, how long it took and where, as a data class
checked against a JSON Schema. Kind names live in :mod:`fairhep.results.kinds`, provenance in
:mod:`fairhep.results.provenance`, files in :mod:`fairhep.results.store`.
"""

from __future__ import annotations

import functools
import uuid
from dataclasses import asdict, dataclass, field
from datetime import datetime, timezone
from typing import Any

import jsonschema

from fairhep.errors import FairhepError

RECORD_SCHEMA_VERSION = "1.0"

RECORD_JSON_SCHEMA: dict[str, Any] = {
    "$schema": "https://json-schema.org/draft/2020-12/schema",
    "title": "fairhep result record",
    "type": "object",
    "required": [
        "schema_version", "record_id", "kind", "created", "status",
        "config", "metrics", "timings", "provenance",
    ],
    "properties": {
        "schema_version": {"type": "string"},
        "record_id": {"type": "string", "minLength": 1},
        "kind": {"type": "string", "pattern": r"^[a-z][a-z0-9_]*(\.[a-z0-9_]+)*$"},
        "created": {"type": "string"},
        "status": {"enum": ["ok", "skipped", "failed"]},
        "task_id": {"type": ["string", "null"]},
        "config": {"type": "object"},
        "metrics": {"type": "object"},
        "timings": {"type": "object"},
        "skipped": {
            "type": "array",
            "items": {
                "type": "object",
                "required": ["what", "reason"],
                "properties": {"what": {"type": "string"}, "reason": {"type": "string"}},
            },
        },
        "artifacts": {"type": "object", "additionalProperties": {"type": "string"}},
        "provenance": {
            "type": "object",
            "required": ["fairhep_version", "host", "os", "arch", "python", "packages"],
        },
    },
    # A field this schema does not know was written by a newer fairhep: refused, not dropped.
    "additionalProperties": False,
}


class RecordError(FairhepError):
    """A result record that cannot be read or does not match the schema."""


@dataclass
class ResultRecord:
    """What ran (kind, config), what it measured, how long it took, and where it ran."""

    kind: str
    config: dict[str, Any] = field(default_factory=dict)
    metrics: dict[str, Any] = field(default_factory=dict)
    timings: dict[str, Any] = field(default_factory=dict)
    status: str = "ok"
    skipped: list[dict[str, str]] = field(default_factory=list)
    artifacts: dict[str, str] = field(default_factory=dict)
    task_id: str | None = None
    provenance: dict[str, Any] = field(default_factory=dict)
    record_id: str = field(default_factory=lambda: uuid.uuid4().hex[:12])
    created: str = field(
        default_factory=lambda: datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    )
    schema_version: str = RECORD_SCHEMA_VERSION

    def skip(self, what: str, reason: str) -> None:
        """Note that part of the run could not be done here, and why."""
        self.skipped.append({"what": what, "reason": reason})

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> ResultRecord:
        validate(d)
        known = {k: d[k] for k in cls.__dataclass_fields__ if k in d}
        return cls(**known)


@functools.lru_cache(maxsize=1)
def _validator() -> jsonschema.protocols.Validator:
    # Building a validator (meta-schema check included) costs far more than using one, and a
    # report validates every record of a campaign.
    cls = jsonschema.validators.validator_for(RECORD_JSON_SCHEMA)
    cls.check_schema(RECORD_JSON_SCHEMA)
    return cls(RECORD_JSON_SCHEMA)


def _version(text: object) -> tuple[int, int] | None:
    parts = str(text).split(".")
    if len(parts) != 2 or not all(p.isdigit() for p in parts):
        return None
    return int(parts[0]), int(parts[1])


def validate(d: dict[str, Any], source: str = "record") -> None:
    """Refuse what this reader's schema does not know (a newer schema_version, unknown
    fields), then check the JSON Schema; every refusal is one line naming ``source``."""
    ours = _version(RECORD_SCHEMA_VERSION)
    theirs = _version(d.get("schema_version"))
    if "schema_version" in d and (theirs is None or ours is None or theirs > ours):
        raise RecordError(
            f"{source}: record schema_version {d.get('schema_version')!r} is newer than (or "
            f"not) a version this fairhep reads ({RECORD_SCHEMA_VERSION}); read it with the "
            "fairhep that wrote it, or upgrade"
        )
    unknown = sorted(set(d) - set(RECORD_JSON_SCHEMA["properties"]))
    if unknown:
        raise RecordError(
            f"{source}: field(s) {', '.join(unknown)} unknown to record schema "
            f"{RECORD_SCHEMA_VERSION} (written by a newer fairhep?); upgrade fairhep to read it"
        )
    try:
        _validator().validate(d)
    except jsonschema.ValidationError as exc:
        where = "/".join(str(p) for p in exc.absolute_path) or "top level"
        raise RecordError(f"{source}: invalid result record at {where}: {exc.message}") from None


