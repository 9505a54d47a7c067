"""The re-optimised INs of Table 10 (paper §3.4.2) and what the table says about each.

The ablated models drop the paper's 12 track and 5 SV features (sv_ptrel, sv_erel,
track_quality and those with a single-feature ΔAUC < 0.01 %: :data:`fairhep.schema.
ABLATION_DROPPED_TRACK_FEATURES`) and shrink h / D_E / D_O. A Table 10 row is the model's AUC
on the test jets, its fidelity (Eq. 1) against the baseline on the same jets, and its sparsity
(fraction of neurons with RNA < 0.2) on a sample of each class.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import torch

from fairhep.model import InteractionNetwork, ModelConfig
from fairhep.xai.activity import ActivityStudy, activity_study
from fairhep.xai.jets import class_sample, scores_and_labels
from fairhep.xai.masking import auc, fidelity


@dataclass(frozen=True)
class Variant:
    """The sizes of one re-optimised IN."""

    hidden: int
    de: int
    do: int

    @property
    def label(self) -> str:
        return f"h{self.hidden}-de{self.de}-do{self.do}"


# Table 10's three variants (8,498 / 7,178 / 2,842 parameters) and the features they drop.
PAPER_VARIANTS: tuple[Variant, ...] = (Variant(32, 16, 16), Variant(32, 8, 8), Variant(16, 8, 8))
PAPER_DROPPED = (12, 5)


def variant_config(variant: Variant, drop_track_features: int = PAPER_DROPPED[0],
                   drop_sv_features: int = PAPER_DROPPED[1]) -> ModelConfig:
    return ModelConfig.ablated(drop_track_features, drop_sv_features, hidden=variant.hidden,
                               de=variant.de, do=variant.do)


@dataclass(frozen=True)
class AblationRow:
    parameters: int
    auc: float
    fidelity: float  # against the baseline, on the same jets
    n_jets: int
    activity: ActivityStudy

    @property
    def sparsity(self) -> float:
        return self.activity.sparsity["all"]


def ablation_row(net: InteractionNetwork, baseline: InteractionNetwork, data_dir: Path,
                 device: torch.device, per_class: int, batch_size: int = 1024,
                 max_jets: int | None = None) -> AblationRow:
    """Table 10's numbers for ``net`` (the baseline itself gives fidelity 1)."""
    net, baseline = net.eval().to(device), baseline.eval().to(device)
    nets = [net] if baseline is net else [net, baseline]
    out, labels = scores_and_labels(nets, data_dir, device, batch_size, max_jets)
    scores, base = out[0], out[-1]
    activity = activity_study(net, class_sample(data_dir, per_class), device)
    return AblationRow(net.n_parameters(), auc(scores, labels), fidelity(base, scores),
                       len(labels), activity)
