"""Figure 4: throughput box plots against batch size, GPU utilisation on a second axis, the
paper's values where they fall on the panel's scale and named in the legend where they do not."""

from __future__ import annotations

import itertools
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import matplotlib.pyplot as plt
from matplotlib.figure import Figure as MplFigure

from fairhep.plots.base import save, styled, write_csv
from fairhep.plots.layout import (
    LIN_PAD,
    LOG_PAD,
    legend_below,
    legend_entries,
    padded,
    plain_number_axis,
)

# One row per (backend, batch size, repetition) of a batch-size sweep: the columns of every
# sweep CSV the suite writes (the bench's sweep.csv and the report's Figure 4 data).
SWEEP_CSV_COLUMNS: tuple[str, ...] = (
    "backend", "device", "provider", "precision", "batch_size", "repeat", "n_batches",
    "n_jets", "time_s", "jets_per_s", "gpu_util_pct", "gpu_mem_mib", "gpu_power_w",
)
_SERIES_COLUMNS = 4  # backend, device, provider, precision: the rest are the point's keys
# A published peak up to this factor above a panel's data stretches the axis to show it.
PEAK_STRETCH = 1.25
MAX_BATCH_TICKS = 10
Point = tuple[float, float]


@dataclass(frozen=True)
class SweepSeries:
    """One backend's sweep: its points as ``bench.sweep`` records carry them."""

    label: str
    device: str = ""
    provider: str | None = None
    precision: str = ""
    points: Sequence[Mapping[str, Any]] = ()


def write_sweep_csv(path: Path, series: Sequence[SweepSeries]) -> Path:
    """Every point of every series, one row each, in :data:`SWEEP_CSV_COLUMNS` order."""
    return write_csv(
        path,
        SWEEP_CSV_COLUMNS,
        (
            [s.label, s.device, s.provider or "", s.precision,
             *(p.get(k) for k in SWEEP_CSV_COLUMNS[_SERIES_COLUMNS:])]
            for s in series
            for p in s.points
        ),
    )


def _batch_axis(ax: Any, sizes: Sequence[int]) -> list[float]:
    """A log axis for a geometric grid (a CPU's 16, 32, …, 512), else linear (the paper's
    100…4200); limits with room for the outer boxes. Returns each box's width."""
    ratios = [b / a for a, b in itertools.pairwise(sizes)]
    if ratios and min(ratios) >= 1.5 and sizes[-1] >= 8 * sizes[0]:
        ax.set_xscale("log")
        ax.set_xlim(sizes[0] / LOG_PAD, sizes[-1] * LOG_PAD)
        step = math.ceil(len(sizes) / MAX_BATCH_TICKS)
        plain_number_axis(ax.xaxis, sizes[::step])
        return [0.35 * b for b in sizes]
    gaps = [b - a for a, b in itertools.pairwise(sizes)]
    gap = min(gaps) if gaps else max(sizes[0] / 2, 1)
    ax.set_xlim(sizes[0] - gap, sizes[-1] + gap)
    return [0.6 * gap] * len(sizes)


def _published_throughput(
    ax: Any, view: Point, peak: Point | None, rates: Sequence[Point]
) -> Point:
    """The paper's peak (and plot readings) where they fall on or near the panel's scale;
    beyond it a legend entry gives the value and the axis stays on the data. The new view."""
    y0, y1 = view
    x0, x1 = ax.get_xlim()
    if peak is not None:
        pb, pr = peak
        label = f"paper: peak {pr / 1000:.0f}k jets/s at batch {pb:.0f} (A100)"
        if y0 <= pr <= PEAK_STRETCH * y1:
            y1 = max(y1, pr + LIN_PAD * (y1 - y0))
            ax.axhline(pr, color="tab:red", ls="--", lw=1)
            on_x = x0 <= pb <= x1
            ax.plot([pb] if on_x else [], [pr] if on_x else [], marker="*", ms=14,
                    color="tab:red", ls="none", label=label)
        else:
            above = pr > y1
            ax.plot([], [], marker=r"$\uparrow$" if above else r"$\downarrow$", ms=10,
                    color="tab:red", ls="none",
                    label=f"{label}, {pr / y1:.0f}× above this scale" if above
                    else f"{label}, below this scale")
    shown = [(b, r) for b, r in rates if x0 <= b <= x1 and y0 <= r <= y1]
    if shown:
        ax.plot([r[0] for r in shown], [r[1] for r in shown], marker="x", ms=9,
                color="tab:red", ls="none", label="paper: throughput (read off the plot)")
    return y0, y1


