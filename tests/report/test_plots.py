"""Figures: each PNG with its data as a CSV in the column order named once in fairhep.plots,
drawn in the HEP style without changing matplotlib's settings for anyone else."""

from __future__ import annotations

import csv
import math
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import matplotlib.pyplot as plt
import numpy as np
import pytest
from hatchling.builders.wheel import WheelBuilder

from fairhep import plots
from figure_checks import figure_problems, legend_labels

ROOT = Path(__file__).resolve().parents[2]


def header(path: Path) -> tuple[str, ...]:
    with path.open() as fh:
        return tuple(next(csv.reader(fh)))


def test_figures_write_their_csv_columns_and_leave_rcparams_alone(tmp_path: Path) -> None:
    before = dict(plt.rcParams)
    roc = plots.roc_figure(tmp_path, "roc", {"hal": ([0.0, 0.1, 1.0], [0.0, 0.8, 1.0], 0.9)})
    bars = plots.grouped_bars(
        tmp_path, "bars", "Accuracy", "accuracy", {"hal": {"kfold": (0.95, 1e-3)}}, {"kfold": 0.955}
    )
    points = [{"batch_size": b, "repeat": 0, "jets_per_s": 10.0 * b} for b in (100, 200)]
    series = plots.SweepSeries("torch", "cpu", None, "fp32", points)
    png = plots.sweep_figure(tmp_path / "sweep.png", [series], "t", published_peak=(1200, 35e3))
    sweep = plots.Figure("t", png, plots.write_sweep_csv(tmp_path / "sweep.csv", [series]))
    assert header(roc.csv) == plots.ROC_CSV_COLUMNS
    assert header(bars.csv) == plots.BARS_CSV_COLUMNS
    assert header(sweep.csv) == plots.SWEEP_CSV_COLUMNS
    assert all(f.png.stat().st_size > 5000 for f in (roc, bars, sweep))
    after = dict(plt.rcParams)
    assert after == before  # the style is a context around each figure, not a global setting
    assert plots.style()["xtick.direction"] == "in" and plots.style()["font.size"] == 10


def test_the_report_templates_and_published_values_ship_in_the_wheel() -> None:
    names = {f.distribution_path for f in WheelBuilder(str(ROOT)).recurse_included_files()}
    templates = "fairhep/report/templates"
    assert {f"{templates}/report.md.j2", f"{templates}/report.html.j2"} <= names
    assert "fairhep/_published/table4.toml" in names
    assert not any(n.startswith("fairhep/templates/") for n in names)


# ---- layout: what a reader sees (tests/figure_checks.py measures it on the drawn figure) ----

LONG = "(generated fixture, not a measurement)"


def sweep_points(rates: dict[int, list[float]], util: float | None = None
                 ) -> list[dict[str, Any]]:
    return [
        {"batch_size": b, "repeat": i, "jets_per_s": r, "gpu_util_pct": util}
        for b, rs in rates.items()
        for i, r in enumerate(rs)
    ]


@pytest.fixture
def styled() -> Iterator[None]:
    """Measure inside the style the figures are saved with (fonts are looked up late)."""
    with plt.style.context(plots.style()):
        yield


def test_category_labels_never_overlap_however_many_platforms(styled: None) -> None:
    for n in (2, 3, 5, 8):
        cats = {f"platform{i} {LONG}": (0.9545, 4e-4) for i in range(n)}
        fig = plots.draw_bars(
            "Validation accuracy over seeds", "validation accuracy",
            {"val. accuracy": cats}, dict.fromkeys(cats, 0.955), order=list(cats),
        )
        assert figure_problems(fig) == [], n
        shown = [" ".join(t.get_text().split()) for t in fig.axes[0].get_xticklabels()]
        assert shown == list(cats)  # wrapped, never cut
        plt.close(fig)


def test_roc_legend_sits_below_the_curves_and_keeps_long_labels_whole(styled: None) -> None:
    fpr = list(np.logspace(-5, 0, 60))
    curves = {
        f"{name} {LONG}": ([0.0, *fpr], [0.0, *np.clip(np.array(fpr) ** 0.08, 0, 1)], 0.97)
        for name in ("hal", "dgx", "thetagpu", "local: train-s0-kfold-f0 (bench default)")
    }
    fig = plots.draw_roc(curves)
    assert figure_problems(fig) == []
    assert legend_labels(fig) == [f"{k} (AUC 0.9700)" for k in curves]
    plt.close(fig)


