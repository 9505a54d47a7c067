"""Figures 5, 6 and 8/9 (interpretability, §3.4) from ``xai.mask``, ``xai.lrp``, ``xai.rna``
and ``xai.ablation`` records, each with its CSV (drawn by :mod:`fairhep.plots`, as
``fairhep xai`` draws them) and a table of what it shows.

The paper prints no numbers for these figures; what its text says is checked where our records
can say it: how many features change the AUC by less than 0.05 % (14 track, 4 SV), that SV
features matter more for H->bb jets than for QCD jets (Figure 6), and that the two classes
activate different neurons only in the last layer of f_O (Figure 8). On synthetic data these are
observations about our model, not verdicts on the paper.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

from fairhep.plots import (
    XAI_CLASS_NAMES,
    Figure,
    xai_mask_figure,
    xai_nap_figure,
    xai_relevance_figure,
)
from fairhep.report.context import Context
from fairhep.report.format import NONE, fmt, num
from fairhep.report.recordset import Record
from fairhep.report.section import Row, Section, Table, row
from fairhep.report.sections.xai import latest, source
from fairhep.results import kinds

ID = "xai_figures"
WEAK_PCT = 0.05  # §3.4.1: features with a single-feature AUC drop below 0.05 % (Table 9)
F5_HEADERS = ("Source", "Data", "Jets", "AUC", "Most important (ΔAUC %)",
              "Least important (ΔAUC %)", "ΔP, ΔS < 0.05 %", "Paper")
F6_HEADERS = ("Source", "Rule", "Class", "Jets", "Top track features", "Top SV features",
              "SV share", "Paper: SV share larger for H→bb", "Relevance per layer (logit = 1)")
F7_HEADERS = ("Source", "Real SVs", "r(sv_ptrel, sv_pt)", "r(sv_erel, sv_pt)",
              "r(sv_ptrel, sv_erel)", "Paper", "track_quality: fraction of slots (QCD / H→bb̄)")
F8_HEADERS = ("Source", "Model h, D_E, D_O", "Jets", "Sparsity", "QCD", "H→bb", "Paper",
              "Mean dNAP: f_O 3 / other layers")
CAPTIONS = {
    "figure5": "Figure 5: the features whose masking changes the AUC most and least (|ΔAUC|), "
    "and how many change it by less than 0.05 % (the paper: 14 track, 4 SV features).",
    "figure6": "Figure 6: the most relevant features per class and the SV features' share of "
    "|relevance| (the paper: larger for H→bb̄ jets than for QCD jets).",
    "figure7": "Figure 7 (its numbers): the correlations behind LRP's choice of sv_pt over "
    "sv_ptrel and sv_erel (the paper: 0.85), over the SVs of the LRP sample, and the "
    "categorical track_quality per class.",
    "figure8": "Figures 8/9: sparsity (fraction of neurons with RNA < 0.2) and where the classes "
    "differ (the paper: dNAP near 0 but in the last layer of f_O).",
}
# What a table says, in its one "not run here" line, when no record of its study is here.
NOT_RUN = {
    "figure5": "no xai.mask records (`fairhep xai mask --run RUN --data DIR`)",
    "figure6": "no xai.lrp records (`fairhep xai lrp --run RUN --data DIR`)",
    "figure7": "no xai.lrp records with input facts (`fairhep xai lrp --run RUN --data DIR`)",
    "figure8": "no xai.rna records (`fairhep xai rna --run RUN --data DIR`)",
}
Draw = Callable[[Mapping[str, Any], Path, str, str], "Figure | None"]


def build(ctx: Context) -> Section:
    figures: list[Figure] = []
    f5 = _figure5_rows(ctx, figures)
    f6 = _figure6_rows(ctx, figures)
    f7 = _figure7_rows(ctx)
    f8 = _figure8_rows(ctx, figures)
    return Section(
        ID,
        "Figures 5–9 — feature masking, relevance, inputs and neural activity (§3.4)",
        "Figure 5: AUC change when one feature is masked (`fairhep xai mask`). Figure 6: mean "
        "LRP relevance per feature and per track/SV, by class, normalised by the class logit "
        "(`fairhep xai lrp`). Figures 8/9: relative neural activity per neuron, QCD shown "
        "negative, and dNAP (`fairhep xai rna`; ablated models from xai.ablation). The paper "
        "prints no numbers for these figures: the tables hold what its text says beside ours.",
        tables=tuple(
            Table(name, headers, tuple(rows), CAPTIONS[name],
                  not_run="" if rows else NOT_RUN[name])
            for name, headers, rows in (
                ("figure5", F5_HEADERS, f5), ("figure6", F6_HEADERS, f6),
                ("figure7", F7_HEADERS, f7), ("figure8", F8_HEADERS, f8))),
        figures=tuple(figures),
    )


def _ranked(items: Sequence[tuple[str, float]], n: int = 3, digits: int = 3) -> str:
    return ", ".join(f"{k} ({v:.{digits}f})" for k, v in items[:n]) or NONE


def _draw(figures: list[Figure], draw: Draw, metrics: Mapping[str, Any], ctx: Context,
          r: Record, title: str) -> None:
    """Draw one record's figure into the report, titled ``title — platform: run``."""
    name = f"{title.split(':')[0]}_{r.record.kind}_{r.platform}_{r.config.get('run_name')}"
    if r.config.get("rule"):
        name += f"_{r.config['rule']}"
    fig = draw(metrics, ctx.fig_dir, re.sub(r"[^A-Za-z0-9_.-]+", "_", name).lower(),
               f"{title} — {source(r)}")
    if fig is not None:
        figures.append(fig)


