"""Test-set evaluation against the paper's PyTorch row of Table 8, and the ROC curves."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

from fairhep import stats
from fairhep.plots import Figure, roc_figure
from fairhep.report.context import Context
from fairhep.report.format import NONE, finite, fmt, fmt_p, num, worst
from fairhep.report.grouping import (
    FULL_TEST_SET_MIN_JETS,
    latest_per,
    model_label,
    platform_sort,
)
from fairhep.report.recordset import Record
from fairhep.report.section import Row, Section, Table, row
from fairhep.results import kinds

ID = "evaluate"
HEADERS = ("Platform", "Run", "Model", "Engine", "Accuracy", "AUC", "Jets", "Jets/s",
           "Verdict vs paper")
Curves = dict[str, tuple[list[float], list[float], float | None]]
NOT_RUN = "no evaluate records (`fairhep evaluate --run RUN --data DIR`)"


def build(ctx: Context) -> Section:
    t8 = {r["framework"]: r for r in ctx.published("table8")["rows"] if r["dataset"] == "all"}
    t4 = ctx.published("table4")["this_work"]
    paper = (float(t8["torch"]["accuracy"]), float(t8["torch"]["auc"]))
    sigma = (float(t4["val_accuracy_std"]), float(t4["val_auc_std"]))
    rows: list[Row] = []
    curves: Curves = {}
    # Another engine or precision is another measurement of the run, not a re-run of it.
    recs = latest_per(
        ctx.records.of(kinds.EVALUATE),
        lambda r: (r.platform, r.config.get("run"), r.config.get("data"), _engine(r)),
    )
    per_platform = Counter(r.platform for r in recs)
    per_run = Counter((r.platform, _run(r)) for r in recs)
    for r in sorted(recs, key=lambda r: (platform_sort(r.platform), _run(r), _engine(r))):
        rows.append(_row(r, paper, sigma))
        roc = _roc(r)
        if roc is not None:
            # A platform with several evaluated runs names each curve by its run (and engine).
            label = r.platform if per_platform[r.platform] == 1 else f"{r.platform}: {_run(r)}"
            if per_run[(r.platform, _run(r))] > 1:
                label += f" ({_engine(r)})"
            curves[label if label not in curves else f"{label} ({r.file})"] = (
                *roc,
                num(r.metrics, "auc"),
            )
    for r in ctx.records.of(kinds.BENCH_DEFAULT):
        roc, auc = _roc(r), num(r.metrics, "auc")
        if roc is not None and auc:
            curves[f"{r.platform} (bench default, synthetic)"] = (*roc, auc)
    figures: tuple[Figure, ...] = ()
    if curves:
        figures = (roc_figure(ctx.fig_dir, "roc", curves),)
    return Section(
        ID,
        "Test-set evaluation and ROC curves",
        f"Paper (Table 8, PyTorch, all 1.8 M test jets): accuracy {paper[0]}, AUC "
        f"{paper[1]}. Verdict for ≥ 1 M test jets: our model vs the paper's, with the "
        f"seed spread of Table 4 ({t4['val_accuracy_std']} / {t4['val_auc_std']}) "
        f"as the error.",
        tables=(Table("evaluate", HEADERS, tuple(rows), not_run="" if rows else NOT_RUN),),
        figures=figures,
    )


def _row(r: Record, paper: tuple[float, float], sigma: tuple[float, float]) -> Row:
    acc, auc, n = num(r.metrics, "accuracy"), num(r.metrics, "auc"), num(r.metrics, "n_jets")
    values = finite(accuracy=acc, auc=auc, n_jets=n)
    if acc is not None and auc is not None and n is not None and n >= FULL_TEST_SET_MIN_JETS:
        ca = stats.compare_to_published([acc], paper[0], sigma[0])
        cu = stats.compare_to_published([auc], paper[1], sigma[1])
        verdict = worst([ca.verdict, cu.verdict])
        text = f"{verdict} (p_acc {fmt_p(ca.p)}, p_AUC {fmt_p(cu.p)})"
        values |= finite(p_accuracy=ca.p, p_auc=cu.p)
    else:
        verdict = "n/a"
        text = f"n/a ({int(n or 0)} jets, not the 1.8 M test set)"
    cells = [
        r.platform,
        _run(r),
        model_label(r),
        _engine(r),
        fmt(acc, 5),
        fmt(auc, 5),
        NONE if n is None else str(int(n)),
        fmt(num(r.timings, "jets_per_s"), 0),
        text,
    ]
    return row(HEADERS, cells, verdict, values=values)


def _run(r: Record) -> str:
    return Path(str(r.config.get("run", NONE))).name


def _engine(r: Record) -> str:
    """The engine and precision the scores came from ('fast fp32'; '–' in older records)."""
    parts = [str(r.config[k]) for k in ("engine", "precision") if r.config.get(k)]
    return " ".join(parts) or NONE


def _roc(r: Record) -> tuple[list[float], list[float]] | None:
    """The record's ROC curve (false and true positive rates), if it has one."""
    roc = r.metrics.get("roc") or {}
    fpr, tpr = roc.get("fpr"), roc.get("tpr")
    if isinstance(fpr, list) and isinstance(tpr, list) and len(fpr) == len(tpr) > 1:
        return [float(x) for x in fpr], [float(x) for x in tpr]
    return None
