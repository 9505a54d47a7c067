"""Table 8: PyTorch, ONNX Runtime and TensorRT on the same jets — parity with the reference
backend, time per batch, and the paper's ThetaGPU rows."""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from fairhep import stats
from fairhep.plots import Figure, grouped_bars
from fairhep.report.context import Context
from fairhep.report.format import MISSING, NONE, finite, fmt, num
from fairhep.report.grouping import (
    FULL_TEST_SET_MIN_JETS,
    SUITE_FORM_MARK,
    SUITE_FORM_NOTE,
    backend_sort,
    form_cell,
    group_names,
    latest_per,
    measured_thing,
    model_label,
    platform_sort,
    skipped_backends,
    suite_form,
)
from fairhep.report.recordset import Record
from fairhep.report.section import Row, Section, Table, row
from fairhep.results import kinds

ID = "table8"
HEADERS = (
    "Platform",
    "Model",
    "Run",
    "Backend",
    "Form",
    "Device",
    "Provider",
    "Precision",
    "Accuracy",
    "Time/batch 1 [ms]",
    "Time/batch 128 [ms]",
    "AUC",
    "Jets",
    "max |Δscore| (tol.)",
    "Parity",
    "vs paper",
)
PUBLISHED_HEADERS = (
    "Test data",
    "Batch",
    "Framework",
    "Accuracy",
    "Time/batch [s]",
    "AUC",
    "Parity vs PyTorch (same rows)",
)
NOT_RUN = "no bench.frameworks records with status ok (`fairhep bench --frameworks`)"
# Different trained weights differ by about this much in accuracy and AUC.
VS_PAPER_TOL = 1e-3
FIGURE_ORDER = (
    "torch/cpu",
    "torch/cuda",
    "onnxruntime/cpu",
    "onnxruntime/cuda",
    "tensorrt/cuda",
)
Bars = dict[str, dict[str, tuple[float, float]]]


def build(ctx: Context) -> Section:
    t8 = ctx.published("table8")
    recs = ctx.records.of(kinds.BENCH_FRAMEWORKS)
    pub_all = {r["framework"]: r for r in t8["rows"] if r["dataset"] == "all"}
    # One group per platform, model, run and dataset: backends are compared (parity, bars)
    # only with the reference of the same model on the same jets.
    groups: dict[tuple[str, ...], list[Record]] = defaultdict(list)
    for r in recs:
        if r.record.status == "ok":
            groups[measured_thing(r)].append(r)
    names = group_names(groups)
    rows: list[Row] = []
    t128: Bars = defaultdict(dict)
    any_suite = False
    for key in sorted(groups, key=lambda k: (platform_sort(k[0]), names[k])):
        prs = latest_per(
            groups[key],
            lambda r: (
                r.config.get("backend"),
                r.config.get("device"),
                r.config.get("provider"),
                r.config.get("precision"),
            ),
        )
        ref = _reference(prs)
        for r in sorted(prs, key=backend_sort):
            measured = _ours(r, ref, pub_all)
            rows.append(measured)
            any_suite = any_suite or suite_form(r)
            if "time_per_batch_128_s" in measured.values:
                label = f"{r.config.get('backend')}/{r.config.get('device')}"
                if suite_form(r):
                    label += f" {SUITE_FORM_MARK}"
                t128[names[key]][label] = (1e3 * measured.values["time_per_batch_128_s"],
                                           math.nan)
    not_run = skipped_backends(recs)
    if not rows:
        not_run = "; ".join(filter(None, [NOT_RUN, not_run]))
    tables = [
        _published(t8),
        Table(
            "table8",
            HEADERS,
            tuple(rows),
            "vs paper: accuracy/AUC within 1e-3 of the paper's all-data row "
            "(different trained weights differ by about that much)."
            + (f" {SUITE_FORM_NOTE}" if any_suite else ""),
            not_run=not_run,
        ),
    ]
    figures: tuple[Figure, ...] = ()
    if t128:
        figures = (
            grouped_bars(
                ctx.fig_dir,
                "table8_time_per_batch128",
                "Median time per batch of 128 jets"
                + (f" ({SUITE_FORM_MARK}: this suite's form, not the paper's)"
                   if any_suite else ""),
                "time per batch [ms]",
                dict(t128),
                log=True,
                order=FIGURE_ORDER,
            ),
        )
    return Section(
        ID,
        "Table 8 — frameworks (PyTorch, ONNX Runtime, TensorRT)",
        "Time per batch: median over batches, host→device copy + inference + "
        "device→host. Parity: accuracy and AUC within 1e-4 of the reference "
        "backend (torch on CPU, fp32) on the same platform, model, run and test "
        "jets, and every per-jet score within the run's tolerance; rows of different "
        "models or runs are separate groups, never one comparison. 'vs paper' compares "
        "with the paper's all-test-data rows (batch 128) when ≥ 1 M jets were used.",
        tables=tuple(tables),
        figures=figures,
    )


