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
from fairhep.report.hepdata.read import SubmissionTables, read_submission
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
from fairhep.report.sections import SECTIONS, build_sections, cross_platform, submissions
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
    "report_sections",
    "results_dirs",
]


def build_report(
    results_dirs: Sequence[Path],
    out: Path,
    p_method: str = "normal",
    published_dir: Path | None = None,
    title: str | None = None,
    submissions: Sequence[Path] = (),
    reference: str | None = None,
) -> Path:
    """Write the Markdown, HTML, figures (PNG + CSV) and table CSVs; return the HTML path.
    ``submissions``: HEPData submissions (folders or archives) to set beside the records, with
    a cross-platform summary normalised to ``reference`` (default: the paper's A100)."""
    _check_p_method(p_method)
    # Submissions first: a bad one costs one line before --out is made.
    subs = tuple(read_submission(Path(s)) for s in submissions)
    dirs = [Path(d) for d in results_dirs]
    require_records(dirs)  # before --out is made: nothing to report is not an empty report
    # Before any record is read: an unwritable --out costs one line, not a traceback.
    out = ensure_writable(Path(out), "report directory", "choose another with --out")
    records, sections = report_sections(dirs, out / FIGURES_DIR, p_method, published_dir,
                                        subs, reference)
    problems = [*records.problems, *(p for sec in sections for p in sec.problems)]
    page = render.Page(
        title=title or "fairhep report",
        dirs=[str(d) for d in records.dirs] + [s.source for s in subs],
        citation=published.citation(published_dir),
        counts=records.counts(),
        problems=list(dict.fromkeys(problems)),
        sections=sections,
        out=out,
        not_counted=len(records.problems),
        notices=notices(records),
    )
    return render.write(page)


def _check_p_method(p_method: str) -> None:
    if p_method not in stats.P_VALUE_METHODS:
        raise ConfigError(
            f"unknown p-value method {p_method!r}; use one of {', '.join(stats.P_VALUE_METHODS)}"
        )


def report_sections(
    dirs: Sequence[Path],
    fig_dir: Path,
    p_method: str = "normal",
    published_dir: Path | None = None,
    subs: tuple[SubmissionTables, ...] = (),
    reference: str | None = None,
) -> tuple[RecordSet, list[Section]]:
    """The records below ``dirs`` and every section of their report (what ``report`` renders
    and ``publish`` writes as HEPData): the paper's sections, then, over several platforms or
    with submissions, the cross-platform summary first and the submissions' tables last."""
    _check_p_method(p_method)
    records = load_record_set(dirs)
    ctx = Context(records, fig_dir, p_method, published_dir, subs)
    sections = build_sections(ctx)
    summary = cross_platform.build(ctx, sections, reference)
    # The summary's first row is the reference; over one platform and no submission it only
    # repeats Table 8 and Figure 4.
    if subs or reference or len(summary.tables[0].rows) > 2:
        sections.insert(0, summary)
    if subs:
        sections.append(submissions.build(ctx, sections))
    return records, sections


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
