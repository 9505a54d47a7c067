"""Table 4: validation accuracy and AUC over seeds, and the p-value of the original model."""

from __future__ import annotations

import math
from collections import defaultdict
from typing import Any

from fairhep import stats
from fairhep.plots import Figure, grouped_bars
from fairhep.report.context import Context
from fairhep.report.format import NONE, finite, fmt_p, worst
from fairhep.report.grouping import (
    latest_per,
    platform_sort,
    run_identity,
    setup_key,
    source,
)
from fairhep.report.recordset import Record
from fairhep.report.section import Row, Section, Table, row
from fairhep.results import kinds

ID = "table4"
P_METHODS_SHOWN = ("normal", "student", "prediction")
PAPER_TRIALS = 10  # the paper's seeds behind its mean ± std
NOT_RUN = "no train records with split kfold, fold 0 (`fairhep train --seed S`, several seeds)"


def build(ctx: Context) -> Section:
    t4 = ctx.published("table4")
    orig_acc = float(t4["original"]["val_accuracy"])
    orig_auc = float(t4["original"]["val_auc"])
    headers = (
        "Platform",
        "Source",
        "Seeds",
        "Model h/D_E/D_O, train jets",
        "Val. accuracy",
        "AUC",
        f"p (accuracy ≥ {orig_acc:.4f})",
        f"p (AUC ≥ {orig_auc:.4f})",
        "Verdict",
    )
    tw = t4["this_work"]
    rows = [
        row(
            headers,
            [
                "hal",
                "paper (this work)",
                str(t4["table"]["n_trials"]),
                "60/20/24, 5.2M jets",
                f"{tw['val_accuracy_mean']} ± {tw['val_accuracy_std']}",
                f"{tw['val_auc_mean']} ± {tw['val_auc_std']}",
                f"{t4['p_value']['val_accuracy']}%",
                f"{t4['p_value']['val_auc']}%",
                "consistent (paper)",
            ],
        ),
        row(
            headers,
            [
                "GTX 1080",
                "paper (original model)",
                "1",
                "60/20/24, 80 % of the data",
                str(t4["original"]["val_accuracy"]),
                str(t4["original"]["val_auc"]),
                NONE,
                NONE,
                NONE,
            ],
        ),
    ]
    groups: dict[tuple[str, str], list[Record]] = defaultdict(list)
    labels = ctx.setup_labels()
    for r in ctx.records.of(kinds.TRAIN):
        if r.config.get("split", "kfold") == "kfold" and str(r.config.get("fold", 0) or 0) == "0":
            groups[(r.platform, labels[setup_key(r)])].append(r)
    acc_series: dict[str, tuple[float, float]] = {}
    auc_series: dict[str, tuple[float, float]] = {}
    several = len({k[1] for k in groups}) > 1
    for plat, stp in sorted(groups, key=lambda k: (platform_sort(k[0]), k[1])):
        recs = latest_per(groups[(plat, stp)], run_identity)
        ours, acc, auc = _ours(headers, plat, stp, recs, orig_acc, orig_auc, ctx.p_method)
        rows.append(ours)
        cat = f"{plat} [{stp}]" if several else plat
        acc_series[cat] = (acc.mean, acc.std)
        auc_series[cat] = (auc.mean, auc.std)
    not_run = "" if groups else NOT_RUN
    figures: tuple[Figure, ...] = ()
    if groups:
        figures = tuple(
            grouped_bars(
                ctx.fig_dir,
                f"table4_{name}",
                f"Validation {what} over seeds (kfold, fold 0)",
                label,
                {series_label: series},
                dict.fromkeys(series, original),
                order=list(series),
            )
            for name, what, label, series_label, series, original in (
                ("accuracy", "accuracy", "validation accuracy", "val. accuracy", acc_series,
                 orig_acc),
                ("auc", "AUC", "AUC", "AUC", auc_series, orig_auc),
            )
        )
    return Section(
        ID,
        "Table 4 — reproducibility over seeds",
        f"Validation accuracy and AUC over seeds (split kfold, fold 0: the paper's "
        f"first-five-files validation), mean ± sample std, and the one-sided "
        f"upper-tail p-value of the original model's {orig_acc:.4f} / {orig_auc:.4f} "
        f"(method: {ctx.p_method}; verdict: p ≥ 5 % consistent, 1–5 % tension, "
        f"< 1 % inconsistent).",
        tables=(Table("table4", headers, tuple(rows), not_run=not_run), _p_methods(t4)),
        figures=figures,
    )


def _ours(
    headers: tuple[str, ...],
    plat: str,
    stp: str,
    recs: list[Record],
    orig_acc: float,
    orig_auc: float,
    p_method: str,
) -> tuple[Row, stats.Summary, stats.Summary]:
    """Our seeds of one platform and setup against the original model's values."""
    accs = [r.metrics["val_accuracy"] for r in recs]
    aucs = [r.metrics["val_auc"] for r in recs]
    acc, auc = stats.summarize(accs), stats.summarize(aucs)
    if acc.n >= 2:
        p_acc = stats.upper_tail_p(orig_acc, acc.mean, acc.std, acc.n, p_method, accs)
        p_auc = stats.upper_tail_p(orig_auc, auc.mean, auc.std, auc.n, p_method, aucs)
        text = verdict = worst([stats.verdict(p_acc), stats.verdict(p_auc)])
    else:
        p_acc = p_auc = math.nan
        verdict, text = "undetermined", "undetermined (needs ≥ 2 seeds)"
    cells = [plat, source(recs), str(acc.n), stp, acc.fmt(4), auc.fmt(4)]
    cells += [fmt_p(p_acc), fmt_p(p_auc)]
    values = finite(
        n=acc.n,
        accuracy_mean=acc.mean,
        accuracy_std=acc.std,
        auc_mean=auc.mean,
        auc_std=auc.std,
        p_accuracy=p_acc,
        p_auc=p_auc,
    )
    return row(headers, [*cells, text], verdict, values=values), acc, auc


def _p_methods(t4: dict[str, Any]) -> Table:
    """How the candidate p-value methods behave on the paper's own printed numbers."""
    tw = t4["this_work"]
    headers = (
        "Method",
        "p acc (printed mean/std)",
        "p acc range (rounding)",
        "paper acc within?",
        "p AUC (printed mean/std)",
        "p AUC range (rounding)",
        "paper AUC within?",
    )
    rows = []
    for m in P_METHODS_SHOWN:
        cells = [m]
        within = []
        for key in ("val_accuracy", "val_auc"):
            mean, std = tw[f"{key}_mean"], tw[f"{key}_std"]
            pv = t4["original"][key]
            p = stats.upper_tail_p(float(pv), float(mean), float(std), PAPER_TRIALS, m)
            lo, hi = stats.p_value_bounds(pv, mean, std, PAPER_TRIALS, m)
            printed = float(t4["p_value"][key]) / 100
            within.append(lo <= printed <= hi)
            ok = "yes" if within[-1] else "no"
            cells += [fmt_p(p), f"{fmt_p(lo)} – {fmt_p(hi)}", f"{t4['p_value'][key]}%: {ok}"]
        rows.append(row(headers, cells, "compatible" if all(within) else "incompatible"))
    return Table(
        "table4_p_methods",
        headers,
        tuple(rows),
        "The paper's p-values cannot be recomputed exactly from its rounded mean ± std; "
        "the range is over every mean/std that rounds to the printed ones. Empirical "
        "p-values from 10 trials are multiples of 10 % and cannot give 12.69 %.",
    )