def _published(t8: dict[str, Any]) -> Table:
    """The paper's rows, with the parity our rows get applied to them."""
    rows = []
    for r in t8["rows"]:
        ref = next(
            q for q in t8["rows"] if q["dataset"] == r["dataset"] and q["framework"] == "torch"
        )
        par = stats.framework_parity(r["accuracy"], r["auc"], ref["accuracy"], ref["auc"])
        verdict = "reference" if r is ref else par.verdict.replace(" (metrics only)", "")
        cells = [
            r["dataset"],
            str(r["batch_size"]),
            r["label"],
            str(r["accuracy"]),
            str(r["time_per_batch_s"]),
            str(r["auc"]),
            verdict,
        ]
        rows.append(row(PUBLISHED_HEADERS, cells, verdict))
    return Table(
        "table8_published",
        PUBLISHED_HEADERS,
        tuple(rows),
        "Published (ThetaGPU, NVIDIA A100). "
        + " ".join(t8["table"]["caveats"][2:3])
        + " Parity as below (accuracy and AUC within 1e-4;"
        " the paper gives no per-jet check).",
    )


def _reference(prs: list[Record]) -> Record | None:
    """torch on the CPU, else torch on any device: what the other backends must agree with."""
    torch = [r for r in prs if r.config.get("backend") == "torch"]
    return next((r for r in torch if r.config.get("device") == "cpu"), None) or next(
        iter(torch), None
    )


def _ours(r: Record, ref: Record | None, pub_all: Mapping[str, Mapping[str, Any]]) -> Row:
    m = r.metrics
    tb = m.get("time_per_batch") or {}
    t1, t128 = num(tb, "1", "median_s"), num(tb, "128", "median_s")
    auc, dmax, tol = num(m, "auc"), num(m, "max_abs_dscore"), num(m, "tolerance")
    if ref is None:
        parity = "no reference record (torch)"
    else:
        par = stats.framework_parity(
            m["accuracy"], auc, ref.metrics["accuracy"], num(ref.metrics, "auc"), dmax, tol
        )
        parity = "reference" if r is ref else par.verdict
    verdict = parity
    if m.get("parity_ok") is False and "per-jet" not in parity:
        parity += "; record says parity_ok = false"
    n_jets = num(m, "n_jets")
    backend = str(r.config.get("backend"))
    dcol = f"{dmax:.2g} ({tol:.0e})" if dmax is not None and tol is not None else NONE
    flips = num(m, "n_decisions_changed")
    if flips is not None:
        dcol += f"; {int(flips)} decisions changed"
    cells = [
        r.platform,
        model_label(r),
        Path(str(r.config.get("run") or "")).name or NONE,
        backend,
        form_cell(r),
        str(r.config.get("device")),
        str(r.config.get("provider") or NONE),
        str(r.config.get("precision") or NONE),
        fmt(m["accuracy"], 5),
        fmt(None if t1 is None else 1e3 * t1, 3, MISSING),
        fmt(None if t128 is None else 1e3 * t128, 3, MISSING),
        fmt(auc, 5),
        NONE if n_jets is None else str(int(n_jets)),
        dcol,
        parity,
        _vs_paper(m, n_jets, pub_all.get(backend)),
    ]
    values = finite(
        accuracy=num(m, "accuracy"),
        auc=auc,
        time_per_batch_1_s=t1,
        time_per_batch_128_s=t128,
        n_jets=n_jets,
        max_abs_dscore=dmax,
    )
    return row(HEADERS, cells, verdict, values=values)


def _vs_paper(m: dict[str, Any], n_jets: float | None, pr: Mapping[str, Any] | None) -> str:
    if pr is None:
        return "no published row"
    if n_jets is None or n_jets < FULL_TEST_SET_MIN_JETS:
        return f"n/a ({int(n_jets or 0)} jets, not the 1.8 M test set)"
    pp = stats.framework_parity(
        m["accuracy"],
        num(m, "auc"),
        float(pr["accuracy"]),
        float(pr["auc"]),
        accuracy_tol=VS_PAPER_TOL,
        auc_tol=VS_PAPER_TOL,
    )
    return (
        f"{pp.verdict.replace('parity (metrics only)', 'consistent')} "
        f"(Δacc {pp.d_accuracy:+.1e}, ΔAUC {pp.d_auc:+.1e})"
    )
