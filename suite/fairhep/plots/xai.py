"""Interpretability figures (paper §3.4) from the metrics of ``xai.*`` records: Figure 5
(ΔAUC per masked feature), Figure 6 (LRP relevance), Figures 8/9 (NAP diagram and dNAP)."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import matplotlib.pyplot as plt

from fairhep.plots.base import Figure, save, styled, write_csv

# Figure 5's CSV: one row per masked feature; Figure 6's: one per (panel, class, feature or
# track/SV); the NAP diagram's: one per (layer, neuron).
DELTA_AUC_CSV_COLUMNS: tuple[str, ...] = ("group", "feature", "delta_auc_pct")
RELEVANCE_CSV_COLUMNS: tuple[str, ...] = ("panel", "class", "item", "relevance")
NAP_CSV_COLUMNS: tuple[str, ...] = ("layer", "neuron", "rna_qcd", "rna_hbb", "dnap")
XAI_CLASS_NAMES = {"QCD": "QCD", "Hbb": "H→bb̄"}


@styled
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
    return Figure(title, save(fig, out_dir / f"{name}.png"),
                  write_csv(out_dir / f"{name}.csv", DELTA_AUC_CSV_COLUMNS, rows))


@styled
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
    return Figure(title, save(fig, out_dir / f"{name}.png"),
                  write_csv(out_dir / f"{name}.csv", RELEVANCE_CSV_COLUMNS, rows))


@styled
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
    return Figure(title, save(fig, out_dir / f"{name}.png"),
                  write_csv(out_dir / f"{name}.csv", NAP_CSV_COLUMNS, rows))
