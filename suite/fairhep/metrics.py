"""The classifier metrics every part of the suite reports: the paper's accuracy, and the
ROC curve and its area from scikit-learn.

Accuracy is the paper's (Table 8): a jet is called QCD when ``score[:, 0] >= 0.5`` and
compared with the QCD column of the target. The AUC is ``roc_auc_score`` on the H->bb score
(the original computed it on the QCD column, which gives the same number).
"""

from __future__ import annotations

from typing import TypedDict

import numpy as np
from sklearn.metrics import roc_auc_score, roc_curve

from fairhep import schema
from fairhep.data.arrays import FloatArray, IntArray

MAX_ROC_POINTS = 200


class RocPoints(TypedDict):
    """False and true positive rates of H->bb, as lists (JSON records carry them)."""

    fpr: list[float]
    tpr: list[float]


def accuracy(scores: FloatArray, labels: IntArray) -> float:
    """The paper's accuracy: QCD when ``score[:, 0] >= 0.5``, against the QCD label."""
    return float(np.mean((scores[:, schema.QCD] >= 0.5) == (labels == schema.QCD)))


def auc(scores: FloatArray, labels: IntArray) -> float:
    """ROC AUC of the H->bb score; NaN when only one class is present (AUC undefined).

    Never put that NaN into a record: use :func:`defined_auc` and say why it is missing."""
    if len(np.unique(labels)) < 2:
        return float("nan")
    return float(roc_auc_score(labels == schema.HBB, scores[:, schema.HBB]))


def undefined_auc_reason(labels: IntArray) -> str | None:
    """Why the AUC of jets with these labels is undefined (None when it is defined)."""
    present = np.unique(labels)
    if len(present) >= 2:
        return None
    if not len(present):
        return "no jets"
    return (f"only {schema.CLASSES[int(present[0])]} jets ({len(labels)}): the AUC needs jets "
            "of both classes")


def defined_auc(scores: FloatArray, labels: IntArray) -> tuple[float | None, str | None]:
    """``(AUC, None)``, or ``(None, reason)`` when one class is absent: an explicit null."""
    reason = undefined_auc_reason(labels)
    return (None, reason) if reason else (auc(scores, labels), None)


def roc_points(
    scores: FloatArray, labels: IntArray, max_points: int = MAX_ROC_POINTS
) -> RocPoints:
    """The ROC curve (false/true positive rate for H->bb), thinned to at most ``max_points``
    points with both ends kept."""
    if len(np.unique(labels)) < 2:
        return RocPoints(fpr=[], tpr=[])
    fpr, tpr, _ = roc_curve(labels == schema.HBB, scores[:, schema.HBB])
    if len(fpr) > max_points:
        keep = np.unique(np.linspace(0, len(fpr) - 1, max_points).round().astype(int))
        fpr, tpr = fpr[keep], tpr[keep]
    return RocPoints(fpr=[float(v) for v in fpr], tpr=[float(v) for v in tpr])
