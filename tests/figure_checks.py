"""What a reader of a figure would complain about, measured on the drawn matplotlib figure:
text that overlaps other text or runs off the canvas, a legend on top of the data, a marker
cut by the axes frame. The checks are written independently of fairhep.plots, so that they
can hold its layout code to account.

    problems = figure_problems(fig)   # [] when nothing is wrong; else one line per defect
"""

from __future__ import annotations

import itertools

import numpy as np
from matplotlib.axes import Axes
from matplotlib.collections import Collection
from matplotlib.figure import Figure
from matplotlib.legend import Legend
from matplotlib.lines import Line2D
from matplotlib.patches import PathPatch, Rectangle
from matplotlib.text import Text
from matplotlib.transforms import Bbox

TOLERANCE_PX = 1.0


def _visible_texts(fig: Figure) -> list[Text]:
    """Every text that is drawn: tick labels only where their tick is inside the view."""
    ticks = {
        id(label)
        for ax in fig.axes
        for axis in (ax.xaxis, ax.yaxis)
        for tick in [*axis.get_major_ticks(), *axis.get_minor_ticks()]
        for label in (tick.label1, tick.label2)
    }
    shown = [t for ax in fig.axes for w in ("x", "y") for t in _tick_labels(ax, w)]
    others = [
        t
        for t in fig.findobj(Text)
        if id(t) not in ticks and t.get_visible() and t.get_text().strip()
    ]
    return [*others, *shown]


def _shrunk(b: Bbox, px: float = TOLERANCE_PX) -> Bbox:
    return Bbox.from_extents(b.x0 + px, b.y0 + px, b.x1 - px, b.y1 - px)


def _overlap(a: Bbox, b: Bbox) -> bool:
    return bool(_shrunk(a).overlaps(_shrunk(b)))


def _tick_labels(ax: Axes, which: str) -> list[Text]:
    axis = ax.xaxis if which == "x" else ax.yaxis
    lo, hi = sorted(ax.get_xlim() if which == "x" else ax.get_ylim())
    out = []
    for tick in axis.get_major_ticks():
        loc = tick.get_loc()
        if not (lo - 1e-9 * abs(hi - lo) <= loc <= hi + 1e-9 * abs(hi - lo)):
            continue  # outside the view: not drawn
        for label in (tick.label1, tick.label2):
            if label.get_visible() and label.get_text().strip():
                out.append(label)
    return out


def _data_points_px(ax: Axes) -> np.ndarray:
    """Display coordinates of every drawn data vertex of the axes (lines, markers, boxes)."""
    pts: list[np.ndarray] = []
    for line in ax.get_lines():
        if not line.get_visible():
            continue
        xy = np.column_stack(line.get_data(orig=False)).astype(float)
        if len(xy) and line.get_transform() == ax.transData:
            pts.append(ax.transData.transform(xy))
    for patch in ax.patches:
        if isinstance(patch, PathPatch) and patch.get_visible():
            verts = patch.get_path().vertices
            pts.append(patch.get_transform().transform(verts))
    for coll in ax.collections:
        if isinstance(coll, Collection) and coll.get_visible():
            offs = coll.get_offsets()
            if len(offs):
                pts.append(coll.get_offset_transform().transform(offs))
    if not pts:
        return np.empty((0, 2))
    allpts = np.concatenate(pts)
    return allpts[np.isfinite(allpts).all(axis=1)]


def _legends(fig: Figure) -> list[Legend]:
    found = [ax.get_legend() for ax in fig.axes]
    return [lg for lg in [*found, *fig.legends] if lg is not None and lg.get_visible()]


def figure_problems(fig: Figure) -> list[str]:
    """Every layout defect of ``fig``, one line each (draws the figure first)."""
    fig.canvas.draw()
    r = fig.canvas.get_renderer()
    canvas = Bbox.from_bounds(0, 0, *fig.canvas.get_width_height())
    problems: list[str] = []
    for t in _visible_texts(fig):
        b = t.get_window_extent(r)
        if (
            b.x0 < canvas.x0 - TOLERANCE_PX
            or b.y0 < canvas.y0 - TOLERANCE_PX
            or b.x1 > canvas.x1 + TOLERANCE_PX
            or b.y1 > canvas.y1 + TOLERANCE_PX
        ):
            problems.append(f"text {t.get_text()!r} runs off the figure")
    for ax in fig.axes:
        for which in ("x", "y"):
            labels = _tick_labels(ax, which)
            for a, b in itertools.combinations(labels, 2):
                if _overlap(a.get_window_extent(r), b.get_window_extent(r)):
                    problems.append(
                        f"{which} tick labels {a.get_text()!r} and {b.get_text()!r} overlap"
                    )
    data_axes = [ax for ax in fig.axes if ax.get_lines() or ax.patches or ax.collections]
    for lg in _legends(fig):
        box = lg.get_window_extent(r)
        for ax in data_axes:
            pts = _data_points_px(ax)
            frame = ax.get_window_extent(r)
            inside = pts[
                (pts[:, 0] >= frame.x0) & (pts[:, 0] <= frame.x1)
                & (pts[:, 1] >= frame.y0) & (pts[:, 1] <= frame.y1)
            ]
            hit = inside[
                (inside[:, 0] > box.x0) & (inside[:, 0] < box.x1)
                & (inside[:, 1] > box.y0) & (inside[:, 1] < box.y1)
            ]
            if len(hit):
                problems.append(f"the legend covers {len(hit)} data points")
        for other in _legends(fig):
            if other is not lg and _overlap(box, other.get_window_extent(r)):
                problems.append("two legends overlap")
        for ax in fig.axes:
            for t in (ax.title, ax.xaxis.label, ax.yaxis.label, *_tick_labels(ax, "x")):
                if t.get_text().strip() and _overlap(box, t.get_window_extent(r)):
                    problems.append(f"the legend covers the text {t.get_text()!r}")
    for ax in fig.axes:
        frame = ax.get_window_extent(r)
        for line in ax.get_lines():
            if line.get_marker() in (None, "None", "none", "") or not line.get_visible():
                continue
            if line.get_transform() != ax.transData:
                continue
            xy = np.column_stack(line.get_data(orig=False)).astype(float)
            xy = xy[np.isfinite(xy).all(axis=1)]
            if not len(xy):
                continue
            px = ax.transData.transform(xy)
            half = line.get_markersize() * fig.dpi / 72 / 2
            cut = (
                (px[:, 0] - half < frame.x0 - TOLERANCE_PX)
                | (px[:, 0] + half > frame.x1 + TOLERANCE_PX)
                | (px[:, 1] - half < frame.y0 - TOLERANCE_PX)
                | (px[:, 1] + half > frame.y1 + TOLERANCE_PX)
            )
            if cut.any():
                problems.append(
                    f"{int(cut.sum())} markers of {line.get_label()!r} are cut by the axes frame"
                )
        for patch in ax.patches:
            if isinstance(patch, (PathPatch, Rectangle)) and patch.get_visible():
                b = patch.get_window_extent(r)
                if (
                    b.x0 < frame.x0 - TOLERANCE_PX
                    or b.x1 > frame.x1 + TOLERANCE_PX
                    or b.y0 < frame.y0 - TOLERANCE_PX
                    or b.y1 > frame.y1 + TOLERANCE_PX
                ):
                    problems.append("a box is cut by the axes frame")
    return list(dict.fromkeys(problems))


def line_labels(fig: Figure) -> list[str]:
    """Every legend entry of the figure."""
    return [t.get_text() for lg in _legends(fig) for t in lg.get_texts()]


__all__ = ["Line2D", "figure_problems", "line_labels"]
