"""Figure 4: throughput and GPU utilisation against batch size, one sweep per record."""

from __future__ import annotations

import re
from collections import defaultdict
from collections.abc import Sequence
from typing import Any

from fairhep.plots import Figure, SweepSeries, sweep_figure, write_sweep_csv
from fairhep.report.context import Context
from fairhep.report.format import NONE, finite, num
from fairhep.report.grouping import (
    SUITE_FORM_MARK,
    SUITE_FORM_NOTE,
    form_cell,
    model_label,
    platform_sort,
    skipped_backends,
    suite_form,
)
from fairhep.report.recordset import Record
from fairhep.report.section import Row, Section, Table, row
from fairhep.results import kinds

ID = "figure4"
HEADERS = (
    "Platform",
    "Model",
    "GPU",
    "Backend",
    "Form",
    "Precision",
    "Batch sizes",
    "Repeats",
    "Peak jets/s (batch)",
    "Paper peak",
    "Ratio",
    "GPU util. at peak",
    "NVML",
    "Verdict",
)
# A peak within this factor of the paper's counts as consistent (TensorRT on an A100 only).
CONSISTENT_RATIO = (0.8, 1.25)
Point = tuple[float, float]
NOT_RUN = "no bench.sweep records (`fairhep bench --batch-sweep`)"


def build(ctx: Context) -> Section:
    f4 = ctx.published("figure4")
    peak = (float(f4["peak"]["batch_size"]), float(f4["peak"]["jets_per_s"]))
    pub_util = [
        (float(p["batch_size"]), float(p["gpu_util_pct"]))
        for p in f4["points"]
        if "gpu_util_pct" in p
    ]
    pub_rates = [
        (float(p["batch_size"]), float(p["jets_per_s"]))
        for p in f4["points"]
        if "jets_per_s" in p and p.get("source") == "plot"
    ]
    rows: list[Row] = []
    figures: list[Figure] = []
    problems: list[str] = []
    recs = ctx.records.of(kinds.BENCH_SWEEP)
    used: set[str] = set()
    for r in sorted(recs, key=lambda r: (platform_sort(r.platform), model_label(r),
                                         str(r.config.get("backend")))):
        if r.record.status != "ok":
            continue  # named in the table's "not run here" line
        points = [
            p
            for p in r.metrics.get("points") or []
            if isinstance(p, dict)
            and num(p, "batch_size") is not None
            and num(p, "jets_per_s") is not None
        ]
        if not points:
            problems.append(
                f"{r.file} ({r.platform}): bench.sweep record without metrics.points — skipped"
            )
            continue
        rows.append(_measured(r, points, peak))
        backend = str(r.config.get("backend"))
        trt = backend == "tensorrt"
        model = model_label(r)
        # One figure per sweep: two models (or re-runs) on one platform never share a file.
        base = re.sub(r"[^A-Za-z0-9_.-]+", "_", f"figure4_{r.platform}_{model}_{backend}")
        safe, n = base, 1
        while safe in used:
            n += 1
            safe = f"{base}_{n}"
        used.add(safe)
        series = SweepSeries(
            backend,
            str(r.config.get("device") or ""),
            r.config.get("provider"),
            str(r.config.get("precision") or ""),
            points,
        )
        form = (f" {SUITE_FORM_MARK} (this suite's form, not the paper's)"
                if suite_form(r) else "")
        title = f"{backend}{form} on {r.platform} ({r.gpu}), {model}"
        nvml = r.metrics.get("nvml") or {}
        png = sweep_figure(
            ctx.fig_dir / f"{safe}.png",
            [series],
            title,
            note=None if nvml.get("available") else
            f"GPU utilisation: {nvml.get('reason') or 'not recorded'}",
            published_peak=peak,
            published_util=pub_util if trt else (),
            published_rates=pub_rates if trt else (),
        )
        figures.append(Figure(title, png, write_sweep_csv(ctx.fig_dir / f"{safe}.csv", [series])))
    not_run = skipped_backends(recs) if recs else NOT_RUN
    return Section(
        ID,
        "Figure 4 — throughput and GPU utilisation vs batch size",
        f"Box plots of throughput (batch / time per batch) per batch size, GPU "
        f"utilisation (NVML) on the right axis. Paper: TensorRT on an A100, peak "
        f"{peak[1]:.0f} jets/s at batch {peak[0]:.0f}, utilisation 100 % from batch "
        f"{f4['saturation']['batch_size']}. Verdict only for TensorRT on an A100: "
        f"peak within a factor 0.8–1.25 of the paper's. One row and figure per sweep: "
        f"rows of different models are not one platform's faster and slower runs.",
        tables=(Table("figure4", HEADERS, tuple(rows),
                      SUITE_FORM_NOTE if any(suite_form(r) for r in recs) else "",
                      not_run=not_run),),
        figures=tuple(figures),
        problems=tuple(problems),
    )


def _measured(r: Record, points: Sequence[dict[str, Any]], paper: Point) -> Row:
    backend = str(r.config.get("backend"))
    peak = num(r.metrics, "peak_jets_per_s")
    peak_at = num(r.metrics, "peak_batch_size")
    if peak is None:  # derive it as the sweep module defines it: best median
        meds = _medians(points)
        peak_at = max(meds, key=meds.__getitem__)
        peak = meds[peak_at]
    utils = [
        float(p["gpu_util_pct"])
        for p in points
        if p.get("gpu_util_pct") is not None and num(p, "batch_size") == peak_at
    ]
    nvml = r.metrics.get("nvml") or {}
    nv = "yes" if nvml.get("available") else f"no: {nvml.get('reason') or 'not recorded'}"
    ratio = peak / paper[1]
    if backend != "tensorrt":
        verdict = "not comparable (paper: TensorRT)"
    elif "A100" not in r.gpu:
        verdict = f"not comparable (GPU {r.gpu}; paper: A100)"
    elif CONSISTENT_RATIO[0] <= ratio <= CONSISTENT_RATIO[1]:
        verdict = "consistent"
    else:
        verdict = "faster than paper" if ratio > 1 else "slower than paper"
    sizes = sorted({int(p["batch_size"]) for p in points})
    reps = max(sum(1 for p in points if int(p["batch_size"]) == b) for b in sizes)
    util = sum(utils) / len(utils) if utils else None
    cells = [
        r.platform,
        model_label(r),
        r.gpu,
        backend,
        form_cell(r),
        str(r.config.get("precision") or NONE),
        f"{sizes[0]}–{sizes[-1]} ({len(sizes)})",
        str(reps),
        f"{peak:.0f} ({peak_at:.0f})",
        f"{paper[1]:.0f} ({paper[0]:.0f})",
        f"{ratio:.2f}",
        NONE if util is None else f"{util:.0f}%",
        nv,
        verdict,
    ]
    values = finite(
        peak_jets_per_s=peak, peak_batch_size=peak_at, ratio=ratio, gpu_util_at_peak_pct=util
    )
    return row(HEADERS, cells, verdict, values=values)


def _medians(points: Sequence[dict[str, Any]]) -> dict[float, float]:
    import numpy as np

    by: dict[float, list[float]] = defaultdict(list)
    for p in points:
        by[float(p["batch_size"])].append(float(p["jets_per_s"]))
    return {b: float(np.median(v)) for b, v in by.items()}