def test_a_cpu_sweep_is_scaled_to_its_data_and_names_the_papers_peak(styled: None) -> None:
    rates = {16: [80.0, 85.0], 32: [150.0, 160.0], 128: [380.0, 437.0], 512: [500.0, 510.0]}
    series = plots.SweepSeries("torch", "cpu", None, "fp32", sweep_points(rates))
    fig = plots.draw_sweep([series], "torch on local (no GPU)", plots.SweepOverlay(
        note="GPU utilisation: NVML unavailable (NVML Shared Library Not Found)",
        published_peak=(1200, 35000.0), published_rates=[(200, 13800.0)],
    ))
    assert figure_problems(fig) == []
    ax = fig.axes[0]
    lo, hi = ax.get_ylim()
    assert 0 <= lo <= 80 and 510 < hi < 600  # the data fill the panel; 35k is far above
    assert ax.get_xscale() == "log"  # a doubling grid: 16 and 32 do not sit on the axis
    assert len(fig.axes) == 1  # no utilisation measured: no second axis
    # The note heads the legend; the paper's peak is named there, its 13.8k reading left out.
    assert legend_labels(fig) == [
        "GPU utilisation: NVML unavailable (NVML Shared Library Not Found)",
        "paper: peak 35k jets/s at batch 1200 (A100), 64× above this scale",
    ]
    plt.close(fig)


def test_a_gpu_sweep_near_the_paper_draws_its_peak_on_the_axis(
    styled: None, fixture_records
) -> None:
    rec = next(
        r for r in fixture_records("bench.sweep")
        if r["config"]["backend"] == "tensorrt"
    )
    series = plots.SweepSeries("tensorrt", "cuda", None, "fp16", rec["metrics"]["points"])
    fig = plots.draw_sweep([series], "tensorrt on thetagpu", plots.SweepOverlay(
        published_peak=(1200, 35000.0), published_util=[(200, 51.0), (1000, 100.0)],
        published_rates=[(3400, 23000.0)],
    ))
    assert figure_problems(fig) == []
    ax, ax2 = fig.axes
    assert ax.get_xscale() == "linear" and ax.get_ylim()[1] > 35000
    lines = {ln.get_label(): ln for ln in [*ax.get_lines(), *ax2.get_lines()]}
    peak = lines["paper: peak 35k jets/s at batch 1200 (A100)"]
    assert np.asarray(peak.get_xdata()).tolist() == [1200]
    assert {"paper: throughput (read off the plot)", "GPU utilisation (NVML)",
            "paper: GPU utilisation"} <= set(lines)
    plt.close(fig)


def test_log_time_axis_has_plain_ticks_and_room_for_every_point(styled: None) -> None:
    for times in (
        {"torch/cpu": 1338.4, "onnxruntime/cpu": 262.9},
        {"torch/cpu": 41.0, "torch/cuda": 1.23, "onnxruntime/cuda": 1.1, "tensorrt/cuda": 0.6},
    ):
        fig = plots.draw_bars(
            "Median time per batch of 128 jets", "time per batch [ms]",
            {"hal": {k: (v, math.nan) for k, v in times.items()},
             "dgx": {k: (0.9 * v, math.nan) for k, v in times.items()}},
            log=True,
        )
        assert figure_problems(fig) == []
        ax = fig.axes[0]
        lo, hi = ax.get_ylim()
        assert lo < 0.9 * min(times.values()) / 1.2 and hi > max(times.values()) * 1.2
        ticks = [t.get_text() for t in ax.get_yticklabels() if lo <= t.get_position()[1] <= hi]
        assert len(ticks) >= 3 and all(float(t) > 0 for t in ticks)  # plain numbers, no 10^x
        plt.close(fig)


def test_the_bench_sweep_keeps_its_call_and_a_note_heads_the_legend(tmp_path: Path) -> None:
    """The bench calls sweep_figure(png, series, title, note=...) with several backends."""
    series = [
        plots.SweepSeries(b, "cpu", p, "fp32", sweep_points({1: [9.0], 32: [48.0], 128: [390.0]}))
        for b, p in (("torch", None), ("onnxruntime", "CPUExecutionProvider"))
    ]
    png = plots.sweep_figure(tmp_path / "sweep.png", series, "on vm", note="GPU utilisation: -")
    assert png.stat().st_size > 5000
    with plt.style.context(plots.style()):
        fig = plots.draw_sweep(
            series, "on vm", plots.SweepOverlay(note="GPU utilisation: NVML unavailable")
        )
        assert figure_problems(fig) == []
        assert legend_labels(fig) == ["GPU utilisation: NVML unavailable"]
        plt.close(fig)
