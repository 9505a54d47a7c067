"""How records are grouped and ordered in a report's tables: platforms, splits and backends in
the paper's order, training setups that are never averaged together, one record per re-run."""

from __future__ import annotations

import json
import math
from collections import defaultdict
from collections.abc import Callable, Hashable, Iterable, Mapping, Sequence
from pathlib import Path
from typing import TypeVar

from fairhep import published
from fairhep.report.format import NONE, jets, num
from fairhep.report.recordset import Record, RecordSet
from fairhep.results import kinds

# A verdict against the paper's all-test-data rows needs (nearly) its 1.8 M test jets.
FULL_TEST_SET_MIN_JETS = 1_000_000

SPLITS = ("kfold", "files", "points")
SPLIT_NAMES = {
    "kfold": "Method 1: cross validation",
    "files": "Method 2: random split on file names",
    "points": "Method 3: random split on data points",
}
PLATFORM_ORDER = ("hal", "dgx", "thetagpu")
BACKEND_ORDER = ("torch", "onnxruntime", "tensorrt")

# The paper's seed spread (Table 4) describes the baseline IN on the full dataset (5.2 M
# training jets); it is borrowed as the error of single runs only for runs like that.
BASELINE_MODEL = {"hidden": 60, "de": 20, "do": 24}
FULL_DATASET_MIN_TRAIN_JETS = 1_000_000

Setup = tuple[tuple[object, ...], int | None]
K = TypeVar("K", bound=Hashable)


def platform_sort(p: str) -> tuple[int, str]:
    key = published.platform_key(p)
    return (PLATFORM_ORDER.index(key) if key in PLATFORM_ORDER else len(PLATFORM_ORDER), p)


def split_sort(s: str) -> tuple[int, str]:
    return (SPLITS.index(s) if s in SPLITS else len(SPLITS), s)


def backend_sort(r: Record) -> tuple[int, str, str, str]:
    b = str(r.config.get("backend"))
    return (
        BACKEND_ORDER.index(b) if b in BACKEND_ORDER else len(BACKEND_ORDER),
        b,
        "0" if r.config.get("device") == "cpu" else str(r.config.get("device")),
        str(r.config.get("provider")),
    )


def source(recs: Iterable[Record]) -> str:
    """What a row of our runs is: "ours" (measured), "fixture" (generated, see
    :data:`~fairhep.report.recordset.GENERATED`) or "ours + fixture"."""
    made_up = [r.generated is not None for r in recs]
    if not any(made_up):
        return "ours"
    return "fixture" if all(made_up) else "ours + fixture"


def n_train(r: Record) -> float | None:
    return num(r.config, "split_detail", "n_train")


def paper_like(r: Record) -> bool:
    """The baseline IN trained on (nearly) the full dataset: the paper's seed spread applies."""
    model = r.config.get("model") or {}
    n = n_train(r)
    return (
        all(model.get(k) == v for k, v in BASELINE_MODEL.items())
        and n is not None
        and n >= FULL_DATASET_MIN_TRAIN_JETS
    )


def setup_key(r: Record) -> Setup:
    """Model size and the order of magnitude of the training set (half decades): splits of
    one dataset (5.2 M vs 5.13 M jets, or 300 vs 360) share a setup, a toy run does not."""
    m = r.config.get("model") or {}
    n = n_train(r)
    bucket = None if not n else round(2 * math.log10(n))
    return (tuple(m.get(k) for k in ("hidden", "de", "do")), bucket)


def setup(recs: Sequence[Record]) -> str:
    """Model size and training-set size of a group of train records, e.g. '60/20/24, 5.2M jets'."""
    sizes = sorted(
        {"/".join(str(x) for x in setup_key(r)[0]) if r.config.get("model") else "?" for r in recs}
    )
    ns = sorted({int(n) for n in (n_train(r) for r in recs) if n})
    text = "; ".join(sizes) or "?"
    if ns:
        text += f", {jets(ns[0])}" + (f"–{jets(ns[-1])}" if len(ns) > 1 else "") + " jets"
    return text


def setup_labels(records: RecordSet) -> dict[Setup, str]:
    """One label per setup, over every train record of the set (so that the label of a setup
    is the same in every table cell)."""
    keyed: dict[Setup, list[Record]] = defaultdict(list)
    for r in records.of(kinds.TRAIN):
        keyed[setup_key(r)].append(r)
    return {k: setup(v) for k, v in keyed.items()}


def by_setup(labels: dict[Setup, str], recs: Iterable[Record]) -> dict[str, list[Record]]:
    """Train records grouped by setup label: different setups are never averaged together (a
    toy smoke run is not a seed of the paper's training)."""
    out: dict[str, list[Record]] = defaultdict(list)
    for r in recs:
        out[labels[setup_key(r)]].append(r)
    return dict(out)


