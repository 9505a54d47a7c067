"""Tables read back from HEPData submissions (``fairhep report --published SUBMISSION``), set
beside the local table of the same name: one table each, a ``From`` column saying whether a
row is local (or the paper's, as the local table prints it) or which submission it came from.
The verdicts and p-values of published rows are the ones their report computed."""

from __future__ import annotations

from collections.abc import Sequence

from fairhep.report.context import Context
from fairhep.report.section import Row, Section, Table

ID = "submissions"
FROM = "From"
LOCAL = "local"


def _with_from(source: str, rows: Sequence[Row]) -> list[Row]:
    return [Row({FROM: source, **r.cells}, r.verdict, r.missing, r.values) for r in rows]


def build(ctx: Context, sections: Sequence[Section]) -> Section:
    local = {t.name: t for s in sections for t in s.tables}
    names = list(dict.fromkeys(t.name for sub in ctx.submissions for t in sub.tables))
    tables = []
    notes = []
    for name in names:
        mine = local.get(name)
        published = [(sub.source, t.table) for sub in ctx.submissions for t in sub.of(name)]
        headers = published[0][1].headers
        rows: list[Row] = []
        if mine is not None and mine.headers == headers:
            rows += _with_from(LOCAL, mine.rows)
        elif mine is not None:
            notes.append(f"{name}: the submission's columns differ from this report's; its "
                         "rows are shown without the local ones")
        for source, table in published:
            if table.headers == headers:
                rows += _with_from(source, table.rows)
            else:
                notes.append(f"{name} in {source}: other columns than the first submission's; "
                             "not shown")
        caption = mine.caption if mine is not None else published[0][1].caption
        tables.append(Table(f"published_{name}", (FROM, *headers), tuple(rows), caption))
    return Section(
        ID,
        "Published results beside local ones (HEPData submissions)",
        "Each table of the submissions given with --published, its rows beside this "
        f"report's rows of the same table ({FROM} = {LOCAL}: the local records and the "
        "paper's rows as the local table prints them). Numbers read back as HEPData keeps "
        "them (0.9350 reads 0.935).",
        tables=tuple(tables),
        notes=tuple(notes),
    )
