"""The metrics a model card states, each with its uncertainty and where it comes from.

From the run's ``train.json`` (validation accuracy and AUC at the kept epoch), from
``evaluate`` records of the same run in the result folders given, and from the bundle's own
validation sample. Accuracy carries its binomial standard error; the sample's AUC a bootstrap
standard error (fixed seed, recorded); an AUC whose class counts were not recorded carries
none, and says so.
"""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from fairhep.data.load import JetArrays
from fairhep.metrics import accuracy, auc

BOOTSTRAP_RESAMPLES = 200
BOOTSTRAP_SEED = 0


def _binomial_se(p: float, n: int) -> float | None:
    return math.sqrt(p * (1 - p) / n) if n > 0 and 0 <= p <= 1 else None


# What a metric measures (the card's "kind"): the model's physics performance (held-out or
# test jets), a publication's figure, or a check of the file on the bundle's own sample.
PERFORMANCE = "performance"
PUBLISHED = "published"
FILE_CHECK = "file check"
FILE_CHECK_NOTE = ("a check of the file on the bundle's validation sample (chosen for "
                   "sensitivity, not representative), not the model's physics performance")


def _metric(name: str, value: float | None, uncertainty: float | None, n: int | None,
            source: str, note: str = "", kind: str = PERFORMANCE) -> dict[str, Any]:
    return {"name": name, "value": value, "uncertainty": uncertainty, "n_jets": n,
            "source": source, "note": note, "kind": kind}


def quoted(figures: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    """A publication's own figures for the model (``name``, ``value``, ``n_jets``,
    ``source``: :func:`fairhep.published.model_metrics`) as card metrics, quoted, not
    measured."""
    return [_metric(str(f["name"]), float(f["value"]), None, f.get("n_jets"), str(f["source"]),
                    "quoted from the publication, not measured by fairhep", PUBLISHED)
            for f in figures]


def from_training(run_dir: Path) -> list[dict[str, Any]]:
    """Validation accuracy and AUC of the kept epoch, from the run's ``train.json``."""
    from fairhep.train import SUMMARY

    path = Path(run_dir) / SUMMARY
    try:
        summary = json.loads(path.read_text())
    except (OSError, ValueError):
        return []
    n = int(summary.get("n_valid_jets") or 0)
    acc, roc_auc = summary.get("val_accuracy"), summary.get("val_auc")
    source = f"{SUMMARY} (validation part of the training split, epoch {summary.get('best_epoch')})"
    out = []
    if acc is not None:
        out.append(_metric("accuracy", float(acc), _binomial_se(float(acc), n), n, source,
                           "binomial standard error"))
    if roc_auc is not None:
        out.append(_metric("auc", float(roc_auc), None, n, source,
                           "no uncertainty: the class counts were not recorded"))
    return out


def from_records(run_dir: Path, results: Sequence[Path]) -> list[dict[str, Any]]:
    """Accuracy and AUC of every ``evaluate`` record of this run in ``results``."""
    from fairhep.results import kinds, load_records

    here = Path(run_dir).resolve()
    out = []
    for folder in results:
        errors: list[str] = []
        for rec in load_records(Path(folder), kinds.EVALUATE, errors):
            if rec.status != "ok" or Path(str(rec.config.get("run", ""))).resolve() != here:
                continue
            n = int(rec.metrics.get("n_jets") or 0)
            source = f"evaluate record {rec.record_id} on {rec.config.get('data')}"
            acc = float(rec.metrics["accuracy"])
            out.append(_metric("accuracy", acc, _binomial_se(acc, n), n, source,
                               "binomial standard error"))
            roc_auc = rec.metrics.get("auc")
            out.append(_metric("auc", None if roc_auc is None else float(roc_auc), None, n,
                               source, "no uncertainty: the record keeps no class counts"
                               if roc_auc is not None else "undefined in the record"))
    return out


def on_sample(jets: JetArrays, scores: np.ndarray, origin: str) -> list[dict[str, Any]]:
    """Accuracy (binomial error) and AUC (bootstrap error) of the expected scores."""
    n = len(jets)
    source = f"the bundle's validation sample ({origin})"
    acc = accuracy(scores, jets.labels)
    out = [_metric("accuracy", acc, _binomial_se(acc, n), n, source,
                   f"binomial standard error; {FILE_CHECK_NOTE}", FILE_CHECK)]
    if len(np.unique(jets.labels)) < 2:
        out.append(_metric("auc", None, None, n, source, "undefined: the sample holds one class",
                           FILE_CHECK))
        return out
    rng = np.random.default_rng(BOOTSTRAP_SEED)
    draws = []
    for _ in range(BOOTSTRAP_RESAMPLES):
        idx = rng.integers(0, n, n)
        if len(np.unique(jets.labels[idx])) == 2:
            draws.append(auc(scores[idx], jets.labels[idx]))
    spread = float(np.std(draws, ddof=1)) if len(draws) > 1 else None
    out.append(_metric("auc", auc(scores, jets.labels), spread, n, source,
                       f"bootstrap standard error ({BOOTSTRAP_RESAMPLES} resamples, seed "
                       f"{BOOTSTRAP_SEED}); {FILE_CHECK_NOTE}", FILE_CHECK))
    return out
