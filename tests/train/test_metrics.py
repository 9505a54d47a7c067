"""The classifier metrics (:mod:`fairhep.metrics`) on numbers small enough to check by hand,
and the ROC thinning on a large sample."""

from __future__ import annotations

import math

import numpy as np
import pytest
from sklearn.metrics import auc as sklearn_auc  # the trapezoid area of a curve

from fairhep.metrics import accuracy, auc, roc_points


def _scores(hbb: list[float]) -> np.ndarray:
    """(N, 2) softmax-like scores from the H->bb column."""
    s1 = np.array(hbb)
    return np.stack([1 - s1, s1], axis=1)


def test_accuracy_calls_qcd_at_half_on_the_qcd_column() -> None:
    scores = np.array([[0.9, 0.1], [0.4, 0.6], [0.5, 0.5], [0.2, 0.8]])
    # Called QCD (score[:, 0] >= 0.5): yes, no, yes (the tie), no; truly QCD: yes, no, no, yes.
    assert accuracy(scores, np.array([0, 1, 1, 0])) == 0.5
    assert accuracy(scores.astype(np.float32), np.array([0, 1, 0, 1])) == 1.0


def test_auc_and_roc_of_a_four_jet_sample() -> None:
    # scikit-learn's documented example: one of the four signal/background pairs is misordered.
    scores, labels = _scores([0.1, 0.4, 0.35, 0.8]), np.array([0, 0, 1, 1])
    assert auc(scores, labels) == 0.75
    assert roc_points(scores, labels) == {"fpr": [0.0, 0.0, 0.5, 0.5, 1.0],
                                          "tpr": [0.0, 0.5, 0.5, 1.0, 1.0]}
    # Thinned to three points, both ends kept.
    assert roc_points(scores, labels, max_points=3) == {"fpr": [0.0, 0.5, 1.0],
                                                        "tpr": [0.0, 0.5, 1.0]}


def test_one_class_has_no_auc_and_no_roc() -> None:
    scores, labels = _scores([0.2, 0.7]), np.array([1, 1])
    assert math.isnan(auc(scores, labels))
    assert roc_points(scores, labels) == {"fpr": [], "tpr": []}


def test_roc_points_are_a_thinned_monotone_curve():
    rng = np.random.default_rng(0)
    labels = rng.integers(0, 2, 5000)
    s1 = np.clip(rng.normal(0.3 + 0.4 * labels, 0.2), 0, 1)
    scores = np.stack([1 - s1, s1], axis=1)
    roc = roc_points(scores, labels)
    fpr, tpr = np.array(roc["fpr"]), np.array(roc["tpr"])
    assert 50 < len(fpr) <= 200
    assert (fpr[0], tpr[0]) == (0.0, 0.0) and (fpr[-1], tpr[-1]) == (1.0, 1.0)
    assert np.all(np.diff(fpr) >= 0) and np.all(np.diff(tpr) >= 0)
    # The trapezoid area of the thinned curve stays close to the exact AUC.
    assert sklearn_auc(fpr, tpr) == pytest.approx(auc(scores, labels), abs=2e-3)
    assert accuracy(scores, labels) == pytest.approx(np.mean((s1 <= 0.5) == (labels == 0)))
