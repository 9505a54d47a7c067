"""Tables 5 and 7: split methods × platforms, ours against the paper's single runs, and the
spread across platforms and splits against the seed spread."""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Callable, Mapping
from typing import Any

from fairhep import published, stats
from fairhep.plots import Figure, grouped_bars
from fairhep.report.context import Context
from fairhep.report.format import MISSING, NONE, finite, fmt, fmt_p, num, worst
from fairhep.report.grouping import (
    SPLIT_NAMES,
    SPLITS,
    Setup,
    by_setup,
    latest_per,
    paper_like,
    platform_sort,
    run_identity,
    source,
    split_sort,
)
from fairhep.report.recordset import Record
from fairhep.report.section import Row, Section, Table, row
from fairhep.results import kinds

ID = "table57"
Cell = tuple[str, str]  # (split, platform)
Bars = dict[str, dict[str, tuple[float, float]]]
HEADERS = (
    "Split",
    "Platform",
    "Source",
    "Runs",
    "Model h/D_E/D_O, train jets",
    "Epochs",
    "Val. accuracy",
    "Val. loss",
    "Train (valid) time/epoch [s]",
    "AUC",
    "Verdict",
)
SPREAD_HEADERS = (
    "Source",
    "Comparison",
    "Within",
    "Quantity",
    "Groups",
    "Method",
    "Statistic",
    "dof",
    "p",
    "Verdict",
)
QUANTITIES = (("val_accuracy", "acc"), ("val_auc", "AUC"))


def build(ctx: Context) -> Section:
    sigma = _paper_seed_spread(ctx)
    pub_cells: dict[Cell, dict[str, Any]] = {}
    for prow in ctx.published("table5")["rows"]:
        pub_cells[(prow["split"], "hal")] = prow
    for prow in ctx.published("table7")["rows"]:
        pub_cells[(prow["split"], prow["platform"])] = prow
    ours: dict[Cell, list[Record]] = defaultdict(list)
    for r in ctx.records.of(kinds.TRAIN):
        ours[(str(r.config.get("split", "kfold")), r.platform)].append(r)
    # Our platforms that name a published one ("hal", "hal (generated fixture, ...)") sit
    # beside its row; each keeps its own row.
    by_key: dict[Cell, list[str]] = defaultdict(list)
    for split, plat in ours:
        by_key[(split, published.platform_key(plat) or plat)].append(plat)
    labels = ctx.setup_labels()
    several_setups = len(set(labels.values())) > 1
    rows: list[Row] = []
    not_run: dict[str, list[str]] = defaultdict(list)
    fig_acc: Bars = defaultdict(dict)
    fig_auc: Bars = defaultdict(dict)
    for split, key in sorted(
        set(by_key) | set(pub_cells), key=lambda k: (split_sort(k[0]), platform_sort(k[1]))
    ):
        pubrow = pub_cells.get((split, key))
        for plat in sorted(by_key.get((split, key), [])):
            cell = by_setup(labels, latest_per(ours[(split, plat)], run_identity))
            for stp, recs in sorted(cell.items()):
                series = f"{plat} [{stp}]" if several_setups else plat
                measured, acc, auc = _ours(split, plat, stp, recs, pubrow, sigma)
                rows.append(measured)
                fig_acc[series][split] = (acc.mean, acc.std)
                fig_auc[series][split] = (auc.mean, auc.std)
        if (split, key) not in by_key:
            not_run[split].append(key)
        if pubrow is not None:
            rows.append(_paper(split, key, pubrow))
            fig_acc[f"paper {key}"][split] = (float(pubrow["val_accuracy"]), math.nan)
            fig_auc[f"paper {key}"][split] = (float(pubrow["val_auc"]), math.nan)
    figures: tuple[Figure, ...] = ()
    if fig_acc:
        figures = tuple(
            grouped_bars(
                ctx.fig_dir,
                f"table57_{name}",
                f"Validation {what} per split and platform",
                ylabel,
                dict(bars),
                order=SPLITS,
            )
            for name, what, ylabel, bars in (
                ("accuracy", "accuracy", "validation accuracy", fig_acc),
                ("auc", "AUC", "AUC", fig_auc),
            )
        )
    return Section(
        ID,
        "Tables 5 and 7 — split methods × platforms",
        "Ours: mean ± sample std over the runs in each cell (kfold: all folds and "
        "seeds). Paper: one training per cell. Verdict: our runs vs the paper's "
        "single run, z = (mean − paper)/(s·√(1+1/n)), s = our seed spread (or, "
        "with one run of the baseline IN on ≥ 1 M training jets, Table 4's "
        "0.0005 / 0.0002); worst of accuracy and AUC. Splits: "
        + "; ".join(f"{k} = {v}" for k, v in SPLIT_NAMES.items())
        + ".",
        tables=(
            Table("table57", HEADERS, tuple(rows), not_run=_not_run(not_run)),
            _spread_table(ctx, labels, ours, sigma),
        ),
        figures=figures,
    )


