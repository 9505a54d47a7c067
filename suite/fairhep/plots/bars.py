"""Mean ± std per category for several series: Tables 4 and 5/7 (accuracy, AUC) and Table 8
(time per batch, on a log axis)."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import matplotlib.pyplot as plt
from matplotlib.figure import Figure as MplFigure

from fairhep.plots.base import Figure, save, styled, write_csv
from fairhep.plots.layout import (
    fit_categories,
    legend_below,
    legend_entries,
    padded,
    plain_log_ticks,
)

# The grouped-bars figures' CSV: one row per (series, category); std empty for a paper line.
BARS_CSV_COLUMNS: tuple[str, ...] = ("series", "category", "mean", "std")
Bars = Mapping[str, Mapping[str, tuple[float, float]]]


def _categories(series: Bars, order: Sequence[str]) -> list[str]:
    found = {c for s in series.values() for c in s}
    return [c for c in order if c in found] + sorted(found - set(order))


@styled
def draw_bars(
    title: str,
    ylabel: str,
    series: Bars,
    published: Mapping[str, float] | None = None,
    order: Sequence[str] = (),
    log: bool = False,
) -> MplFigure:
    """The figure of :func:`grouped_bars`: wider with more categories, whose labels are
    wrapped until they fit; the y axis padded around every point, cap and paper line."""
    cats = _categories(series, order)
    fig, ax = plt.subplots(figsize=(min(11.0, max(6.5, 2.0 + len(cats))), 4.4),
                           layout="constrained")
    n = max(len(series), 1)
    width = 0.8 / n
    colours: dict[str, Any] = {}
    cycle = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    extent: list[float] = []
    for i, (label, vals) in enumerate(series.items()):
        base = label.removeprefix("paper ")
        colour = colours.setdefault(base, cycle[len(colours) % len(cycle)])
        paper = label != base
        xs = [j + (i - (n - 1) / 2) * width for j, c in enumerate(cats) if c in vals]
        ys = [vals[c][0] for c in cats if c in vals]
        es = [0.0 if paper or math.isnan(vals[c][1]) else vals[c][1] for c in cats if c in vals]
        ax.errorbar(xs, ys, yerr=None if paper else es, fmt="D" if paper else "o", capsize=3,
                    color=colour, mfc="none" if paper else colour, label=label)
        extent += [y - e for y, e in zip(ys, es, strict=True) if not log or y > e]
        extent += [y + e for y, e in zip(ys, es, strict=True)]
    for j, c in enumerate(cats):
        if published and c in published:
            ax.plot([j - 0.4, j + 0.4], [published[c]] * 2, color="black", ls="--", lw=1)
            extent.append(published[c])
    if published:
        ax.plot([], [], color="black", ls="--", lw=1, label="paper")
    ax.set_xlim(-0.5, len(cats) - 0.5)
    if extent:
        lo, hi = padded(min(extent), max(extent), log)
        if log:
            ax.set_yscale("log")
            plain_log_ticks(ax.yaxis, lo, hi)
        ax.set_ylim(lo, hi)
    ax.set_ylabel(ylabel)
    ax.set_title(title, fontsize=10)
    ax.grid(alpha=0.3, axis="y")
    legend_below(fig, *legend_entries(ax))
    fit_categories(fig, ax, cats)
    return fig


@styled
def grouped_bars(
    out_dir: Path,
    name: str,
    title: str,
    ylabel: str,
    series: dict[str, dict[str, tuple[float, float]]],
    published: dict[str, float] | None = None,
    order: Sequence[str] = (),
    log: bool = False,
) -> Figure:
    """Mean ± std per category for several series (e.g. accuracy per split × platform).

    A series named ``"paper X"`` is drawn as open diamonds in the colour of series ``X``;
    ``published`` draws one dashed line per category.
    """
    cats = _categories(series, order)
    rows: list[tuple[str, str, float, float | str]] = [
        (label, c, vals[c][0], vals[c][1])
        for label, vals in series.items()
        for c in cats
        if c in vals
    ]
    rows += [("published", c, published[c], "") for c in cats if published and c in published]
    png = save(draw_bars(title, ylabel, series, published, order, log), out_dir / f"{name}.png")
    return Figure(title, png, write_csv(out_dir / f"{name}.csv", BARS_CSV_COLUMNS, rows))
