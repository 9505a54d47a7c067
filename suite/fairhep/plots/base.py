"""What every figure shares: the HEP style, the figure record (PNG + CSV) and how both files
are written."""

from __future__ import annotations

import csv
import functools
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ParamSpec, TypeVar

import matplotlib as mpl

mpl.use("Agg")  # reports are written on headless nodes
import matplotlib.pyplot as plt
from matplotlib.figure import Figure as MplFigure

P = ParamSpec("P")
R = TypeVar("R")
DPI = 110

# mplhep's ROOT style is drawn for 10 x 10 inch figures at 26 pt; these figures are 6-8 inches
# wide and read in a browser or a Markdown viewer. Minor ticks only where asked for (the ROC's
# log axis): on every axis they made a report 50 % slower to draw for little to read.
STYLE_OVERRIDES: dict[str, Any] = {
    "font.size": 10,
    "xtick.minor.visible": False,
    "ytick.minor.visible": False,
    "axes.linewidth": 1.0,
    "xtick.major.size": 6,
    "ytick.major.size": 6,
    "xtick.minor.size": 3,
    "ytick.minor.size": 3,
    "xtick.major.pad": 4,
    "legend.frameon": True,
    "legend.framealpha": 0.85,
    "legend.edgecolor": "0.8",
    "grid.alpha": 0.5,
}


@functools.cache
def style() -> dict[str, Any]:
    """The rcParams every figure is drawn with (mplhep is imported on first use only: the
    bench imports this module and most of its runs draw nothing)."""
    import mplhep

    return {**mplhep.style.ROOT, **STYLE_OVERRIDES}


def styled(draw: Callable[P, R]) -> Callable[P, R]:
    """Run ``draw`` inside the style (drawing and saving both: fonts are looked up when a
    figure is saved), leaving matplotlib's settings alone for everyone else."""

    @functools.wraps(draw)
    def inside(*args: P.args, **kwargs: P.kwargs) -> R:
        with plt.style.context(style()):
            return draw(*args, **kwargs)

    return inside


@dataclass(frozen=True)
class Figure:
    title: str
    png: Path
    csv: Path
    caption: str = ""


def write_csv(path: Path, header: Sequence[str], rows: Iterable[Sequence[Any]]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(header)
        for row in rows:
            w.writerow(["" if v is None else v for v in row])
    return path


def save(fig: MplFigure, path: Path) -> Path:
    """The PNG of ``fig`` (closed afterwards); a figure drawn without a layout engine gets a
    tight layout first."""
    path.parent.mkdir(parents=True, exist_ok=True)
    if not fig.get_layout_engine():
        fig.tight_layout()
    fig.savefig(path, dpi=DPI)
    plt.close(fig)
    return path