def _figure5_rows(ctx: Context, figures: list[Figure]) -> list[Row]:
    rows = []
    at = [p for p in ctx.published("table9")["rows"] if float(p["threshold"]) == WEAK_PCT]
    paper_weak = f"{at[0]['delta_p']}, {at[0]['delta_s']}" if at else NONE
    for r in latest(ctx, kinds.XAI_MASK):
        _draw(figures, xai_mask_figure, r.metrics, ctx, r,
              "Figure 5: ΔAUC when one feature is masked")
        single = sorted(((str(s["feature"]), float(s["delta_auc_pct"]), s.get("group"))
                         for s in r.metrics.get("single") or [] if isinstance(s, dict)
                         and num(s, "delta_auc_pct") is not None), key=lambda t: -t[1])
        weak = [g for _, d, g in single if abs(d) < WEAK_PCT]
        pairs = [(f, d) for f, d, _ in single]
        rows.append(row(F5_HEADERS, [
            source(r), str(r.config.get("data_origin") or NONE),
            fmt(num(r.metrics, "n_jets"), 0), fmt(num(r.metrics, "auc"), 4),
            _ranked(pairs), _ranked(sorted(pairs, key=lambda t: abs(t[1])), digits=4),
            f"{weak.count('track')}, {weak.count('sv')}", paper_weak,
        ], "observation"))
    return rows


def _figure6_rows(ctx: Context, figures: list[Figure]) -> list[Row]:
    rows = []
    for r in latest(ctx, kinds.XAI_LRP):
        _draw(figures, xai_relevance_figure, r.metrics, ctx, r,
              f"Figure 6: LRP-{r.config.get('rule')} relevance")
        classes = {k: v for k, v in (r.metrics.get("classes") or {}).items()
                   if isinstance(v, dict)}
        shares = {c: _sv_share(v) for c, v in classes.items()}
        more = (shares.get("Hbb") or 0) > (shares.get("QCD") or 0)
        for c, v in classes.items():
            tracks = sorted(((k, float(x)) for k, x in (v.get("track_features") or {}).items()),
                            key=lambda t: -t[1])
            svs = sorted(((k, float(x)) for k, x in (v.get("sv_features") or {}).items()),
                         key=lambda t: -t[1])
            rows.append(row(F6_HEADERS, [
                source(r), str(r.config.get("rule")), XAI_CLASS_NAMES.get(c, c),
                str(v.get("n_jets")), _ranked(tracks), _ranked(svs), fmt(shares[c], 3),
                "yes, here too" if more else "not here",
                "; ".join(f"{s.get('layer')} {fmt(num(s, 'relevance'), 2)}"
                          for s in v.get("stages") or [] if isinstance(s, dict)) or NONE,
            ], "observation"))
    return rows


def _figure7_rows(ctx: Context) -> list[Row]:
    rows = []
    for r in latest(ctx, kinds.XAI_LRP):
        facts = r.metrics.get("inputs") or {}
        if not facts:
            continue
        pearson = facts.get("pearson") or {}
        tq = facts.get("track_quality") or {}
        fractions = "; ".join(
            f"{v:g}: {q:.2f} / {h:.2f}" for v, q, h in
            zip(tq.get("values") or [], tq.get("QCD") or [], tq.get("Hbb") or [], strict=False))
        rows.append(row(F7_HEADERS, [
            source(r), fmt(num(facts, "n_real_svs"), 0),
            *(fmt(num(pearson, k), 3) for k in ("sv_ptrel~sv_pt", "sv_erel~sv_pt",
                                                  "sv_ptrel~sv_erel")),
            str(facts.get("paper_pearson", NONE)), fractions or NONE,
        ], "observation"))
    return rows


def _sv_share(v: Mapping[str, Any]) -> float | None:
    tracks = sum(abs(float(x)) for x in (v.get("track_features") or {}).values())
    svs = sum(abs(float(x)) for x in (v.get("sv_features") or {}).values())
    return svs / (tracks + svs) if tracks + svs > 0 else None


def _figure8_rows(ctx: Context, figures: list[Figure]) -> list[Row]:
    rows = []
    paper_sparsity = {(p["hidden"], p["d_e"], p["d_o"]): p["sparsity"]
                      for p in ctx.published("table10")["rows"]}
    sources = [(r, r.metrics) for r in latest(ctx, kinds.XAI_RNA)] + [
        (r, r.metrics.get("activity") or {}) for r in latest(ctx, kinds.XAI_ABLATION)
        if not r.config.get("is_baseline") and (r.metrics.get("activity") or {}).get("rna")]
    for r, activity in sources:
        m = r.config.get("model") or {}
        sizes = (m.get("hidden"), m.get("de"), m.get("do"))
        which = "Figure 9" if r.record.kind == kinds.XAI_ABLATION else "Figure 8"
        _draw(figures, xai_nap_figure, activity, ctx, r, f"{which}: neural activation pattern")
        per_class = activity.get("sparsity_per_class") or {}
        paper = paper_sparsity.get(sizes)
        rows.append(row(F8_HEADERS, [
            source(r), ", ".join(str(s) for s in sizes), fmt(num(activity, "n_jets"), 0),
            fmt(num(activity, "sparsity"), 2), fmt(num(per_class, "QCD"), 2),
            fmt(num(per_class, "Hbb"), 2), NONE if paper is None else str(paper),
            _dnap_contrast(activity.get("dnap") or {}),
        ], "observation"))
    return rows


def _dnap_contrast(dnap: Mapping[str, Any]) -> str:
    def mean(values: Sequence[float]) -> float:
        return sum(values) / len(values) if values else float("nan")

    last = [float(x) for x in dnap.get("f_O 3") or []]
    rest = [float(x) for k, v in dnap.items() if k != "f_O 3" for x in v]
    if not last or not rest:
        return NONE
    return f"{mean(last):.3f} / {mean(rest):.3f}"

