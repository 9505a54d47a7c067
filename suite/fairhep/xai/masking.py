"""Feature masking (paper §3.4.1, Figure 5, Table 9) and the fidelity score (Eq. 1).

A feature is *masked* by setting it to zero for every track (or every SV) of every jet at
inference: zero is what the training data holds for absent tracks and SVs. Single-feature
masking gives each feature's ΔAUC = AUC(baseline) − AUC(masked) (positive: masking it hurts).
Multi-feature masking masks, at once, every feature whose single-feature |ΔAUC| is below a
threshold (in % of AUC), so the 0 % threshold masks nothing, as in the paper's first row.

A feature the model does not take (an ablated variant) is never masked: masking it changes
nothing by construction and it is not listed.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from fairhep import schema
from fairhep.data.arrays import FloatArray, IntArray
from fairhep.metrics import auc as auc_of_scores
from fairhep.model import InteractionNetwork
from fairhep.xai.jets import gathered_labels, hbb_scores, stream, to_tensors

# Table 9's thresholds on the single-feature AUC change, in % (of AUC, i.e. 0.01 % = 1e-4).
PAPER_THRESHOLDS_PCT: tuple[float, ...] = (0.0, 0.001, 0.005, 0.01, 0.05, 1.00)
TRACK, SV = "track", "sv"

Progress = Callable[[int], None]


def fidelity(scores_1: FloatArray, scores_2: FloatArray) -> float:
    """Eq. 1: F(M1, M2) = 1 − mean_i |ŷ¹_i − ŷ²_i| over the classifier scores."""
    a, b = np.asarray(scores_1, np.float64), np.asarray(scores_2, np.float64)
    if a.shape != b.shape or a.size == 0:
        raise ValueError(f"fidelity needs two equal, non-empty score arrays ({a.shape}, {b.shape})")
    return float(1.0 - np.mean(np.abs(a - b)))


def auc(hbb: FloatArray, labels: IntArray) -> float:
    """The AUC of H->bb scores (the suite's one AUC: :func:`fairhep.metrics.auc`)."""
    return auc_of_scores(np.stack([1.0 - hbb, hbb], axis=1), labels)


@dataclass(frozen=True)
class FeatureMask:
    """Track and SV features set to zero (names of :mod:`fairhep.schema`)."""

    tracks: tuple[str, ...] = ()
    svs: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        for names, known in ((self.tracks, schema.TRACK_FEATURES),
                             (self.svs, schema.SV_FEATURES)):
            unknown = [n for n in names if n not in known]
            if unknown:
                raise ValueError(f"unknown feature(s) to mask: {unknown}")

    def __bool__(self) -> bool:
        return bool(self.tracks or self.svs)

    def apply(self, tracks: torch.Tensor, svs: torch.Tensor
              ) -> tuple[torch.Tensor, torch.Tensor]:
        """Copies of the full schema arrays with the masked feature rows zeroed."""
        if self.tracks:
            tracks = tracks.clone()
            tracks[:, schema.feature_indices(schema.TRACK_FEATURES, self.tracks), :] = 0.0
        if self.svs:
            svs = svs.clone()
            svs[:, schema.feature_indices(schema.SV_FEATURES, self.svs), :] = 0.0
        return tracks, svs


def single_masks(net: InteractionNetwork) -> list[tuple[str, str, FeatureMask]]:
    """(group, feature, mask) for every input feature of the model, tracks then SVs."""
    c = net.config
    return ([(TRACK, f, FeatureMask(tracks=(f,))) for f in c.track_features]
            + [(SV, f, FeatureMask(svs=(f,))) for f in c.sv_features])


def masked_scores(net: InteractionNetwork, data_dir: Path, masks: Sequence[FeatureMask],
                  device: torch.device, batch_size: int = 1024, max_jets: int | None = None,
                  progress: Progress | None = None) -> tuple[list[FloatArray], IntArray]:
    """H->bb scores of the jets under each mask (an empty mask: the unmasked model), in one
    pass over the data, and the labels."""
    out: list[list[FloatArray]] = [[] for _ in masks]
    labels: list[IntArray] = []
    with torch.inference_mode():
        for jets in stream(data_dir, batch_size, max_jets):
            x, y = to_tensors(jets, device)
            for i, mask in enumerate(masks):
                out[i].append(hbb_scores(net, *mask.apply(x, y)).cpu().numpy())
            labels.append(jets.labels)
            if progress is not None:
                progress(len(jets))
    return [np.concatenate(s) for s in out], gathered_labels(data_dir, labels)


@dataclass(frozen=True)
class SingleFeature:
    group: str  # "track" or "sv"
    feature: str
    auc: float
    delta_auc: float  # AUC(baseline) − AUC(masked): positive when masking hurts
    fidelity: float

    @property
    def delta_auc_pct(self) -> float:
        return 100.0 * self.delta_auc


@dataclass(frozen=True)
class ThresholdRow:
    threshold_pct: float
    mask: FeatureMask
    auc: float
    fidelity: float


@dataclass(frozen=True)
class MaskStudy:
    baseline_auc: float
    n_jets: int
    singles: tuple[SingleFeature, ...]
    thresholds: tuple[ThresholdRow, ...]


def below_threshold(singles: Sequence[SingleFeature], threshold_pct: float) -> FeatureMask:
    """Every feature whose single-feature |ΔAUC| is below ``threshold_pct`` (%)."""
    weak = [s for s in singles if abs(s.delta_auc_pct) < threshold_pct]
    return FeatureMask(tracks=tuple(s.feature for s in weak if s.group == TRACK),
                       svs=tuple(s.feature for s in weak if s.group == SV))


def mask_study(net: InteractionNetwork, data_dir: Path, device: torch.device,
               thresholds_pct: Sequence[float] = PAPER_THRESHOLDS_PCT, batch_size: int = 1024,
               max_jets: int | None = None, progress: Progress | None = None) -> MaskStudy:
    """Figure 5 and Table 9 for one model on one dataset (two passes over the jets)."""
    net = net.eval()
    singles_spec = single_masks(net)
    scores, labels = masked_scores(net, data_dir, [FeatureMask()] + [m for *_, m in singles_spec],
                                   device, batch_size, max_jets, progress)
    base = scores[0]
    base_auc = auc(base, labels)
    singles = tuple(
        SingleFeature(group, feature, a := auc(s, labels), base_auc - a, fidelity(base, s))
        for (group, feature, _), s in zip(singles_spec, scores[1:], strict=True)
    )
    wanted = {t: below_threshold(singles, t) for t in thresholds_pct}
    distinct = list(dict.fromkeys(m for m in wanted.values() if m))
    multi: dict[FeatureMask, FloatArray] = {}
    if distinct:
        multi = dict(zip(distinct, masked_scores(net, data_dir, distinct, device, batch_size,
                                                 max_jets, progress)[0], strict=True))
    rows = tuple(
        ThresholdRow(t, m, auc(multi[m], labels) if m else base_auc,
                     fidelity(base, multi[m]) if m else 1.0)
        for t, m in wanted.items()
    )
    return MaskStudy(base_auc, len(labels), singles, rows)
