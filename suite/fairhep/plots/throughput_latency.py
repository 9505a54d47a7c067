"""Throughput against latency as the number of concurrent clients grows (the curve
perf_analyzer draws): one line per server and platform, each point labelled with its clients,
p50 and p99 both drawn, with the points as a CSV."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import matplotlib.pyplot as plt
from matplotlib.figure import Figure as MplFigure

from fairhep.plots.base import Figure, save, styled, write_csv
from fairhep.plots.layout import legend_below

CSV_COLUMNS: tuple[str, ...] = ("series", "concurrency", "jets_per_s", "p50_ms", "p90_ms",
                                "p95_ms", "p99_ms", "server_mean_ms")


@styled
def draw(title: str, series: Mapping[str, Sequence[Mapping[str, Any]]]) -> MplFigure:
    fig, ax = plt.subplots(figsize=(7.0, 4.6), layout="constrained")
    cycle = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    for i, (label, levels) in enumerate(series.items()):
        colour = cycle[i % len(cycle)]
        rates = [lv["jets_per_s"] for lv in levels]
        ax.plot([lv["p50_ms"] for lv in levels], rates, "o-", color=colour, label=f"{label} p50")
        ax.plot([lv["p99_ms"] for lv in levels], rates, "s--", color=colour, alpha=0.6,
                label=f"{label} p99")
        for lv in levels:
            ax.annotate(str(lv["concurrency"]), (lv["p50_ms"], lv["jets_per_s"]),
                        textcoords="offset points", xytext=(4, 4), fontsize=8)
    ax.set_xscale("log")
    ax.set_xlabel("latency per request (ms; labels: concurrent clients)")
    ax.set_ylabel("throughput (jets/s)")
    fig.suptitle(title)
    handles, labels = ax.get_legend_handles_labels()
    legend_below(fig, handles, labels)
    return fig


def throughput_latency_figure(fig_dir: Path, name: str, title: str,
                              series: Mapping[str, Sequence[Mapping[str, Any]]]) -> Figure:
    """``NAME.png`` and ``NAME.csv`` in ``fig_dir``."""
    csv = write_csv(fig_dir / f"{name}.csv", CSV_COLUMNS, (
        (label, *(lv.get(c) for c in CSV_COLUMNS[1:]))
        for label, levels in series.items() for lv in levels))
    png = save(draw(title, series), fig_dir / f"{name}.png")
    return Figure(title, png, csv)
