"""The cross-platform summary at the top of a report: one row per platform (local records and
every HEPData submission read with ``--published``) with its headline figures, each as a ratio
to a reference platform, and their geometric mean in the manner of HEPscore.

Figures: peak jets/s (Figure 4), time per batch at 1 and at 128 jets (Table 8, the fastest
backend), AUC of the reference backend (Table 8) and training time per epoch (Tables 5/7).
Ratios read "higher is better": throughput and AUC as this/reference, times as
reference/this. The per-figure ratios stand beside the mean so no single number hides a
regression. The reference defaults to the paper's A100 (ThetaGPU: Figure 4, Table 8, Table 7).

Built after the other sections, from their tables (never from Markdown), so that a local
platform and a published one are read the same way.
"""

from __future__ import annotations

import math
import re
import statistics
from collections.abc import Sequence
from dataclasses import dataclass, field
from decimal import Decimal

from fairhep.errors import ConfigError
from fairhep.report.context import Context
from fairhep.report.format import NONE
from fairhep.report.section import Section, Table, row

ID = "cross_platform"
PAPER = "paper"
PAPER_PLATFORM = "thetagpu"  # the paper's A100 row: Figure 4 and Table 8 ran there
LOCAL = "local records"
# (figure, header, higher is better)
FIGURES = (
    ("peak", "Peak jets/s (batch)", True),
    ("t1", "Time/batch 1 [ms]", False),
    ("t128", "Time/batch 128 [ms]", False),
    ("auc", "AUC", True),
    ("epoch", "Train time/epoch [s]", False),
)
HEADERS = ("Platform", "Source", "GPU", "Stack", "Image digest",
           *(h for f, h, _ in FIGURES for h in (h, f"ratio {f}")),
           "Parity", "Geomean (figures)")
_FIRST = re.compile(r"^\s*([-+]?\d+(?:\.\d+)?(?:[eE][-+]?\d+)?)(?:\s*\((\d+)\))?")


@dataclass
class Headline:
    platform: str
    source: str
    facts: dict[str, str] = field(default_factory=dict)
    values: dict[str, float] = field(default_factory=dict)
    notes: dict[str, str] = field(default_factory=dict)  # peak's batch, fastest backend
    parity: str = NONE


def _first(cell: str) -> tuple[float, int | None] | None:
    m = _FIRST.match(cell or "")
    if m is None:
        return None
    return float(m.group(1)), (int(m.group(2)) if m.group(2) else None)


def _platform_rows(tables: Sequence[Table], name: str, platform: str) -> list[dict[str, str]]:
    return [dict(r.cells) for t in tables if t.name == name for r in t.rows
            if r.cells.get("Platform") == platform]


def headline(platform: str, source: str, tables: Sequence[Table],
             facts: dict[str, str]) -> Headline:
    """The headline figures of one platform from report tables (local or read back)."""
    h = Headline(platform, source, facts)
    peaks = [p for r in _platform_rows(tables, "figure4", platform)
             if (p := _first(r.get("Peak jets/s (batch)", "")))]
    if peaks:
        best = max(peaks, key=lambda p: p[0])
        h.values["peak"] = best[0]
        h.notes["peak"] = f" ({best[1]})" if best[1] else ""
    t8 = _platform_rows(tables, "table8", platform)
    for key, col in (("t1", "Time/batch 1 [ms]"), ("t128", "Time/batch 128 [ms]")):
        timed = [(v[0], r.get("Backend", "?")) for r in t8 if (v := _first(r.get(col, "")))]
        if timed:
            h.values[key], backend = min(timed)
            h.notes[key] = f" ({backend})"
    ref = [r for r in t8 if r.get("Parity") == "reference"] or t8
    if ref and (auc := _first(ref[0].get("AUC", ""))):
        h.values["auc"] = auc[0]
    if t8:
        off = [r.get("Backend", "?") for r in t8
               if r.get("Parity") not in ("reference", "parity")]
        h.parity = "yes" if not off else f"no: {', '.join(off)}"
    epochs = [v[0] for r in _platform_rows(tables, "table57", platform)
              if not str(r.get("Source", "")).startswith(PAPER)
              and (v := _first(r.get("Train (valid) time/epoch [s]", "")))]
    if epochs:
        h.values["epoch"] = statistics.median(epochs)
    return h


