"""Every figure the suite draws (report and bench), each a PNG with its data as a CSV beside it.

Column lists of those CSVs are defined here, once. Figures are drawn in a light HEP style
(:data:`STYLE`: mplhep's ROOT look — ticks inside on all four sides, minor ticks, axis labels
at the axis ends, a colour-blind-safe palette — scaled to these figure sizes).
"""

from __future__ import annotations

import csv
import functools
import itertools
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ParamSpec, TypeVar

import matplotlib as mpl

mpl.use("Agg")  # reports are written on headless nodes
import matplotlib.pyplot as plt
from matplotlib.figure import Figure as MplFigure

P = ParamSpec("P")
R = TypeVar("R")

# mplhep's ROOT style is drawn for 10 x 10 inch figures at 26 pt; these figures are 6-8 inches
# wide and read in a browser or a Markdown viewer. A framed legend stays readable where it
# has to sit on data (box plots fill the sweep panels). Minor ticks only where asked for (the
# ROC's log axis): on every axis they made a report 50 % slower to draw for little to read.
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


def _styled(draw: Callable[P, R]) -> Callable[P, R]:
    @functools.wraps(draw)
    def styled(*args: P.args, **kwargs: P.kwargs) -> R:
        with plt.style.context(style()):
            return draw(*args, **kwargs)

    return styled


@dataclass(frozen=True)
class Figure:
    title: str
    png: Path
    csv: Path
    caption: str = ""


# One row per (backend, batch size, repetition) of a batch-size sweep: the columns of every
# sweep CSV the suite writes (the bench's sweep.csv and the report's Figure 4 data).
SWEEP_CSV_COLUMNS: tuple[str, ...] = (
    "backend", "device", "provider", "precision", "batch_size", "repeat", "n_batches",
    "n_jets", "time_s", "jets_per_s", "gpu_util_pct", "gpu_mem_mib", "gpu_power_w",
)
_SERIES_COLUMNS = 4  # backend, device, provider, precision: the rest are the point's keys
# The ROC figure's CSV: one row per point of each curve.
ROC_CSV_COLUMNS: tuple[str, ...] = ("label", "fpr", "tpr")
# The grouped-bars figures' CSV: one row per (series, category); std empty for a paper line.
BARS_CSV_COLUMNS: tuple[str, ...] = ("series", "category", "mean", "std")


@dataclass(frozen=True)
class SweepSeries:
    """One backend's sweep: its points as ``bench.sweep`` records carry them."""

    label: str
    device: str = ""
    provider: str | None = None
    precision: str = ""
    points: Sequence[Mapping[str, Any]] = ()


