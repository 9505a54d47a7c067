"""The reference pages' content, rendered from the code and data files as Markdown.

Nothing here types a value: each function reads what the suite itself reads (the record
JSON Schema, ``containers/stacks.toml``, the site and campaign dataclasses with their source
comments, ``results/published/``, ``docs/measured.toml``), so a new key, stack, table or
figure appears in the site by itself. Plain functions without Sphinx, so that the tests can
call them; :mod:`fairhep_sphinx` puts their Markdown into the pages.
"""

from __future__ import annotations

import dataclasses
import inspect
import json
import re
import types
import typing
from collections.abc import Iterator, Mapping, Sequence
from decimal import Decimal
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
MEASURED_FILE = ROOT / "docs" / "measured.toml"


# ---- small Markdown helpers -----------------------------------------------------------------

def _cell(value: object) -> str:
    if isinstance(value, (list, tuple)):
        text = ", ".join(_plain(v) for v in value)
    else:
        text = _plain(value)
    return text.replace("|", "\\|").replace("\n", " ") or " "


def _plain(value: object) -> str:
    if value is None:
        return "none"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, Decimal):
        return str(value)  # the digits as printed
    if isinstance(value, dict):
        return "; ".join(f"{k} = {_plain(v)}" for k, v in value.items())
    return str(value)


def table(header: Sequence[str], rows: Sequence[Sequence[object]]) -> list[str]:
    """A Markdown (GFM) table."""
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(_cell(v) for v in row) + " |" for row in rows]
    return [*lines, ""]


# ---- dataclass-backed TOML files (sites, campaigns) -----------------------------------------

def _field_comments(cls: type) -> dict[str, str]:
    """The comment on each field's line, or on the comment lines just above it: the source is
    where these files' keys are explained, so the reference quotes it."""
    comments: dict[str, str] = {}
    above: list[str] = []
    for line in inspect.getsource(cls).splitlines():
        stripped = line.strip()
        if stripped.startswith("#"):
            above.append(stripped.lstrip("# ").strip())
            continue
        match = re.match(r"\s+(\w+): [^=]+?(?:=.*?)?(?:#\s*(.*))?$", line)
        if match and not stripped.startswith(("def ", "return", "raise")):
            text = " ".join([*above, match.group(2) or ""]).strip()
            if text:
                comments.setdefault(match.group(1), text)
        above = []
    return comments


def _type_words(hint: Any) -> str:
    origin = typing.get_origin(hint)
    args = typing.get_args(hint)
    if origin in (typing.Union, types.UnionType):
        inner = [_type_words(a) for a in args if a is not type(None)]
        return " or ".join(inner) + (" (or absent)" if type(None) in args else "")
    if origin is tuple:
        return f"array of {_type_words(args[0])}"
    if origin is dict:
        return f"table of {_type_words(args[1])}"
    if dataclasses.is_dataclass(hint):
        return "table"
    return {str: "string", int: "integer", float: "number", bool: "boolean"}.get(hint, str(hint))


def _default(f: dataclasses.Field[Any]) -> object:
    if f.default is not dataclasses.MISSING:
        return f.default
    if f.default_factory is not dataclasses.MISSING:
        value = f.default_factory()
        return None if dataclasses.is_dataclass(value) else value
    return "(required)"


def _tuple_of_dataclass(hint: Any) -> type | None:
    args = typing.get_args(hint)
    if typing.get_origin(hint) is tuple and args and isinstance(args[0], type) \
            and dataclasses.is_dataclass(args[0]):
        return args[0]
    return None


def dataclass_keys(cls: type, prefix: str = "") -> Iterator[tuple[str, str, object, str]]:
    """(dotted key, TOML type, default, explanation) for every key a file of ``cls`` takes,
    nested tables included: the same fields :func:`fairhep.configfile.build` accepts."""
    hints = typing.get_type_hints(cls)
    comments = _field_comments(cls)
    for f in dataclasses.fields(cls):
        if not f.init:
            continue
        hint = hints[f.name]
        key = f"{prefix}{f.name}"
        if dataclasses.is_dataclass(hint):
            yield from dataclass_keys(hint, f"{key}.")  # type: ignore[arg-type]
            continue
        nested = _tuple_of_dataclass(hint)
        if nested is not None:
            yield key, f"array of tables [[{key}]]", _plain(_default(f)), comments.get(f.name, "")
            yield from dataclass_keys(nested, f"{key}[].")
            continue
        yield key, _type_words(hint), _default(f), comments.get(f.name, "")


def _sections(cls: type) -> list[tuple[str, type]]:
    hints = typing.get_type_hints(cls)
    return [(f.name, hints[f.name]) for f in dataclasses.fields(cls)
            if f.init and dataclasses.is_dataclass(hints[f.name])]


