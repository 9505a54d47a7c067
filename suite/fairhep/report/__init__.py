"""Combine result records from one or more sites into one report next to the paper's tables.

``build_report(results_dirs, out)`` writes into ``out``:

* ``report.md`` and ``report.html`` (self-contained: figures embedded as base64 PNG),
* ``figures/*.png`` with the plotted data as ``figures/*.csv`` beside each,
* ``tables/*.csv``: every table of the report.

Incomplete campaigns are normal: a table shows the rows that ran and names what did not in one
line (:attr:`~fairhep.report.section.Table.not_run`); a record that cannot be read (a schema
this reader does not know included) or lacks the keys a section needs is listed by file name
under "Problems" and not counted. Records generated rather than measured (test fixtures,
``provenance.generated``) are labelled :data:`GENERATED` wherever they show. Statistics and
verdict thresholds: :mod:`fairhep.stats`.

Inside: :mod:`~fairhep.report.recordset` reads the records, each module of
:mod:`~fairhep.report.sections` builds one :class:`~fairhep.report.section.Section` (tables of
rows, figures) from a :class:`~fairhep.report.context.Context`, and
:mod:`~fairhep.report.render` writes them out.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from fairhep import published, stats
from fairhep.errors import ConfigError
from fairhep.report import render
from fairhep.report.context import Context
from fairhep.report.recordset import (
    GENERATED,
    Record,
    RecordSet,
    load_record_set,
    platform_label,
    require_records,
    results_dirs,
)
from fairhep.report.section import Row, Section, Table
from fairhep.report.sections import SECTIONS, build_sections
from fairhep.writable import ensure_writable

FIGURES_DIR = "figures"

__all__ = [
    "GENERATED",
    "SECTIONS",
    "Context",
    "Record",
    "RecordSet",
    "Row",
    "Section",
    "Table",
    "build_report",
    "build_sections",
    "load_record_set",
    "notices",
    "platform_label",
    "results_dirs",
]


def build_report(
    results_dirs: Sequence[Path],
    out: Path,
    p_method: str = "normal",
    published_dir: Path | None = None,
    title: str | None = None,
) -> Path:
    """Write the Markdown, HTML, figures (PNG + CSV) and table CSVs; return the HTML path."""
    if p_method not in stats.P_VALUE_METHODS:
        raise ConfigError(
            f"unknown p-value method {p_method!r}; use one of {', '.join(stats.P_VALUE_METHODS)}"
        )
    dirs = [Path(d) for d in results_dirs]
    require_records(dirs)  # before --out is made: nothing to report is not an empty report
    # Before any record is read: an unwritable --out costs one line, not a traceback.
    out = ensure_writable(Path(out), "report directory", "choose another with --out")
    records = load_record_set(dirs)
    ctx = Context(records, out / FIGURES_DIR, p_method, published_dir)
    sections = build_sections(ctx)
    problems = [*records.problems, *(p for sec in sections for p in sec.problems)]
    page = render.Page(
        title=title or "fairhep report",
        dirs=[str(d) for d in records.dirs],
        citation=published.citation(published_dir),
        counts=records.counts(),
        problems=list(dict.fromkeys(problems)),
        sections=sections,
        out=out,
        not_counted=len(records.problems),
        notices=notices(records),
    )
    return render.write(page)


def notices(records: RecordSet) -> list[str]:
    """What the reader must know before reading the tables: how many records were generated
    (test fixtures) rather than measured, and why."""
    made_up = [r for r in records.all() if r.generated]
    if not made_up:
        return []
    whys = "; ".join(dict.fromkeys(str(r.generated) for r in made_up))
    line = (
        f"{len(made_up)} of {len(records.all())} records are generated test fixtures, not "
        f"measurements (provenance.generated: {whys}). Their rows, curves and provenance "
        f"are labelled '{GENERATED}'."
    )
    return [line]