def model_label(r: Record) -> str:
    """The model a record measured, as a table cell: 'IN 60/20/24' (hidden/DE/DO), with the
    features it was trained without; '–' when the record does not say."""
    m = r.config.get("model")
    if not isinstance(m, dict) or m.get("hidden") is None:
        return NONE
    text = f"IN {m.get('hidden')}/{m.get('de')}/{m.get('do')}"
    dropped = len(m.get("track_features_dropped") or []) + len(m.get("sv_features_dropped") or [])
    return f"{text} −{dropped} features" if dropped else text


# The mark and footnote for rows of a form this suite added (the fast engine, the fast graph).
SUITE_FORM_MARK = "†"
SUITE_FORM_NOTE = (
    "† this suite's form, not the paper's: the fast engine or the fast graph (records say "
    "paper_framework = false or graph_form = fast); same weights and scores within tolerance, "
    "but not a framework the paper measured, so its timings are not the paper's rows."
)


def suite_form(r: Record) -> bool:
    """Whether a record measured a form this suite added rather than one the paper ran: its
    backend says ``paper_framework = false`` (fast, fast-cuda, onnxruntime-fast-*) or
    ``graph_form = fast``."""
    return r.config.get("paper_framework") is False or r.config.get("graph_form") == "fast"


def form_cell(r: Record) -> str:
    """The Form column: "paper" or the marked suite form the footnote explains."""
    return f"suite {SUITE_FORM_MARK}" if suite_form(r) else "paper"


def measured_thing(r: Record) -> tuple[str, str, str, str]:
    """What two records must share to be compared as one measurement of different backends:
    platform, model (its whole config), trained run and dataset. Rows that differ in any of
    these go into different groups, never side by side as if comparable."""
    model = r.config.get("model")
    return (
        r.platform,
        json.dumps(model, sort_keys=True) if model is not None else "",
        str(r.config.get("run") or ""),
        str(r.config.get("data") or ""),
    )


def group_names(groups: Mapping[K, Sequence[Record]]) -> dict[K, str]:
    """A short name per group of records (:func:`measured_thing`): the platform, then as
    much of model, run and dataset as it takes to tell the groups apart."""

    def parts(r: Record) -> tuple[str, ...]:
        run, data = (Path(str(r.config.get(k) or "")) for k in ("run", "data"))
        return (r.platform, model_label(r), run.name or NONE, "/".join(data.parts[-2:]) or NONE)

    first = {k: parts(recs[0]) for k, recs in groups.items() if recs}
    for n in range(1, 5):
        names = {k: ", ".join(p[:n]) for k, p in first.items()}
        if len(set(names.values())) == len(names):
            return names
    return {k: f"{name} ({i + 1})" for i, (k, name) in enumerate(names.items())}


def run_identity(r: Record) -> tuple[object, ...]:
    """What makes two train records the same run: a resumed or re-run seed counts once."""
    return (
        r.platform,
        r.config.get("split"),
        r.config.get("seed"),
        r.config.get("fold"),
        r.config.get("run") or r.config.get("data"),
    )


def latest_per(recs: Iterable[Record], key: Callable[[Record], K]) -> list[Record]:
    """One record per key (the newest): a resumed or re-run seed counts once."""
    best: dict[K, Record] = {}
    for r in recs:
        k = key(r)
        if k not in best or r.record.created > best[k].record.created:
            best[k] = r
    return list(best.values())


def skipped_backends(recs: Iterable[Record]) -> str:
    """The runs among ``recs`` that could not run, grouped by the reason they give, as one
    line: ``"tensorrt-fp32, tensorrt-fp16 (tensorrt: module not installed); torch-cuda (…)"``;
    each named with its platform where ``recs`` come from several. "" when all ran."""
    recs = list(recs)
    skipped = sorted(
        (r for r in recs if r.record.status != "ok"), key=lambda r: platform_sort(r.platform)
    )
    several = len({r.platform for r in recs}) > 1
    by_reason: dict[str, list[str]] = defaultdict(list)
    for r in skipped:
        status = f"status {r.record.status}"
        for s in r.record.skipped or [{"what": str(r.config.get("backend")), "reason": status}]:
            what = str(s.get("what") or r.config.get("backend"))
            by_reason[str(s.get("reason") or status)].append(
                f"{what} on {r.platform}" if several else what
            )
    return "; ".join(
        f"{', '.join(dict.fromkeys(whats))} ({why})" for why, whats in by_reason.items()
    )
