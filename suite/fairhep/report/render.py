"""A report's sections as Markdown, self-contained HTML (figures embedded) and CSV tables."""

from __future__ import annotations

import base64
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, fields
from datetime import datetime, timezone
from pathlib import Path

import jinja2

from fairhep import __version__, stats
from fairhep.plots import write_csv
from fairhep.report.recordset import GENERATED
from fairhep.report.section import Section

MARKDOWN = "report.md"
HTML = "report.html"
TABLES_DIR = "tables"


@dataclass(frozen=True)
class Page:
    """Everything a rendered report shows: a header, the problems met, the sections."""

    title: str
    dirs: Sequence[str]
    citation: str
    counts: Mapping[str, int]
    problems: Sequence[str]
    sections: Sequence[Section]
    out: Path  # the report directory: figure paths are written relative to it
    not_counted: int = 0  # records found but not read or not used (each named in problems)
    notices: Sequence[str] = ()  # what a reader must know first (generated records, ...)
    generated: str = field(
        default_factory=lambda: datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M:%S UTC")
    )
    version: str = __version__
    verdicts: str = (
        f"p ≥ {stats.CONSISTENT_P:.0%} consistent, {stats.INCONSISTENT_P:.0%}–"
        f"{stats.CONSISTENT_P:.0%} tension, < {stats.INCONSISTENT_P:.0%} inconsistent"
    )


def _md_cell(text: object) -> str:
    return str(text).replace("|", "\\|").replace("\n", " ")


def _b64(path: Path) -> str:
    return base64.b64encode(Path(path).read_bytes()).decode("ascii")


def _rel(path: Path, base: Path) -> str:
    return Path(path).relative_to(base).as_posix()


def _environment() -> jinja2.Environment:
    env = jinja2.Environment(
        loader=jinja2.PackageLoader("fairhep.report", "templates"),
        # Escape HTML only: the Markdown template must keep quotes and '<' as typed.
        autoescape=lambda name: bool(name) and str(name).endswith(".html.j2"),
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
        undefined=jinja2.StrictUndefined,
    )
    env.filters["md"] = _md_cell
    env.filters["b64"] = _b64
    env.filters["rel"] = _rel
    env.globals["generated_label"] = GENERATED
    return env


def markdown(page: Page) -> str:
    return _environment().get_template("report.md.j2").render(**_fields(page))


def html(page: Page) -> str:
    return _environment().get_template("report.html.j2").render(**_fields(page))


def _fields(page: Page) -> dict[str, object]:
    # Shallow (not asdict): the templates read the sections' objects.
    return {f.name: getattr(page, f.name) for f in fields(page)}


def write_tables(out: Path, sections: Sequence[Section]) -> list[Path]:
    """tables/<name>.csv for every table of every section."""
    return [
        write_csv(out / TABLES_DIR / f"{t.name}.csv", t.headers, (r.texts for r in t.rows))
        for sec in sections
        for t in sec.tables
    ]


def write(page: Page) -> Path:
    """report.md, report.html and the table CSVs into ``page.out``; the HTML's path."""
    write_tables(page.out, page.sections)
    (page.out / MARKDOWN).write_text(markdown(page))
    path = page.out / HTML
    path.write_text(html(page))
    return path