def keys_table(cls: type, choices: Mapping[str, Sequence[str]] | None = None) -> list[str]:
    rows = []
    for key, kind, default, why in dataclass_keys(cls):
        allowed = (choices or {}).get(key)
        note = f"{why} One of: {', '.join(allowed)}." if allowed else why
        rows.append((f"`{key}`", kind, f"`{_plain(default)}`", note.strip()))
    return table(["key", "type", "default", "what"], rows)


def site_keys() -> str:
    from fairhep import sites
    from fairhep.containers.runtime import RUNTIMES

    choices = {"scheduler": sites.SCHEDULERS, "container.runtime": tuple(RUNTIMES),
               "time_limits": sites.TIME_LIMIT_KEYS}
    lines = [("Every key of a site file (`fairhep.sites.Site` and its tables); a key not listed "
             "here is refused in one line naming the file. A value containing "
             f"`{sites.PLACEHOLDER}` must be filled in before `fairhep submit`."), ""]
    return "\n".join(lines + keys_table(sites.Site, choices))


def campaign_sections() -> str:
    from fairhep import campaign

    lines = [(f"The sections of a campaign file, in the order their tasks run "
             f"({', '.join(campaign.KINDS)}), and every key (`fairhep.campaign.Campaign`). "
             f"Built-in campaigns: {', '.join(sorted(campaign.builtin_campaigns()))}."), ""]
    choices = {"train.splits": campaign.SPLITS, "train.device": campaign.DEVICES}
    top = [(k, t, d, w) for k, t, d, w in dataclass_keys(campaign.Campaign) if "." not in k]
    lines += ["## Top level", "", *table(["key", "type", "default", "what"],
                                        [(f"`{k}`", t, f"`{_plain(d)}`", w) for k, t, d, w in top])]
    for name, cls in _sections(campaign.Campaign):
        doc = inspect.getdoc(cls) or ""
        is_own_doc = cls.__doc__ is not None and not doc.startswith(cls.__name__ + "(")
        lines += [f"## `[{name}]`", ""]
        if is_own_doc:
            lines += [" ".join(doc.split()), ""]
        rows = [(f"`{name}.{k}`", t, f"`{_plain(d)}`",
                 (w + (f" One of: {', '.join(choices[f'{name}.{k}'])}."
                       if f"{name}.{k}" in choices else "")).strip())
                for k, t, d, w in dataclass_keys(cls)]
        lines += table(["key", "type", "default", "what"], rows)
    return "\n".join(lines)


# ---- the commands ---------------------------------------------------------------------------

def _subcommands(parser: Any, prefix: str) -> Iterator[tuple[str, str]]:
    import argparse

    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            helps = {a.dest: a.help or "" for a in action._choices_actions}
            for name, sub in action.choices.items():
                yield f"{prefix} {name}", helps.get(name, "")
                yield from _subcommands(sub, f"{prefix} {name}")


def commands() -> str:
    """Every command and sub-command with its one-line help, from the parser."""
    from fairhep.cli import build_parser

    rows = [(f"`{name}`", why) for name, why in _subcommands(build_parser(), "fairhep")]
    return "\n".join(table(["command", "what"], rows))


# ---- the record schema ----------------------------------------------------------------------

def record_schema() -> str:
    from fairhep.results import kinds
    from fairhep.results.record import RECORD_JSON_SCHEMA, RECORD_SCHEMA_VERSION

    schema = RECORD_JSON_SCHEMA
    required = set(schema["required"])
    rows = []
    for name, spec in schema["properties"].items():
        kind = spec.get("type", "enum" if "enum" in spec else "")
        constraint = ", ".join(
            f"{k}: `{json.dumps(v)}`" for k, v in spec.items() if k not in ("type",))
        rows.append((f"`{name}`", _cell(kind), "yes" if name in required else "no",
                     constraint))
    kind_names = sorted({v for k, v in vars(kinds).items()
                         if k.isupper() and isinstance(v, str)})
    metric_rows = [(f"`{k}`", ", ".join(f"`{m}`" for m in v))
                   for k, v in kinds.REQUIRED_METRICS.items()]
    lines = [(f"Schema version **{RECORD_SCHEMA_VERSION}** "
             "(`fairhep.results.record.RECORD_JSON_SCHEMA`, JSON Schema "
             f"{schema['$schema'].rsplit('/', 2)[-2]}). Fields not listed are refused "
             f"(`additionalProperties: {json.dumps(schema['additionalProperties'])}`)."), "",
             *table(["field", "type", "required", "constraints"], rows),
             "## Kinds", "",
             "Every `kind` a fairhep command writes (`fairhep.results.kinds`): "
             + ", ".join(f"`{k}`" for k in kind_names) + ".", "",
             ("A record with status `ok` must carry these metrics, or the report lists it "
             "under Problems (`REQUIRED_METRICS`):"), "",
             *table(["kind", "metrics"], metric_rows),
             "## The schema itself", "", "```json", json.dumps(schema, indent=2), "```", ""]
    return "\n".join(lines)


