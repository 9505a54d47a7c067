"""The default benchmark (``fairhep bench``): a smoke measurement of each platform."""

from __future__ import annotations

from fairhep.report.context import Context
from fairhep.report.format import fmt, num
from fairhep.report.grouping import model_label, platform_sort
from fairhep.report.section import Section, Table, row
from fairhep.results import kinds

ID = "bench_default"
HEADERS = (
    "Platform",
    "Model",
    "Created",
    "Accuracy",
    "AUC",
    "Train jets",
    "Test jets",
    "Synth jets/s",
    "Train jets/s",
    "Eval jets/s",
    "Train s",
    "Total s",
)
# (where, key, digits) of the cells after platform, model and creation time.
COLUMNS = (
    ("metrics", "accuracy", 4),
    ("metrics", "auc", 4),
    ("metrics", "n_train_jets", 0),
    ("metrics", "n_test_jets", 0),
    ("timings", "synth_jets_per_s", 0),
    ("timings", "train_jets_per_s", 0),
    ("timings", "eval_jets_per_s", 0),
    ("timings", "train_s", 1),
    ("timings", "total_s", 1),
)


def build(ctx: Context) -> Section:
    rows = []
    for r in sorted(
        ctx.records.of(kinds.BENCH_DEFAULT),
        key=lambda r: (platform_sort(r.platform), model_label(r), r.record.created),
    ):
        got = {"metrics": r.metrics, "timings": r.timings}
        cells = [r.platform, model_label(r), r.record.created[:19]]
        cells += [fmt(num(got[where], key), digits) for where, key, digits in COLUMNS]
        rows.append(row(HEADERS, cells))
    return Section(
        ID,
        "Default benchmark (`fairhep bench`)",
        "Synthetic data and a briefly trained IN: a smoke measurement of each "
        "platform; no published counterpart.",
        tables=(
            Table(
                "bench_default",
                HEADERS,
                tuple(rows),
                not_run="" if rows else "no bench.default records (`fairhep bench`)",
            ),
        ),
    )
