"""What a reader of a figure would complain about, measured on the drawn matplotlib figure:
text that overlaps other text or runs off the canvas, a legend or note on top of the data, a
marker or box cut by the axes frame. Written independently of fairhep.plots, so that it holds
the layout code to account.

    problems = figure_problems(fig)   # [] when nothing is wrong; else one line per defect
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator

import numpy as np
from matplotlib.axes import Axes
from matplotlib.backend_bases import RendererBase
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.legend import Legend
from matplotlib.patches import PathPatch, Rectangle
from matplotlib.text import Text
from matplotlib.transforms import Bbox

TOLERANCE_PX = 1.0


def _overlap(a: Bbox, b: Bbox) -> bool:
    t = TOLERANCE_PX
    return bool(
        a.x0 + t < b.x1 - t and b.x0 + t < a.x1 - t
        and a.y0 + t < b.y1 - t and b.y0 + t < a.y1 - t
    )


def _outside(inner: Bbox, outer: Bbox) -> bool:
    t = TOLERANCE_PX
    return bool(
        inner.x0 < outer.x0 - t or inner.y0 < outer.y0 - t
        or inner.x1 > outer.x1 + t or inner.y1 > outer.y1 + t
    )


def _tick_labels(ax: Axes, which: str) -> list[Text]:
    """The tick labels that are drawn: non-empty, their tick inside the view."""
    axis = ax.xaxis if which == "x" else ax.yaxis
    lo, hi = sorted(ax.get_xlim() if which == "x" else ax.get_ylim())
    eps = 1e-9 * abs(hi - lo)
    return [
        label
        for tick in axis.get_major_ticks()
        if lo - eps <= tick.get_loc() <= hi + eps
        for label in (tick.label1, tick.label2)
        if label.get_visible() and label.get_text().strip()
    ]


def _drawn_texts(fig: Figure) -> list[Text]:
    """Every text that is drawn (tick labels only where their tick is in the view)."""
    ticks = {
        id(label)
        for ax in fig.axes
        for axis in (ax.xaxis, ax.yaxis)
        for tick in [*axis.get_major_ticks(), *axis.get_minor_ticks()]
        for label in (tick.label1, tick.label2)
    }
    others = [
        t for t in fig.findobj(Text)
        if id(t) not in ticks and t.get_visible() and t.get_text().strip()
    ]
    return [*others, *(t for ax in fig.axes for w in ("x", "y") for t in _tick_labels(ax, w))]


def _legends(fig: Figure) -> list[Legend]:
    found = [*(ax.get_legend() for ax in fig.axes), *fig.legends]
    return [lg for lg in found if lg is not None and lg.get_visible()]


def _data_px(ax: Axes) -> np.ndarray:
    """Display coordinates of the data vertices drawn in ``ax``, inside its frame."""
    pts = [
        ax.transData.transform(np.column_stack(line.get_data(orig=False)).astype(float))
        for line in ax.get_lines()
        if line.get_visible() and line.get_transform() == ax.transData and np.size(line.get_xdata())
    ]
    pts += [
        p.get_transform().transform(p.get_path().vertices)
        for p in ax.patches
        if isinstance(p, PathPatch) and p.get_visible()
    ]
    if not pts:
        return np.empty((0, 2))
    allpts: np.ndarray = np.concatenate(pts)
    allpts = allpts[np.isfinite(allpts).all(axis=1)]
    b = ax.get_window_extent()
    inside: np.ndarray = (allpts[:, 0] >= b.x0) & (allpts[:, 0] <= b.x1)
    inside &= (allpts[:, 1] >= b.y0) & (allpts[:, 1] <= b.y1)
    return np.asarray(allpts[inside])


def _text_problems(fig: Figure, r: RendererBase) -> Iterator[str]:
    canvas = Bbox.from_bounds(0, 0, *fig.canvas.get_width_height())
    for t in _drawn_texts(fig):
        if _outside(t.get_window_extent(r), canvas):
            yield f"text {t.get_text()!r} runs off the figure"
    for ax in fig.axes:
        for which in ("x", "y"):
            for a, b in itertools.combinations(_tick_labels(ax, which), 2):
                if _overlap(a.get_window_extent(r), b.get_window_extent(r)):
                    yield f"{which} tick labels {a.get_text()!r} and {b.get_text()!r} overlap"
    # Figure-level texts (title, notes) sit beside the axes, never on them.
    # matplotlib keeps the suptitle and supxlabel Text objects only in private attributes.
    for note in (getattr(fig, "_suptitle", None), getattr(fig, "_supxlabel", None), *fig.texts):
        if note is not None and note.get_visible() and note.get_text().strip():
            for ax in fig.axes:
                if _overlap(note.get_window_extent(r), ax.get_window_extent(r)):
                    yield f"the text {note.get_text()!r} covers an axes"


def _legend_problems(fig: Figure, r: RendererBase) -> Iterator[str]:
    legends = _legends(fig)
    for lg in legends:
        box = lg.get_window_extent(r)
        for ax in fig.axes:
            pts = _data_px(ax)
            hit = (pts[:, 0] > box.x0) & (pts[:, 0] < box.x1)
            hit &= (pts[:, 1] > box.y0) & (pts[:, 1] < box.y1)
            if hit.any():
                yield f"the legend covers {int(hit.sum())} data points"
        own = {id(t) for t in [*lg.get_texts(), lg.get_title()]}
        for t in _drawn_texts(fig):
            if id(t) not in own and _overlap(box, t.get_window_extent(r)):
                yield f"the legend covers the text {t.get_text()!r}"
    for a, b in itertools.combinations(legends, 2):
        if _overlap(a.get_window_extent(r), b.get_window_extent(r)):
            yield "two legends overlap"


def _clipping_problems(fig: Figure, r: RendererBase) -> Iterator[str]:
    for ax in fig.axes:
        frame = ax.get_window_extent(r)
        for line in ax.get_lines():
            if line.get_marker() in (None, "None", "none", "") or not line.get_visible():
                continue
            if line.get_transform() != ax.transData or not np.size(line.get_xdata()):
                continue
            xy = np.column_stack(line.get_data(orig=False)).astype(float)
            px = ax.transData.transform(xy[np.isfinite(xy).all(axis=1)])
            half = line.get_markersize() * fig.dpi / 72 / 2
            t = TOLERANCE_PX
            cut = (px[:, 0] - half < frame.x0 - t) | (px[:, 0] + half > frame.x1 + t)
            cut |= (px[:, 1] - half < frame.y0 - t) | (px[:, 1] + half > frame.y1 + t)
            if cut.any():
                yield f"{int(cut.sum())} markers of {line.get_label()!r} are cut by the frame"
        for patch in ax.patches:
            drawn = isinstance(patch, (PathPatch, Rectangle)) and patch.get_visible()
            if drawn and _outside(patch.get_window_extent(r), frame):
                yield "a box is cut by the axes frame"


def figure_problems(fig: Figure) -> list[str]:
    """Every layout defect of ``fig``, one line each (draws the figure first)."""
    canvas = fig.canvas
    assert isinstance(canvas, FigureCanvasAgg), "fairhep.plots draws with Agg"
    canvas.draw()
    r = canvas.get_renderer()
    found = [*_text_problems(fig, r), *_legend_problems(fig, r), *_clipping_problems(fig, r)]
    return list(dict.fromkeys(found))


def legend_labels(fig: Figure) -> list[str]:
    """Every legend entry and legend title of the figure, as drawn (wrapped lines joined)."""
    return [
        " ".join(t.get_text().split())
        for lg in _legends(fig)
        for t in [lg.get_title(), *lg.get_texts()]
        if t.get_text()
    ]