# ---- container stacks -----------------------------------------------------------------------

def stacks() -> str:
    from fairhep.containers.stacks import STACKS_FILE, load_stacks

    loaded = load_stacks(ROOT / STACKS_FILE)
    rows = [(f"`{s.id}`", s.arch, s.python, s.cuda or "none", s.torch,
             f"{s.onnxruntime_package} {s.onnxruntime}", s.tensorrt or "none", s.sites)
            for s in loaded.stacks.values()]
    lines = [(f"Read from `{STACKS_FILE}` (`fairhep containers list` prints the same). "
             "Rendered files per stack: `containers/<stack>/`."), "",
             *table(["stack", "arch", "Python", "CUDA", "torch", "ONNX Runtime", "TensorRT",
                     "sites"], rows)]
    for s in loaded.stacks.values():
        pins = ([] if not s.use_common_pip else list(loaded.common_pip)) + list(s.pip)
        lines += [f"## `{s.id}`", "", s.description, "",
                  (f"- base image: `{s.base.ref}` (digest read on {s.base.read_on}; platform "
                  f"{'verified' if s.base.platform_verified else 'not verified here'})"),
                  (f"- installer: {s.installer}; OS: {s.os}; cuDNN: {s.cudnn or 'none'}; "
                  f"ONNX: {s.onnx}")]
        lines += [f"- no {what}: {why}" for what, why in s.absent.items()]
        if s.conda is not None:
            lines.append("- conda packages: " + ", ".join(f"`{p}`" for p in s.conda.packages))
        lines += ["- pip pins: " + (", ".join(f"`{p}`" for p in pins) or "none"), ""]
    return "\n".join(lines)


# ---- published values -----------------------------------------------------------------------

def _rows_table(rows: Sequence[Mapping[str, object]]) -> list[str]:
    columns: list[str] = []
    for row in rows:
        columns += [k for k in row if k not in columns]
    return table(columns, [[row.get(c, "") for c in columns] for row in rows])


def published() -> str:
    from fairhep import published as pub

    where = pub.published_dir()
    shown = where.relative_to(ROOT) if where.is_relative_to(ROOT) else where
    lines = [(f"The paper's values as the report reads them (`fairhep.published`, from "
             f"`{shown}`), exactly as printed. Citation: {pub.citation()}."), ""]
    paper = pub.load("paper")
    lines += ["## Platforms (Table 6)", "",
              *_rows_table([{"platform": k, **v} for k, v in paper["platforms"].items()])]
    for name in pub.TABLES:
        data = pub.load(name)
        head_key = "figure" if "figure" in data else "table"
        head = data[head_key]
        lines += [f"## {head['title']}", "", f"File `{name}.toml`."]
        lines += [f"- {k}: {_plain(v)}" for k, v in head.items()
                  if k not in ("id", "title", "units", "caveats")]
        if head.get("units"):
            lines.append("- units: " + _plain(head["units"]))
        lines.append("")
        for key, value in data.items():
            if key == head_key:
                continue
            if isinstance(value, list):
                lines += _rows_table(value)
            elif isinstance(value, dict):
                lines += [f"**{key}**", "", *table(["", "value"], list(value.items()))]
        if head.get("caveats"):
            lines += ["Caveats:", "", *[f"- {c}" for c in head["caveats"]], ""]
    return "\n".join(lines)


# ---- recorded measurements ------------------------------------------------------------------

MEASURED_KEYS = ("value", "what", "command", "date", "machine")


def measurements(path: Path = MEASURED_FILE) -> dict[str, dict[str, str]]:
    from fairhep.configfile import read_toml

    data = read_toml(path)
    for key, entry in data.items():
        missing = [k for k in MEASURED_KEYS if not str(entry.get(k, "")).strip()]
        if missing:
            raise ValueError(f"{path}: [{key}] lacks {', '.join(missing)}: a measured figure "
                             "says what, how, when and where")
    return {k: {f: str(v[f]) for f in MEASURED_KEYS} for k, v in data.items()}


def measured(key: str, path: Path = MEASURED_FILE) -> str:
    """One figure in prose: the value, then how, where and when it was measured."""
    entries = measurements(path)
    if key not in entries:
        raise KeyError(f"{path}: no measurement [{key}]; known: {', '.join(sorted(entries))}")
    e = entries[key]
    return f"{e['value']} (`{e['command']}`, {e['machine']}, {e['date']})"


def measurements_table(path: Path = MEASURED_FILE) -> str:
    rows = [(e["what"], e["value"], f"`{e['command']}`", e["machine"], e["date"])
            for e in measurements(path).values()]
    return "\n".join(table(["what", "value", "command", "machine", "date"], rows))
