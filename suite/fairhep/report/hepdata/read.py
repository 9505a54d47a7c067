"""Reading HEPData submissions back: a folder, or the ``.zip``/``.tar.gz`` HEPData serves or
``fairhep publish`` writes, as report :class:`~fairhep.report.section.Table` objects with the
platform and qualifiers each HEPData table names.

A fairhep submission gives back its tables with the report's headers and values (numbers
compared as numbers: ``0.9350`` reads back as ``0.935``); another experiment's submission
reads generically: its independent variable first, then the dependent ones.
"""

from __future__ import annotations

import tarfile
import zipfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any

import yaml

from fairhep.errors import ConfigError
from fairhep.report.hepdata.cells import Value, join_header
from fairhep.report.hepdata.write import KEY_PLATFORM, KEY_TABLE, PHRASES, PLATFORM
from fairhep.report.section import Row, Table

SUBMISSION = "submission.yaml"


@dataclass(frozen=True)
class PublishedTable:
    name: str  # the report table it holds (``table8``), or the HEPData name of a foreign one
    hepdata_name: str
    platform: str  # "" for a table of no one platform
    qualifiers: dict[str, str]
    table: Table


@dataclass(frozen=True)
class SubmissionTables:
    source: str  # the folder or archive it was read from
    comment: str
    tables: tuple[PublishedTable, ...]

    def of(self, name: str) -> list[PublishedTable]:
        return [t for t in self.tables if t.name == name]


def _reader(path: Path) -> tuple[Callable[[str], str], str]:
    """A function reading one member by name relative to submission.yaml, and its folder."""
    if path.is_dir():
        found = sorted(path.glob(SUBMISSION)) or sorted(path.glob(f"*/{SUBMISSION}"))
        if not found:
            raise ConfigError(f"{path}: no {SUBMISSION} here or one folder below; pass the "
                              "folder or archive `fairhep publish` wrote or HEPData serves")
        base = found[0].parent
        return (lambda name: (base / name).read_text(encoding="utf-8")), str(base)
    texts: dict[str, str] = {}
    if zipfile.is_zipfile(path):
        with zipfile.ZipFile(path) as zf:
            texts = {n: zf.read(n).decode("utf-8") for n in zf.namelist() if _yaml(n)}
        return _archive(path, texts)
    if tarfile.is_tarfile(path):
        with tarfile.open(path) as tf:
            for m in tf.getmembers():
                if m.isfile() and _yaml(m.name) and (fh := tf.extractfile(m)) is not None:
                    texts[m.name] = fh.read().decode("utf-8")
        return _archive(path, texts)
    raise ConfigError(f"{path}: not a folder, .zip or .tar.gz; pass a HEPData submission")


def _yaml(name: str) -> bool:
    return name.endswith((".yaml", ".yml"))


def _archive(path: Path, texts: dict[str, str]) -> tuple[Callable[[str], str], str]:
    subs = sorted((n for n in texts if PurePosixPath(n).name == SUBMISSION),
                  key=lambda n: n.count("/"))
    if not subs:
        raise ConfigError(f"{path}: the archive holds no {SUBMISSION}; pass a HEPData "
                          "submission archive")
    base = PurePosixPath(subs[0]).parent

    def member(name: str) -> str:
        key = str(base / name) if str(base) != "." else name
        if key not in texts:
            raise ConfigError(f"{path}: {SUBMISSION} names {name}, which the archive lacks")
        return texts[key]

    return member, str(path)


def _phrases(doc: dict[str, Any]) -> dict[str, str]:
    out: dict[str, str] = {}
    for kw in doc.get("keywords") or []:
        if kw.get("name") == PHRASES:
            for phrase in kw.get("values") or []:
                key, _, value = str(phrase).partition(": ")
                out.setdefault(key, value)
    return out


def _values(var: dict[str, Any]) -> list[Value]:
    out = []
    for v in var.get("values") or []:
        if "value" not in v:  # a binned independent variable: low-high
            out.append(Value(f"{v.get('low')}–{v.get('high')}"))
            continue
        errors = v.get("errors") or []
        sym = next((e["symerror"] for e in errors if "symerror" in e), None)
        value = v["value"]
        out.append(Value(float(value) if isinstance(value, (int, float)) else str(value),
                         float(sym) if isinstance(sym, (int, float)) else None))
    return out


def _table(doc: dict[str, Any], data: dict[str, Any], where: str) -> PublishedTable:
    variables = [*(data.get("independent_variables") or []),
                 *(data.get("dependent_variables") or [])]
    if not variables:
        raise ConfigError(f"{where}: table {doc.get('name')!r} has no variables")
    headers = tuple(join_header(str(v["header"]["name"]), str(v["header"].get("units") or ""))
                    for v in variables)
    columns = [_values(v) for v in variables]
    if len({len(c) for c in columns}) != 1:
        raise ConfigError(f"{where}: table {doc.get('name')!r} has variables of different "
                          "lengths; the submission is malformed")
    rows = tuple(Row({h: c[i].text() for h, c in zip(headers, columns, strict=True)},
                     values={h: float(c[i].value) for h, c in zip(headers, columns, strict=True)
                             if not isinstance(c[i].value, str)})
                 for i in range(len(columns[0])))
    quals = {str(q["name"]): str(q["value"])
             for v in data.get("dependent_variables") or [] for q in v.get("qualifiers") or []}
    phr = _phrases(doc)
    name = phr.get(KEY_TABLE, str(doc.get("name")))
    platform = phr.get(KEY_PLATFORM, quals.get(PLATFORM, ""))
    return PublishedTable(name, str(doc.get("name")), platform, quals,
                          Table(name, headers, rows, caption=str(doc.get("description") or "")))


def read_submission(path: Path) -> SubmissionTables:
    """Every table of the submission at ``path`` (a folder, ``.zip`` or ``.tar.gz``)."""
    path = Path(path)
    if not path.exists():
        raise ConfigError(f"{path}: no such submission; pass the folder or archive "
                          "`fairhep publish` wrote or HEPData serves")
    read, where = _reader(path)
    try:
        docs = [d for d in yaml.safe_load_all(read(SUBMISSION)) if d]
        tables = tuple(_table(d, yaml.safe_load(read(str(d["data_file"]))), where)
                       for d in docs if "data_file" in d)
    except (yaml.YAMLError, KeyError, TypeError, ValueError, AttributeError) as exc:
        raise ConfigError(f"{where}: not a readable HEPData submission ({type(exc).__name__}: "
                          f"{exc}); check it with hepdata-validator") from None
    comment = next((str(d.get("comment") or "") for d in docs if "data_file" not in d), "")
    return SubmissionTables(where, comment, tables)
