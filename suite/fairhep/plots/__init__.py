"""Every figure the suite draws (report and bench), each a PNG with its data as a CSV beside it.

Column lists of those CSVs are defined once, beside the figure that writes them. Figures are
drawn in a light HEP style (:func:`style`: mplhep's ROOT look — ticks inside on all four sides,
axis labels at the axis ends, a colour-blind-safe palette — scaled to these figure sizes) and
laid out by :mod:`fairhep.plots.layout` so that they read at report size: legends below the
axes, labels wrapped until they fit, every axis scaled to its data, a published value far off a
panel's scale named in the legend instead of flattening the data.

One module per kind of figure: :mod:`~fairhep.plots.sweep` (Figure 4),
:mod:`~fairhep.plots.roc`, :mod:`~fairhep.plots.bars` (Tables 4, 5/7, 8), :mod:`~fairhep.plots.xai`
(Figures 5, 6, 8/9). ``draw_*`` return
the matplotlib figure (tests measure its layout); the others draw and save.
"""

from __future__ import annotations

from fairhep.plots.bars import BARS_CSV_COLUMNS, draw_bars, grouped_bars
from fairhep.plots.base import STYLE_OVERRIDES, Figure, save, style, styled, write_csv
from fairhep.plots.roc import ROC_CSV_COLUMNS, draw_roc, roc_figure
from fairhep.plots.sweep import (
    SWEEP_CSV_COLUMNS,
    SweepOverlay,
    SweepSeries,
    draw_sweep,
    sweep_figure,
    write_sweep_csv,
)
from fairhep.plots.xai import (
    DELTA_AUC_CSV_COLUMNS,
    NAP_CSV_COLUMNS,
    RELEVANCE_CSV_COLUMNS,
    XAI_CLASS_NAMES,
    xai_mask_figure,
    xai_nap_figure,
    xai_relevance_figure,
)

__all__ = [
    "BARS_CSV_COLUMNS",
    "DELTA_AUC_CSV_COLUMNS",
    "NAP_CSV_COLUMNS",
    "RELEVANCE_CSV_COLUMNS",
    "ROC_CSV_COLUMNS",
    "STYLE_OVERRIDES",
    "SWEEP_CSV_COLUMNS",
    "XAI_CLASS_NAMES",
    "Figure",
    "SweepOverlay",
    "SweepSeries",
    "draw_bars",
    "draw_roc",
    "draw_sweep",
    "grouped_bars",
    "roc_figure",
    "save",
    "style",
    "styled",
    "sweep_figure",
    "write_csv",
    "write_sweep_csv",
    "xai_mask_figure",
    "xai_nap_figure",
    "xai_relevance_figure",
]
