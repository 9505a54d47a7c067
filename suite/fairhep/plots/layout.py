"""How a figure stays readable at report size: legends below the axes (never on the data),
long labels wrapped, category labels wrapped then slanted until they no longer overlap, axes
padded so that no marker is cut, log axes labelled with plain numbers."""

from __future__ import annotations

import itertools
import math
import textwrap
from collections.abc import Sequence
from typing import Any

from matplotlib.figure import Figure as MplFigure
from matplotlib.ticker import FixedLocator, FuncFormatter, NullLocator

LEGEND_WRAP = 72  # characters per legend line: longer lines were cut at the figure's edge
TICK_WRAPS = (None, 22, 15, 10)  # category labels are wrapped at these widths until they fit
LABEL_GAP_PX = 3.0
LOG_PAD = 1.5  # a log axis reaches this factor beyond its smallest and largest value
LIN_PAD = 0.08  # a linear axis reaches this fraction of its data range beyond it


def wrap(text: str, width: int | None) -> str:
    if width is None:
        return text
    return "\n".join(
        "\n".join(textwrap.wrap(line, width, break_on_hyphens=False)) or line
        for line in text.split("\n")
    )


def legend_lines(labels: Sequence[str]) -> int:
    """How many lines the legend of these labels takes (for the figure's height)."""
    return sum(len(wrap(lb, LEGEND_WRAP).split("\n")) for lb in labels)


def legend_below(
    fig: MplFigure, handles: Sequence[Any], labels: Sequence[str], note: str | None = None
) -> None:
    """One legend under the axes, in the layout: it covers no data and wraps long labels.
    ``note`` (why a curve is absent, say) is its title: one box, nothing stacked on it."""
    if not handles and not note:
        return
    texts = [wrap(lb, LEGEND_WRAP) for lb in labels]
    short = bool(texts) and max(len(t) for t in texts) <= LEGEND_WRAP // 2
    lg = fig.legend(handles, texts, loc="outside lower center", fontsize=8,
                    ncols=2 if short and len(texts) > 2 else 1,
                    title=None if note is None else wrap(note, LEGEND_WRAP),
                    title_fontsize=8)
    lg.get_title().set_color("tab:blue")


def legend_entries(*axes: Any) -> tuple[list[Any], list[str]]:
    """The legend entries of ``axes``, each label once."""
    seen: dict[str, Any] = {}
    for ax in axes:
        for h, lb in zip(*ax.get_legend_handles_labels(), strict=True):
            if not lb.startswith("_"):
                seen.setdefault(lb, h)
    return list(seen.values()), list(seen)


def _overlapping(fig: MplFigure, labels: Sequence[Any]) -> bool:
    fig.draw_without_rendering()
    r = fig.canvas.get_renderer()  # type: ignore[attr-defined]
    boxes = [t.get_window_extent(r) for t in labels if t.get_text()]
    return any(
        a.x1 + LABEL_GAP_PX > b.x0 and b.x1 + LABEL_GAP_PX > a.x0
        for a, b in itertools.combinations(boxes, 2)
    )


def fit_categories(fig: MplFigure, ax: Any, cats: Sequence[str]) -> None:
    """Category labels under the axis: as they are, else wrapped ever narrower, else slanted."""
    ax.set_xticks(range(len(cats)))
    for width in TICK_WRAPS:
        ax.set_xticklabels([wrap(c, width) for c in cats], fontsize=8)
        if not _overlapping(fig, ax.get_xticklabels()):
            return
    ax.set_xticklabels([wrap(c, TICK_WRAPS[1]) for c in cats], fontsize=8, rotation=30,
                       ha="right", rotation_mode="anchor")


def plain_number_axis(axis: Any, ticks: Sequence[float]) -> None:
    """Major ticks at ``ticks`` labelled as plain numbers, no minor ticks."""
    axis.set_major_locator(FixedLocator(list(ticks)))
    axis.set_minor_locator(NullLocator())
    axis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:g}"))


def plain_log_ticks(axis: Any, lo: float, hi: float) -> None:
    """Ticks at 1, 2, 5 × 10^n labelled as plain numbers (powers of ten in mathtext read badly
    at report sizes): one per decade over a long range, denser over a short one."""
    ticks: list[float] = []
    for mults in ((1.0,), (1.0, 2.0, 5.0), (1.0, 1.5, 2.0, 3.0, 5.0, 7.0)):
        if len(mults) == 1 and math.log10(hi / lo) < 3:
            continue
        ticks = [
            m * 10.0**e
            for e in range(math.floor(math.log10(lo)) - 1, math.ceil(math.log10(hi)) + 1)
            for m in mults
            if lo <= m * 10.0**e <= hi
        ]
        if len(ticks) >= 3:
            break
    plain_number_axis(axis, ticks)


def padded(lo: float, hi: float, log: bool) -> tuple[float, float]:
    """View limits around [lo, hi] that leave room for markers and caps."""
    if log:
        return lo / LOG_PAD, hi * LOG_PAD
    pad = LIN_PAD * (hi - lo) if hi > lo else 0.05 * abs(hi) or 1.0
    return lo - pad, hi + pad
