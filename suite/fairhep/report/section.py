"""What a report is made of: sections of tables and figures, as data.

The renderers (:mod:`fairhep.report.render`) turn them into Markdown, HTML and CSV; tests read
the same objects: a row's cells by column name, its verdict and the unrounded numbers behind
its cells, without parsing Markdown.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from fairhep.plots import Figure
from fairhep.report.format import MISSING

__all__ = ["Figure", "Row", "Section", "Table", "row"]


@dataclass(frozen=True)
class Row:
    """One table row: its cells as printed, by column name (in column order).

    ``verdict`` is what the row concludes, in a word or two, where it concludes anything
    (``"consistent"``, ``"tension"``, ``"inconsistent"``, ``"undetermined"``, ``"parity"``,
    ``"reference"``, ``"skipped"``, ``"missing"``, ...); None for rows that only show values (the
    paper's own rows). ``missing`` says why a row has no measurement. ``values`` holds the
    unrounded numbers behind some cells (``p_accuracy``, ``accuracy_mean``, ...).
    """

    cells: Mapping[str, str]
    verdict: str | None = None
    missing: str | None = None
    values: Mapping[str, float] = field(default_factory=dict)

    def __getitem__(self, column: str) -> str:
        return self.cells[column]

    @property
    def texts(self) -> tuple[str, ...]:
        return tuple(self.cells.values())


def row(
    headers: Sequence[str],
    cells: Sequence[str],
    verdict: str | None = None,
    *,
    missing: str | None = None,
    values: Mapping[str, float] | None = None,
) -> Row:
    """A row of ``cells`` under ``headers``; a row with ``missing`` has the verdict "missing"
    unless it says otherwise."""
    if len(cells) != len(headers):
        raise ValueError(f"{len(cells)} cells for {len(headers)} columns ({', '.join(headers)})")
    if missing is not None and verdict is None:
        verdict = MISSING
    return Row(dict(zip(headers, cells, strict=True)), verdict, missing, dict(values or {}))


@dataclass(frozen=True)
class Table:
    """Rows that ran (and the paper's rows), and ``not_run``: what the table would also show
    but no record here gave, folded into one short line ("" when nothing is missing), e.g.
    ``"kfold on dgx, thetagpu; points on hal (no train records there)"``. The renderers
    print it under the table as "Not run here: ..."; a table with no rows prints only that.
    """

    name: str  # file stem of its CSV (tables/<name>.csv) and its HTML id (t-<name>)
    headers: tuple[str, ...]
    rows: tuple[Row, ...]
    caption: str = ""
    not_run: str = ""

    def __post_init__(self) -> None:
        for r in self.rows:
            if tuple(r.cells) != self.headers:
                raise ValueError(f"table {self.name}: a row's columns are not its headers")

    def column(self, header: str) -> list[str]:
        return [r[header] for r in self.rows]

    def where(self, **match: str) -> list[Row]:
        """The rows whose cells equal ``match`` (column names with spaces: ``**{...}``)."""
        return [r for r in self.rows if all(r[k] == v for k, v in match.items())]

    def one(self, **match: str) -> Row:
        """The one row matching ``match``; an error when there are none or several."""
        found = self.where(**match)
        if len(found) != 1:
            raise LookupError(f"table {self.name}: {len(found)} rows match {match}")
        return found[0]


@dataclass(frozen=True)
class Section:
    id: str
    title: str
    intro: str = ""
    tables: tuple[Table, ...] = ()
    figures: tuple[Figure, ...] = ()
    notes: tuple[str, ...] = ()
    # Records this section could not use, by file: the report lists them under Problems.
    problems: tuple[str, ...] = ()

    def table(self, name: str) -> Table:
        try:
            return next(t for t in self.tables if t.name == name)
        except StopIteration:
            raise LookupError(
                f"section {self.id} has no table {name!r}; it has "
                f"{', '.join(t.name for t in self.tables) or 'none'}"
            ) from None
