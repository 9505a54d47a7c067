"""Figures: each PNG with its data as a CSV in the column order named once in fairhep.plots,
drawn in the HEP style without changing matplotlib's settings for anyone else."""

from __future__ import annotations

import csv
from pathlib import Path

import matplotlib.pyplot as plt
from hatchling.builders.wheel import WheelBuilder

from fairhep import plots

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
