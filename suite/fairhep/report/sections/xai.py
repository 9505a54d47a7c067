"""Tables 9 and 10 (interpretability, §3.4): ours from ``xai.mask`` / ``xai.ablation`` records
beside the paper's values.

A verdict on an AUC needs what the paper measured on: the real CMS test set, (nearly) all of
its 1.8 M jets; the seed spread of Table 4 is the error of a single run, as in the evaluation
section. Parameter counts of Table 10 are compared exactly on any data.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from fairhep import schema, stats
from fairhep.report.context import Context
from fairhep.report.format import NONE, finite, fmt, fmt_p, num, worst
from fairhep.report.grouping import FULL_TEST_SET_MIN_JETS, latest_per, platform_sort
from fairhep.report.recordset import Record
from fairhep.report.section import Row, Section, Table, row
from fairhep.results import kinds

ID = "xai"
T9_HEADERS = ("Threshold [%]", "Source", "ΔP", "ΔS", "AUC [%]", "Fidelity [%]", "Verdict")
T10_HEADERS = ("ΔP, ΔS", "h, D_E, D_O", "Source", "Parameters", "AUC [%]", "Fidelity [%]",
               "Sparsity", "Verdict")
# The public notebook's 0.01 % threshold (0-based IN order): what the paper's Table 9 masked.
PAPER_MASKED_AT_001 = (
    tuple(schema.TRACK_FEATURES[i] for i in (2, 14, 15, 16, 17, 18, 19, 20, 21, 25, 26)),
    tuple(schema.SV_FEATURES[i] for i in (2, 3, 8)),
)
PAPER_LABEL = "paper"


def latest(ctx: Context, kind: str) -> list[Record]:
    """The newest record per (platform, run, data, model), platforms in the paper's order."""
    recs = latest_per(ctx.records.of(kind), lambda r: (
        r.platform, r.config.get("run"), r.config.get("data"), str(r.config.get("model")),
        str(r.config.get("rule"))))
    return sorted(recs, key=lambda r: (platform_sort(r.platform), str(r.config.get("run"))))


def source(r: Record) -> str:
    """How a row names our record: platform and run directory name."""
    return f"{r.platform}: {r.config.get('run_name') or Path(str(r.config.get('run'))).name}"


def comparable(r: Record) -> str | None:
    """Why an AUC of this record cannot be held against the paper's (None: it can)."""
    origin = str(r.config.get("data_origin") or "unknown")
    n = num(r.metrics, "n_jets")
    if origin == "synthetic":
        return "n/a (synthetic data)"
    if n is None or n < FULL_TEST_SET_MIN_JETS:
        return f"n/a ({int(n or 0)} jets, not the 1.8 M test set)"
    return None


def auc_verdict(r: Record, ours: float | None, paper: float, sigma: float
                ) -> tuple[str, str, dict[str, float]]:
    """(verdict, cell text, values) for our AUC against the paper's, both as fractions."""
    why = comparable(r)
    if why is not None or ours is None:
        return "n/a", why or "missing AUC", {}
    c = stats.compare_to_published([ours], paper, sigma)
    return c.verdict, f"{c.verdict} (p_AUC {fmt_p(c.p)})", finite(p_auc=c.p)


def pct(x: float | None, digits: int = 2) -> str:
    return fmt(None if x is None else 100 * x, digits)


def build(ctx: Context) -> Section:
    sigma = float(ctx.published("table4")["this_work"]["val_auc_std"])
    t9, notes = _table9(ctx, sigma)
    return Section(
        ID,
        "Tables 9 and 10 — feature masking and ablated models (§3.4)",
        "Ours from `fairhep xai mask` (xai.mask) and `fairhep xai ablate` / the campaign's "
        "ablate tasks (xai.ablation) beside the paper's values. Masking sets a feature to "
        "zero for every track/SV; a threshold masks every feature whose single-feature "
        "|ΔAUC| is below it. Fidelity (Eq. 1) against the unmasked model (Table 9) or the "
        "baseline (Table 10). AUC verdicts only on the real test set (≥ 1 M jets), with "
        f"Table 4's seed spread ({sigma}) as the error; parameter counts exactly.",
        tables=(t9, _table10(ctx, sigma)),
        notes=tuple(notes),
    )