def _not_run(cells: Mapping[str, list[str]]) -> str:
    """The published cells without a train record here, by split."""
    if not cells:
        return ""
    where = "; ".join(f"{split} on {', '.join(plats)}" for split, plats in cells.items())
    return f"{where} (no train records with that split there)"


def _paper_seed_spread(ctx: Context) -> dict[str, float]:
    t4 = ctx.published("table4")["this_work"]
    return {"val_accuracy": float(t4["val_accuracy_std"]), "val_auc": float(t4["val_auc_std"])}


def _values(recs: list[Record], get: Callable[[Record], dict[str, Any]], key: str) -> list[float]:
    return [float(get(r)[key]) for r in recs if num(get(r), key) is not None]


def _metric(recs: list[Record], key: str) -> list[float]:
    return _values(recs, lambda r: r.metrics, key)


def _ours(
    split: str,
    plat: str,
    stp: str,
    recs: list[Record],
    pubrow: Mapping[str, Any] | None,
    sigma: dict[str, float],
) -> tuple[Row, stats.Summary, stats.Summary]:
    """Our runs of one setup in one (split, platform) cell, against the paper's run there."""
    m = {k: stats.summarize(_metric(recs, k)) for k in ("val_accuracy", "val_auc", "val_loss")}
    epochs = stats.summarize(_metric(recs, "epochs"))
    tt = stats.summarize(_values(recs, lambda r: r.timings, "train_s_per_epoch"))
    tv = stats.summarize(_values(recs, lambda r: r.timings, "valid_s_per_epoch"))
    values = finite(
        runs=len(recs),
        accuracy_mean=m["val_accuracy"].mean,
        accuracy_std=m["val_accuracy"].std,
        auc_mean=m["val_auc"].mean,
        auc_std=m["val_auc"].std,
        loss_mean=m["val_loss"].mean,
        epochs_mean=epochs.mean,
    )
    verdict: str | None = None
    text = "no published value"
    if pubrow is not None:
        borrow = all(paper_like(r) for r in recs)
        parts = []
        for key, label in QUANTITIES:
            c = stats.compare_to_published(
                _metric(recs, key), float(pubrow[key]), sigma[key] if borrow else None
            )
            parts.append((c.verdict, f"p_{label} {fmt_p(c.p)}"))
            values.update(finite(**{f"p_{key.removeprefix('val_')}": c.p}))
        verdict = worst(v for v, _ in parts)
        text = f"{verdict} ({', '.join(t for _, t in parts)})"
        if all(v == "undetermined" for v, _ in parts):
            text = (
                "undetermined: one run, and the paper's seed spread applies "
                "only to the baseline IN on the full dataset"
            )
    cells = [
        split,
        plat,
        source(recs),
        str(len(recs)),
        stp,
        fmt(epochs.mean, 1, MISSING),
        m["val_accuracy"].fmt(4),
        m["val_loss"].fmt(4),
        f"{fmt(tt.mean, 1)} ({fmt(tv.mean, 1)})" if tt.n else MISSING,
        m["val_auc"].fmt(4),
        text,
    ]
    return row(HEADERS, cells, verdict, values=values), m["val_accuracy"], m["val_auc"]


