"""Campaign tasks that finished: a ``campaign.task`` record each (ad-hoc runs write none)."""

from __future__ import annotations

from collections import defaultdict

from fairhep.report.context import Context
from fairhep.report.format import NONE
from fairhep.report.grouping import platform_sort
from fairhep.report.section import Section, Table, row
from fairhep.results import kinds

ID = "campaign"
HEADERS = ("Platform", "Campaign", "Task kind", "Done", "Tasks")
SHOWN_TASKS = 6  # task ids listed per row; the count says the rest


def build(ctx: Context) -> Section:
    groups: dict[tuple[str, str, str], list[str]] = defaultdict(list)
    for r in ctx.records.of(kinds.CAMPAIGN_TASK):
        if r.record.status == "ok":
            key = (
                r.platform,
                str(r.config.get("campaign", NONE)),
                str(r.config.get("kind", NONE)),
            )
            groups[key].append(str(r.config.get("task") or r.record.task_id or NONE))
    rows = [
        row(
            HEADERS,
            [
                p,
                c,
                k,
                str(len(ids)),
                ", ".join(sorted(ids)[:SHOWN_TASKS]) + (" …" if len(ids) > SHOWN_TASKS else ""),
            ],
        )
        for (p, c, k), ids in sorted(
            groups.items(), key=lambda kv: (platform_sort(kv[0][0]), kv[0][1:])
        )
    ]
    return Section(
        ID,
        "Campaign tasks",
        "Tasks that finished (a `campaign.task` record each), per platform, "
        "campaign and task kind. Ad-hoc runs write none.",
        tables=(
            Table(
                "campaign",
                HEADERS,
                tuple(rows),
                not_run="" if rows else "no campaign.task records (ad-hoc runs write none)",
            ),
        ),
    )