def _table9(ctx: Context, sigma: float) -> tuple[Table, list[str]]:
    recs = latest(ctx, kinds.XAI_MASK)
    rows: list[Row] = []
    notes: list[str] = []
    gaps: list[str] = []
    for p in ctx.published("table9")["rows"]:
        threshold = float(p["threshold"])
        rows.append(row(T9_HEADERS, [str(p["threshold"]), PAPER_LABEL, str(p["delta_p"]),
                                     str(p["delta_s"]), str(p["auc"]), str(p["fidelity"]),
                                     NONE]))
        for r in recs:
            ours = _at_threshold(r, threshold)
            if ours is None:
                gaps.append(f"{p['threshold']} % in {r.file}")
                continue
            a, f = num(ours, "auc"), num(ours, "fidelity")
            verdict, text, values = auc_verdict(r, a, float(p["auc"]) / 100, sigma)
            rows.append(row(
                T9_HEADERS,
                [str(p["threshold"]), source(r), str(len(ours.get("masked_tracks") or [])),
                 str(len(ours.get("masked_svs") or [])), pct(a), pct(f), text],
                verdict, values=finite(auc=a, fidelity=f) | values))
    for r in recs:
        ours = _at_threshold(r, 0.01)
        if ours is not None:
            notes.append(_overlap_note(r, ours))
    not_run = ("no xai.mask records (`fairhep xai mask --run RUN --data DIR`)" if not recs else
               f"thresholds {', '.join(gaps)} (not masked there: `--thresholds`)" if gaps else "")
    return Table("table9", T9_HEADERS, tuple(rows),
                 "Table 9: the baseline with every feature below the |ΔAUC| threshold masked at "
                 "once; ΔP (ΔS): track (SV) features masked.", not_run=not_run), notes


def _at_threshold(r: Record, threshold: float) -> dict[str, Any] | None:
    for t in r.metrics.get("thresholds") or []:
        if isinstance(t, dict) and num(t, "threshold_pct") is not None and abs(
                float(t["threshold_pct"]) - threshold) < 1e-12:
            return t
    return None


def _overlap_note(r: Record, ours: dict[str, Any]) -> str:
    parts = []
    for what, mine, paper in (("track", ours.get("masked_tracks") or [], PAPER_MASKED_AT_001[0]),
                              ("SV", ours.get("masked_svs") or [], PAPER_MASKED_AT_001[1])):
        both = [f for f in paper if f in mine]
        parts.append(f"{what}: {len(both)} of the paper's {len(paper)} also masked here"
                     f" ({', '.join(both) or 'none'}), {len(mine) - len(both)} others")
    return (f"At the 0.01 % threshold, {source(r)} against the paper's public notebook — "
            f"{'; '.join(parts)}.")


def _variant(r: Record) -> tuple[object, ...]:
    m = r.config.get("model") or {}
    return (r.config.get("delta_p"), r.config.get("delta_s"), m.get("hidden"), m.get("de"),
            m.get("do"))


def _table10(ctx: Context, sigma: float) -> Table:
    recs = latest(ctx, kinds.XAI_ABLATION)
    rows: list[Row] = []
    used: set[int] = set()
    absent: list[str] = []
    for p in ctx.published("table10")["rows"]:
        key = (p["delta_p"], p["delta_s"], p["hidden"], p["d_e"], p["d_o"])
        head = [f"{p['delta_p']}, {p['delta_s']}", f"{p['hidden']}, {p['d_e']}, {p['d_o']}"]
        rows.append(row(T10_HEADERS, [*head, PAPER_LABEL, str(p["parameters"]), str(p["auc"]),
                                      str(p["fidelity"]), str(p["sparsity"]), NONE]))
        mine = [r for r in recs if _variant(r) == key]
        used.update(id(r) for r in mine)
        rows += [_ours10(r, head, int(p["parameters"]), float(p["auc"]) / 100, sigma)
                 for r in mine]
        if not mine:
            absent.append(f"h, D_E, D_O = {head[1]}")
    for r in recs:
        if id(r) not in used:  # e.g. a toy campaign's small variants: nothing to compare with
            m = r.config.get("model") or {}
            head = [f"{r.config.get('delta_p')}, {r.config.get('delta_s')}",
                    f"{m.get('hidden')}, {m.get('de')}, {m.get('do')}"]
            rows.append(_ours10(r, head, None, None, sigma))
    not_run = "" if not absent else (
        f"{'; '.join(absent)} (no xai.ablation records of these variants: the campaign's "
        "ablate tasks, or `fairhep xai ablate --run RUN --baseline BASE --data DIR`)")
    return Table("table10", T10_HEADERS, tuple(rows),
                 "Table 10: the baseline and the re-optimised INs; sparsity = fraction of "
                 "neurons with RNA < 0.2 over jets of both classes.", not_run=not_run)


def _ours10(r: Record, head: Sequence[str], paper_params: int | None, paper_auc: float | None,
            sigma: float) -> Row:
    a, f, s = (num(r.metrics, k) for k in ("auc", "fidelity", "sparsity"))
    n_par = num(r.metrics, "parameters")
    verdicts, texts = [], []
    values = finite(auc=a, fidelity=f, sparsity=s, parameters=n_par)
    if paper_params is None or paper_auc is None:
        verdicts, texts = ["n/a"], ["no published counterpart"]
    else:
        same = n_par is not None and int(n_par) == paper_params
        verdicts.append("consistent" if same else "inconsistent")
        texts.append("parameters match" if same else f"parameters differ ({paper_params})")
        v, text, extra = auc_verdict(r, a, paper_auc, sigma)
        values |= extra
        texts.append(f"AUC {text}")
        if v != "n/a":
            verdicts.append(v)
    cells = [*head, source(r), NONE if n_par is None else str(int(n_par)), pct(a), pct(f),
             fmt(s, 2), "; ".join(texts)]
    return row(T10_HEADERS, cells, worst(verdicts) if "n/a" not in verdicts else "n/a",
               values=values)
