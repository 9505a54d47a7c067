"""The scaling study: training throughput against the number of ranks (log-log, with the ideal
line from the one-rank run) and parallel efficiency beside it, one series per platform and
mode, with the points as a CSV."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import matplotlib.pyplot as plt
from matplotlib.figure import Figure as MplFigure

from fairhep.plots.base import Figure, save, styled, write_csv
from fairhep.plots.layout import legend_below

SCALING_CSV_COLUMNS: tuple[str, ...] = (
    "series", "world_size", "nodes", "s_per_epoch", "jets_per_s", "speedup", "efficiency",
)


@dataclass(frozen=True)
class ScalingPoint:
    world_size: int
    nodes: int
    s_per_epoch: float
    jets_per_s: float
    speedup: float | None  # against the series' one-rank run (None: it has none)
    efficiency: float | None


@dataclass(frozen=True)
class ScalingSeries:
    label: str  # "platform, strong"
    points: Sequence[ScalingPoint]


@styled
def draw_scaling(title: str, series: Sequence[ScalingSeries]) -> MplFigure:
    """Jets/s against ranks (log2/log) with each series' ideal (dashed), and efficiency."""
    fig, (rate, eff) = plt.subplots(1, 2, figsize=(10.0, 4.4), layout="constrained")
    cycle = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    sizes: set[int] = set()
    for i, s in enumerate(series):
        colour = cycle[i % len(cycle)]
        pts = sorted(s.points, key=lambda p: p.world_size)
        xs = [p.world_size for p in pts]
        sizes.update(xs)
        rate.plot(xs, [p.jets_per_s for p in pts], "o-", color=colour, label=s.label)
        one = next((p for p in pts if p.world_size == 1), None)
        if one is not None:
            rate.plot(xs, [one.jets_per_s * x for x in xs], "--", color=colour, alpha=0.5)
        with_eff = [p for p in pts if p.efficiency is not None]
        eff.plot([p.world_size for p in with_eff], [p.efficiency for p in with_eff], "o-",
                 color=colour)
    for ax in (rate, eff):
        ax.set_xscale("log", base=2)
        ax.set_xticks(sorted(sizes), [str(x) for x in sorted(sizes)])
        ax.set_xlabel("ranks (GPUs or CPU tasks)")
    rate.set_yscale("log")
    rate.set_ylabel("training jets/s (dashed: ideal)")
    eff.axhline(1.0, color="grey", linestyle=":")
    eff.set_ylabel("parallel efficiency")
    eff.set_ylim(bottom=0)
    fig.suptitle(title)
    handles, labels = rate.get_legend_handles_labels()
    legend_below(fig, handles, labels)
    return fig


def scaling_figure(fig_dir: Path, name: str, title: str,
                   series: Sequence[ScalingSeries]) -> Figure:
    """The figure as ``NAME.png`` and its points as ``NAME.csv`` in ``fig_dir``."""
    csv = write_csv(fig_dir / f"{name}.csv", SCALING_CSV_COLUMNS, (
        (s.label, p.world_size, p.nodes, p.s_per_epoch, p.jets_per_s, p.speedup, p.efficiency)
        for s in series for p in sorted(s.points, key=lambda p: p.world_size)))
    png = save(draw_scaling(title, series), fig_dir / f"{name}.png")
    return Figure(title, png, csv)