def paper_reference(ctx: Context) -> Headline:
    """The paper's A100 row: Figure 4's peak, Table 8's fastest framework at batch 1
    ('partial') and 128 ('all'), PyTorch's AUC on all jets, Table 7's kfold epoch time."""
    h = Headline(f"{PAPER_PLATFORM} (A100)", f"{PAPER} (Figure 4, Tables 7, 8)",
                 {"GPU": "NVIDIA A100"})
    fig4 = ctx.published("figure4")
    h.values["peak"] = float(fig4["peak"]["jets_per_s"])
    h.notes["peak"] = f" ({fig4['peak']['batch_size']})"
    t8 = ctx.published("table8")
    h.facts["Stack"] = str(t8["table"].get("stack", NONE))
    for key, batch in (("t1", 1), ("t128", 128)):
        rows = [r for r in t8["rows"] if int(r["batch_size"]) == batch
                and r.get("dataset") != "apptainer"]
        best = min(rows, key=lambda r: Decimal(r["time_per_batch_s"]))
        h.values[key] = 1000 * float(best["time_per_batch_s"])
        h.notes[key] = f" ({best['framework']})"
    auc = [r for r in t8["rows"] if r["framework"] == "torch" and r.get("dataset") == "all"]
    if auc:
        h.values["auc"] = float(auc[0]["auc"])
    t7 = [r for r in ctx.published("table7")["rows"]
          if r["platform"] == PAPER_PLATFORM and r["split"] == "kfold"]
    if t7:
        h.values["epoch"] = float(t7[0]["train_s_per_epoch"])
    h.parity = "yes (Table 8)"
    return h


def _ratio(value: float | None, ref: float | None, higher: bool) -> float | None:
    if value is None or ref is None or value <= 0 or ref <= 0:
        return None
    return value / ref if higher else ref / value


def _num(v: float) -> str:
    return f"{v:.0f}" if abs(v) >= 1000 else f"{v:.4g}"


def geomean(ratios: Sequence[float]) -> float | None:
    return math.exp(statistics.fmean(math.log(r) for r in ratios)) if ratios else None


def build(ctx: Context, sections: Sequence[Section],
          reference: str | None = None) -> Section:
    """The summary over the local platforms (from ``sections``) and the submissions of
    ``ctx.submissions``; ``reference``: a platform label to normalise to (default: paper)."""
    local_tables = [t for s in sections for t in s.tables]
    prov = {r["Platform"]: {k: r[k] for k in ("GPU", "Stack", "Image digest")}
            for t in local_tables if t.name == "provenance" for r in t.rows}
    lines = [headline(p, LOCAL, local_tables, prov[p]) for p in prov]
    for sub in ctx.submissions:
        tables = [t.table for t in sub.tables]
        for platform in dict.fromkeys(t.platform for t in sub.tables if t.platform):
            quals = next(t.qualifiers for t in sub.tables if t.platform == platform)
            facts = {k: quals.get(k, NONE) for k in ("GPU", "Stack", "Image digest")}
            lines.append(headline(platform, sub.source, tables, facts))
    lines = [h for h in lines if h.values]
    paper = paper_reference(ctx)
    if reference in (None, PAPER):
        ref = paper
    else:
        found = [h for h in lines if h.platform == reference]
        if not found:
            known = ", ".join([PAPER, *dict.fromkeys(h.platform for h in lines)])
            raise ConfigError(f"--reference {reference!r}: no such platform in this report; "
                              f"choose one of {known}")
        ref = found[0]
    rows = []
    for h in [paper, *lines]:
        cells = [h.platform, h.source, *(h.facts.get(k, NONE)
                                         for k in ("GPU", "Stack", "Image digest"))]
        ratios: list[float] = []
        values: dict[str, float] = {}
        for key, _, higher in FIGURES:
            v = h.values.get(key)
            r = _ratio(v, ref.values.get(key), higher)
            cells.append(NONE if v is None else f"{_num(v)}{h.notes.get(key, '')}")
            cells.append(NONE if r is None else f"{r:.3g}")
            if r is not None:
                ratios.append(r)
                values[f"ratio_{key}"] = r
        g = geomean(ratios)
        if g is not None:
            values["geomean"] = g
        cells += [h.parity, NONE if g is None else f"{g:.3g} ({len(ratios)}/{len(FIGURES)})"]
        rows.append(row(HEADERS, cells, "reference" if h is ref else None, values=values))
    intro = (f"One row per platform; each figure as a ratio to {ref.platform} ({ref.source}), "
             "higher is better (times as reference/this), and their geometric mean over the "
             "figures each row has (HEPscore-style). Times are the fastest backend's; AUC is "
             "the parity reference backend's (small local samples are not the paper's 1.8 M "
             "jets, so an AUC ratio compares samples as much as platforms; an epoch's "
             "time depends on the training jets, see Tables 5/7).")
    return Section(ID, "Cross-platform summary", intro, tables=(
        Table(ID, HEADERS, tuple(rows),
              not_run="" if lines else "no platform here has a headline figure"),))