def _paper(split: str, plat: str, pubrow: Mapping[str, Any]) -> Row:
    cells = [
        split,
        plat,
        "paper",
        "1",
        "60/20/24, 5.2M jets",
        str(pubrow["epochs"]),
        str(pubrow["val_accuracy"]),
        str(pubrow["val_loss"]),
        f"{pubrow['train_s_per_epoch']} ({pubrow['valid_s_per_epoch']})",
        str(pubrow["val_auc"]),
        NONE,
    ]
    return row(HEADERS, cells)


def _spread_rows(
    source: str,
    grouping: str,
    cells: dict[Cell, list[float]],
    key: str,
    along: int,
    sigma: float | None,
) -> list[Row]:
    """Per split (``along=1``: groups are platforms) or per platform (``along=0``: groups are
    splits), is the spread between the groups compatible with the seed spread?"""
    outer_sort = split_sort if along == 1 else platform_sort
    inner_sort = split_sort if along == 0 else platform_sort
    rows = []
    for o in sorted({k[1 - along] for k in cells}, key=outer_sort):
        groups = {k[along]: v for k, v in cells.items() if k[1 - along] == o}
        if len(groups) < 2:
            continue
        res = stats.spread_consistency(groups, sigma)
        cells_ = [
            source,
            grouping,
            o,
            "accuracy" if key == "val_accuracy" else "AUC",
            ", ".join(sorted(groups, key=inner_sort)),
            res.detail,
            fmt(res.statistic, 2),
            str(res.dof),
            fmt_p(res.p),
            res.verdict,
        ]
        values = finite(statistic=res.statistic, dof=res.dof, p=res.p)
        rows.append(row(SPREAD_HEADERS, cells_, res.verdict, values=values))
    return rows


def _spread_table(
    ctx: Context,
    labels: dict[Setup, str],
    by_key: dict[Cell, list[Record]],
    sigma: dict[str, float],
) -> Table:
    """Spread across platforms (per split) and across splits (per platform)."""
    per_setup: dict[str, dict[Cell, list[Record]]] = defaultdict(dict)
    for k, v in by_key.items():
        for stp, recs in by_setup(labels, latest_per(v, run_identity)).items():
            per_setup[stp][k] = recs
    rows: list[Row] = []
    for key, _ in QUANTITIES:
        for stp, cells in sorted(per_setup.items()):
            ours = {k: _metric(v, key) for k, v in cells.items()}
            ours = {k: v for k, v in ours.items() if v}
            borrow = all(paper_like(r) for v in cells.values() for r in v)
            who = source(r for v in cells.values() for r in v)
            label = who if len(per_setup) == 1 else f"{who} [{stp}]"
            spread = sigma[key] if borrow else None
            rows += _spread_rows(label, "across platforms", ours, key, 1, spread)
            rows += _spread_rows(label, "across splits", ours, key, 0, spread)
        pub7 = {
            (prow["split"], prow["platform"]): [float(prow[key])]
            for prow in ctx.published("table7")["rows"]
        }
        rows += _spread_rows("paper (Table 7)", "across platforms", pub7, key, 1, sigma[key])
        rows += _spread_rows("paper (Table 7)", "across splits", pub7, key, 0, sigma[key])
    ours_compared = any(not r["Source"].startswith("paper") for r in rows)
    return Table(
        "table57_spread",
        SPREAD_HEADERS,
        tuple(rows),
        "Is the spread between groups compatible with the seed-to-seed spread? ANOVA when "
        "every group has ≥ 2 runs, else chi-square of the group means with the pooled seed "
        "spread or, with one run per group, Table 4's published seed spread as the error "
        "(only for the baseline IN trained on ≥ 1 M jets; otherwise undetermined).",
        not_run="" if ours_compared else "the spread of ours (needs train records on two or "
        "more platforms, or with two or more splits)",
    )
