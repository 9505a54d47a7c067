"""ROC curves: QCD mistag rate against H→bb̄ efficiency, one curve per platform or run."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

import matplotlib.pyplot as plt
from matplotlib.figure import Figure as MplFigure
from matplotlib.ticker import LogLocator

from fairhep.plots.base import Figure, save, styled, write_csv
from fairhep.plots.layout import legend_below, legend_entries, legend_lines

# The ROC figure's CSV: one row per point of each curve.
ROC_CSV_COLUMNS: tuple[str, ...] = ("label", "fpr", "tpr")
Curves = Mapping[str, tuple[list[float], list[float], float | None]]
LEGEND_LINE_IN = 0.17  # figure height per legend line
LINE_STYLES = ("-", "--", ":")


@styled
def draw_roc(curves: Curves) -> MplFigure:
    """The curves, with the legend below the axes (the curves fill the upper right)."""
    labels = [f"{lb} (AUC {'–' if auc is None else f'{auc:.4f}'})"
              for lb, (_, _, auc) in curves.items()]
    fig, ax = plt.subplots(figsize=(6.4, 4.4 + LEGEND_LINE_IN * legend_lines(labels)),
                           layout="constrained")
    n_colours = len(plt.rcParams["axes.prop_cycle"].by_key()["color"])
    for i, (label, (fpr, tpr, _)) in enumerate(zip(labels, curves.values(), strict=True)):
        # Past the palette's colours the line style tells curves apart.
        ax.plot(tpr, fpr, label=label, ls=LINE_STYLES[i // n_colours % len(LINE_STYLES)])
    ax.set_yscale("log")
    # Minor ticks at 2..9 of each decade (Axis.minorticks_on is matplotlib >= 3.9 only).
    ax.yaxis.set_minor_locator(LogLocator(subs="auto"))
    ax.set_ylim(1e-5, 1.5)
    ax.set_xlim(0, 1.01)
    ax.set_xlabel(r"H$\to$b$\bar{b}$ efficiency (true positive rate)")
    ax.set_ylabel("QCD mistag rate (false positive rate)")
    ax.grid(alpha=0.3)
    legend_below(fig, *legend_entries(ax))
    return fig


@styled
def roc_figure(out_dir: Path, name: str, curves: Curves) -> Figure:
    """Background mistag rate vs signal efficiency, one curve per label."""
    rows = [(label, f, t) for label, (fpr, tpr, _) in curves.items()
            for f, t in zip(fpr, tpr, strict=True)]
    png = save(draw_roc(curves), out_dir / f"{name}.png")
    return Figure("ROC curves", png, write_csv(out_dir / f"{name}.csv", ROC_CSV_COLUMNS, rows))