def _utilisation(
    ax: Any, sizes: Sequence[int], points: Sequence[Mapping[str, Any]],
    published_util: Sequence[Point],
) -> Any | None:
    """Mean NVML utilisation per batch size, and the paper's, on a right-hand axis."""
    utils = {}
    for b in sizes:
        vals = [float(p["gpu_util_pct"]) for p in points
                if int(p["batch_size"]) == b and p.get("gpu_util_pct") is not None]
        if vals:
            utils[b] = sum(vals) / len(vals)
    x0, x1 = ax.get_xlim()
    published = [u for u in published_util if x0 <= u[0] <= x1]
    if not utils and not published:
        return None
    ax2 = ax.twinx()
    # One scale per side: the style's ticks on all four sides would mix the two.
    ax.tick_params(axis="y", which="both", right=False)
    ax2.tick_params(axis="y", which="both", left=False)
    ax2.set_ylabel("GPU utilisation [%]", color="tab:blue")
    ax2.set_ylim(0, 108)  # room for a marker at 100 %
    if utils:
        ax2.plot(list(utils), list(utils.values()), color="tab:blue", marker="o", ms=3,
                 label="GPU utilisation (NVML)")
    if published:
        ax2.plot([u[0] for u in published], [u[1] for u in published], color="tab:blue",
                 ls=":", marker="x", label="paper: GPU utilisation")
    return ax2


def _sweep_panel(
    ax: Any,
    series: SweepSeries,
    published_peak: Point | None,
    published_util: Sequence[Point],
    published_rates: Sequence[Point],
) -> list[Any]:
    """One backend's box plots, scaled to its own throughput; the axes with legend entries."""
    points = [p for p in series.points if p.get("jets_per_s") is not None]
    ax.set_title(series.label + (f" ({series.provider})" if series.provider else ""),
                 fontsize=10)
    ax.set_xlabel("batch size [jets]")
    ax.set_ylabel("throughput [jets/s]")
    sizes = sorted({int(p["batch_size"]) for p in points})
    if not sizes:
        ax.text(0.5, 0.5, "no measured points", ha="center", transform=ax.transAxes)
        return [ax]
    rates = [[float(p["jets_per_s"]) for p in points if int(p["batch_size"]) == b]
             for b in sizes]
    ax.boxplot(rates, positions=sizes, widths=_batch_axis(ax, sizes), manage_ticks=False,
               patch_artist=True, boxprops={"facecolor": "tab:orange", "alpha": 0.7},
               medianprops={"color": "black"})
    flat = [r for rs in rates for r in rs]
    y0, y1 = padded(min(flat), max(flat), log=False)
    y0, y1 = _published_throughput(ax, (max(0.0, y0), y1), published_peak, published_rates)
    ax.set_ylim(y0, y1)
    ax2 = _utilisation(ax, sizes, points, published_util)
    return [ax] if ax2 is None else [ax, ax2]


@dataclass(frozen=True)
class SweepOverlay:
    """What goes over the measured boxes: a note under the panels (e.g. why NVML gave no
    utilisation) and the paper's peak, utilisation curve and throughput readings."""

    note: str | None = None
    published_peak: Point | None = None
    published_util: Sequence[Point] = ()
    published_rates: Sequence[Point] = ()


@styled
def draw_sweep(
    series: Sequence[SweepSeries], title: str, overlay: SweepOverlay = SweepOverlay()
) -> MplFigure:
    """Figure 4 as a matplotlib figure (see :func:`sweep_figure`)."""
    n = max(len(series), 1)
    fig, axes = plt.subplots(n, 1, figsize=(8, 3.9 * n + 0.8), squeeze=False,
                             layout="constrained")
    with_entries: list[Any] = []
    for ax, one in zip(axes[:, 0], series, strict=False):
        with_entries += _sweep_panel(ax, one, overlay.published_peak, overlay.published_util,
                                     overlay.published_rates)
    fig.suptitle(title, fontsize=11)
    # The note heads the legend under the panels: it never sits on a box plot.
    legend_below(fig, *legend_entries(*with_entries), note=overlay.note)
    return fig


@styled
def sweep_figure(
    png: Path,
    series: Sequence[SweepSeries],
    title: str,
    *,
    note: str | None = None,
    published_peak: Point | None = None,
    published_util: Sequence[Point] = (),
    published_rates: Sequence[Point] = (),
) -> Path:
    """Figure 4: per series, throughput box plots per batch size (each panel scaled to its
    data) and the GPU utilisation on a second axis; the paper's values overlaid where they
    fall on the panel's scale and named in the legend where they do not. ``note`` (e.g. why
    NVML gave no utilisation) goes under the panels, where it covers no data."""
    overlay = SweepOverlay(note, published_peak, published_util, published_rates)
    return save(draw_sweep(series, title, overlay), png)