def write_csv(path: Path, header: Sequence[str], rows: Iterable[Sequence[Any]]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(header)
        for row in rows:
            w.writerow(["" if v is None else v for v in row])
    return path


def _save(fig: MplFigure, path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    if not fig.get_layout_engine():
        fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


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


def _sweep_panel(
    ax: Any,
    series: SweepSeries,
    published_peak: tuple[float, float] | None,
    published_util: Sequence[tuple[float, float]],
    published_rates: Sequence[tuple[float, float]],
) -> None:
    points = series.points
    sizes = sorted({int(p["batch_size"]) for p in points})
    rates = [
        [
            float(p["jets_per_s"])
            for p in points
            if int(p["batch_size"]) == b and p.get("jets_per_s") is not None
        ]
        for b in sizes
    ]
    gaps = [b - a for a, b in itertools.pairwise(sizes)]
    width = 0.6 * (min(gaps) if gaps else 100)
    ax.boxplot(
        rates,
        positions=sizes,
        widths=width,
        manage_ticks=False,
        patch_artist=True,
        boxprops={"facecolor": "tab:orange", "alpha": 0.7},
        medianprops={"color": "black"},
    )
    ax.set_xlabel("batch size [jets]")
    ax.set_ylabel("throughput [jets/s]")
    ax.set_xlim(0, max(sizes) + 200 if sizes else 1)
    if published_peak is not None:
        pb, pr = published_peak
        ax.axhline(pr, color="tab:red", ls="--", lw=1)
        ax.plot(
            [pb],
            [pr],
            marker="*",
            ms=14,
            color="tab:red",
            ls="none",
            label=f"paper: peak {pr / 1000:.0f}k jets/s at batch {pb:.0f} (A100)",
        )
    if published_rates:
        ax.plot(
            [r[0] for r in published_rates],
            [r[1] for r in published_rates],
            marker="x",
            ms=9,
            color="tab:red",
            ls="none",
            label="paper: throughput (read off the plot)",
        )
    utils = {}
    for b in sizes:
        vals = [
            float(p["gpu_util_pct"])
            for p in points
            if int(p["batch_size"]) == b and p.get("gpu_util_pct") is not None
        ]
        if vals:
            utils[b] = sum(vals) / len(vals)
    handles, labels = ax.get_legend_handles_labels()
    if utils or published_util:
        ax2 = ax.twinx()
        # One scale per side: the style's ticks on all four sides would mix the two.
        ax.tick_params(axis="y", which="both", right=False)
        ax2.tick_params(axis="y", which="both", left=False)
        ax2.set_ylabel("GPU utilisation [%]", color="tab:blue")
        ax2.set_ylim(0, 105)
        if utils:
            (line,) = ax2.plot(
                list(utils),
                list(utils.values()),
                color="tab:blue",
                marker="o",
                ms=3,
                label="GPU utilisation (NVML)",
            )
            handles.append(line)
            labels.append(line.get_label())
        if published_util:
            (pl,) = ax2.plot(
                [u[0] for u in published_util],
                [u[1] for u in published_util],
                color="tab:blue",
                ls=":",
                marker="x",
                label="paper: GPU utilisation",
            )
            handles.append(pl)
            labels.append(pl.get_label())
    if handles:
        ax.legend(handles, labels, loc="lower right", fontsize=8)
    name = series.label + (f" ({series.provider})" if series.provider else "")
    ax.set_title(name, fontsize=10)


@_styled
def sweep_figure(
    png: Path,
    series: Sequence[SweepSeries],
    title: str,
    *,
    note: str | None = None,
    published_peak: tuple[float, float] | None = None,
    published_util: Sequence[tuple[float, float]] = (),
    published_rates: Sequence[tuple[float, float]] = (),
) -> Path:
    """Figure 4: per series, throughput box plots per batch size and the GPU utilisation on
    a second axis; the paper's values overlaid where given. ``note`` (e.g. why NVML gave no
    utilisation) goes under the panels, where it covers no data."""
    fig, axes = plt.subplots(
        len(series), 1, figsize=(8, 4.2 * max(len(series), 1)), squeeze=False
    )
    for ax, one in zip(axes[:, 0], series, strict=True):
        _sweep_panel(ax, one, published_peak, published_util, published_rates)
    fig.suptitle(title, fontsize=11)
    if note:
        fig.text(0.5, 0.005, note, ha="center", va="bottom", fontsize=8, color="tab:blue")
        fig.tight_layout(rect=(0, 0.04, 1, 1))
    return _save(fig, png)


@_styled
def roc_figure(
    out_dir: Path, name: str, curves: Mapping[str, tuple[list[float], list[float], float | None]]
) -> Figure:
    """Background mistag rate vs signal efficiency, one curve per platform."""
    fig, ax = plt.subplots(figsize=(6, 4.5))
    rows: list[tuple[str, float, float]] = []
    for label, (fpr, tpr, auc) in curves.items():
        ax.plot(tpr, fpr, label=f"{label} (AUC {'–' if auc is None else f'{auc:.4f}'})")
        rows += [(label, f, t) for f, t in zip(fpr, tpr, strict=True)]
    ax.set_yscale("log")
    ax.yaxis.minorticks_on()
    ax.set_ylim(1e-5, 1)
    ax.set_xlim(0, 1)
    ax.set_xlabel(r"H$\to$b$\bar{b}$ efficiency (true positive rate)")
    ax.set_ylabel("QCD mistag rate (false positive rate)")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    png = _save(fig, out_dir / f"{name}.png")
    return Figure(
        "ROC curves", png, write_csv(out_dir / f"{name}.csv", ROC_CSV_COLUMNS, rows)
    )


@_styled
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
    found = {c for s in series.values() for c in s}
    cats = [c for c in order if c in found] + sorted(found - set(order))
    fig, ax = plt.subplots(figsize=(7.5, 4))
    n = max(len(series), 1)
    width = 0.8 / n
    rows: list[tuple[str, str, float, float | str]] = []
    colours: dict[str, Any] = {}
    cycle = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    for i, (label, vals) in enumerate(series.items()):
        base = label.removeprefix("paper ")
        colour = colours.setdefault(base, cycle[len(colours) % len(cycle)])
        paper = label != base
        xs = [j + (i - (n - 1) / 2) * width for j, c in enumerate(cats) if c in vals]
        ys = [vals[c][0] for c in cats if c in vals]
        es = [vals[c][1] if vals[c][1] == vals[c][1] else 0 for c in cats if c in vals]
        ax.errorbar(
            xs,
            ys,
            yerr=None if paper else es,
            fmt="D" if paper else "o",
            capsize=3,
            color=colour,
            mfc="none" if paper else colour,
            label=label,
        )
        rows += [(label, c, vals[c][0], vals[c][1]) for c in cats if c in vals]
    if published:
        for j, c in enumerate(cats):
            if c in published:
                ax.plot([j - 0.4, j + 0.4], [published[c]] * 2, color="black", ls="--", lw=1)
                rows.append(("published", c, published[c], ""))
        ax.plot([], [], color="black", ls="--", lw=1, label="paper")
    ax.set_xticks(range(len(cats)), cats, fontsize=8)
    if log:
        ax.set_yscale("log")
    ax.set_ylabel(ylabel)
    ax.set_title(title, fontsize=10)
    ax.grid(alpha=0.3, axis="y")
    # Beside the axes: the points of a category spread over its whole width.
    ax.legend(fontsize=8, loc="upper left", bbox_to_anchor=(1.01, 1.0), borderaxespad=0)
    png = _save(fig, out_dir / f"{name}.png")
    return Figure(
        title, png, write_csv(out_dir / f"{name}.csv", BARS_CSV_COLUMNS, rows)
    )



# ---- interpretability (paper §3.4): Figures 5, 6, 8/9 from the metrics of xai.* records -----

# Figure 5's CSV: one row per masked feature; Figure 6's: one per (panel, class, feature or
# track/SV); the NAP diagram's: one per (layer, neuron).
DELTA_AUC_CSV_COLUMNS: tuple[str, ...] = ("group", "feature", "delta_auc_pct")
RELEVANCE_CSV_COLUMNS: tuple[str, ...] = ("panel", "class", "item", "relevance")
NAP_CSV_COLUMNS: tuple[str, ...] = ("layer", "neuron", "rna_qcd", "rna_hbb", "dnap")
XAI_CLASS_NAMES = {"QCD": "QCD", "Hbb": "H→bb̄"}


@_styled
def xai_mask_figure(metrics: Mapping[str, Any], out_dir: Path, name: str, title: str
                    ) -> Figure | None:
    """Figure 5 from an ``xai.mask`` record: ΔAUC (%) per masked feature, a panel each for
    track and SV features, symmetric log axis, dotted lines at the thresholds."""
    single = [s for s in metrics.get("single") or []
              if isinstance(s, dict) and isinstance(s.get("delta_auc_pct"), (int, float))]
    groups = {label: [(str(s["feature"]), float(s["delta_auc_pct"])) for s in single
                      if s.get("group") == group]
              for group, label in (("track", "track features"), ("sv", "SV features"))}
    groups = {k: v for k, v in groups.items() if v}
    if not groups:
        return None
    fig, axes = plt.subplots(1, len(groups), figsize=(11, 4.5), squeeze=False,
                             gridspec_kw={"width_ratios": [len(g) for g in groups.values()]})
    for ax, (group, items) in zip(axes[0], groups.items(), strict=True):
        ys = [v for _, v in items]
        ax.bar(range(len(items)), ys, color=["tab:blue" if v >= 0 else "tab:red" for v in ys])
        ax.set_xticks(range(len(items)), [k for k, _ in items], rotation=90, fontsize=7)
        ax.tick_params(axis="x", top=False)  # one tick per bar: the top row only clutters
        ax.set_yscale("symlog", linthresh=1e-3)
        for t in metrics.get("thresholds") or []:
            if isinstance(t, dict) and isinstance(t.get("threshold_pct"), (int, float)) and (
                    t["threshold_pct"] > 0):
                ax.axhline(t["threshold_pct"], color="0.4", ls=":", lw=0.8)
        ax.set_title(group, fontsize=10)
        ax.grid(alpha=0.3, axis="y")
    axes[0][0].set_ylabel("ΔAUC = AUC(baseline) − AUC(masked) [%]")
    fig.suptitle(title, fontsize=11)
    rows = [(g, k, v) for g, items in groups.items() for k, v in items]
    return Figure(title, _save(fig, out_dir / f"{name}.png"),
                  write_csv(out_dir / f"{name}.csv", DELTA_AUC_CSV_COLUMNS, rows))


@_styled
def xai_relevance_figure(metrics: Mapping[str, Any], out_dir: Path, name: str, title: str
                         ) -> Figure | None:
    """Figure 6 from an ``xai.lrp`` record: mean relevance per class, per track and SV
    feature (upper) and per track and SV ordered by relative energy (lower)."""
    classes = {k: v for k, v in (metrics.get("classes") or {}).items() if isinstance(v, dict)}
    if not classes:
        return None
    panels = {
        "track features": ("track_features", ""), "SV features": ("sv_features", ""),
        "tracks by relative energy": ("track_slots", "t"),
        "SVs by relative energy": ("sv_slots", "sv"),
    }
    fig, axes = plt.subplots(2, 2, figsize=(11, 7.5))
    rows: list[tuple[str, str, str, float]] = []
    for ax, (panel, (key, prefix)) in zip(axes.flat, panels.items(), strict=True):
        width = 0.8 / len(classes)
        for i, (cls, v) in enumerate(classes.items()):
            got = v.get(key) or {}
            items = list(got.items()) if isinstance(got, dict) else [
                (f"{prefix}{j}", x) for j, x in enumerate(got)]
            label = XAI_CLASS_NAMES.get(cls, cls)
            ax.bar([j + (i - (len(classes) - 1) / 2) * width for j in range(len(items))],
                   [float(x) for _, x in items], width=width, label=label)
            rows += [(panel, label, str(k), float(x)) for k, x in items]
        ax.set_xticks(range(len(items)), [str(k) for k, _ in items], rotation=90,
                      fontsize=6 if len(items) > 20 else 7)
        ax.tick_params(axis="x", top=False)
        ax.set_title(panel, fontsize=10)
        ax.set_ylabel("mean relevance / class logit")
        ax.grid(alpha=0.3, axis="y")
        ax.legend(fontsize=8)
    fig.suptitle(title, fontsize=11)
    return Figure(title, _save(fig, out_dir / f"{name}.png"),
                  write_csv(out_dir / f"{name}.csv", RELEVANCE_CSV_COLUMNS, rows))


@_styled
def xai_nap_figure(activity: Mapping[str, Any], out_dir: Path, name: str, title: str
                   ) -> Figure | None:
    """Figures 8/9 from RNA metrics: the NAP diagram (RNA per neuron and layer, QCD negative
    beside H->bb positive) and the dNAP map |RNA(H->bb) − RNA(QCD)|."""
    import numpy as np

    qcd, hbb = (activity.get("rna") or {}).get("QCD"), (activity.get("rna") or {}).get("Hbb")
    if not isinstance(qcd, dict) or not isinstance(hbb, dict):
        return None
    layers = list(hbb)
    depth = max(len(v) for v in hbb.values())
    nap, dnap = np.full((depth, 2 * len(layers)), np.nan), np.full((depth, len(layers)), np.nan)
    rows: list[tuple[str, int, float, float, float]] = []
    for j, layer in enumerate(layers):
        q, h = np.asarray(qcd[layer], float), np.asarray(hbb[layer], float)
        nap[: len(q), 2 * j], nap[: len(h), 2 * j + 1] = -q, h
        dnap[: len(h), j] = np.abs(h - q)
        rows += [(layer, k, float(q[k]), float(h[k]), float(abs(h[k] - q[k])))
                 for k in range(len(h))]
    fig, (left, right) = plt.subplots(1, 2, figsize=(11, 5.5),
                                      gridspec_kw={"width_ratios": [2, 1]})
    for ax, image, cmap, lim, ticks, what, frac in (
            (left, nap, "RdBu_r", (-1, 1), [2 * j + 0.5 for j in range(len(layers))],
             "RNA: QCD (−) | H→bb̄ (+)", 0.04),
            (right, dnap, "viridis", (0, 1), list(range(len(layers))),
             "dNAP = |RNA(H→bb̄) − RNA(QCD)|", 0.08)):
        im = ax.imshow(image, aspect="auto", cmap=cmap, vmin=lim[0], vmax=lim[1],
                       interpolation="none")
        ax.set_xticks(ticks, layers, rotation=60, fontsize=7)
        ax.tick_params(which="both", top=False, right=False)
        ax.set_title(what, fontsize=10)
        fig.colorbar(im, ax=ax, fraction=frac)
    left.set_ylabel("neuron")
    fig.suptitle(title, fontsize=11)
    return Figure(title, _save(fig, out_dir / f"{name}.png"),
                  write_csv(out_dir / f"{name}.csv", NAP_CSV_COLUMNS, rows))
