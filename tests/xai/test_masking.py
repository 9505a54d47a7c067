"""Feature masking and fidelity (paper Figure 5, Table 9, Eq. 1)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from fairhep import schema
from fairhep.model import InteractionNetwork, ModelConfig
from fairhep.xai import PAPER_THRESHOLDS_PCT, FeatureMask, fidelity, mask_study
from fairhep.xai.masking import MaskStudy, SingleFeature, below_threshold

CPU = torch.device("cpu")
pytestmark = pytest.mark.usefixtures("one_torch_thread")
JETS = 40  # 45 forward passes each: enough for two classes, cheap on 2 cores


@pytest.fixture(scope="module")
def zeroed_study(tiny_net: InteractionNetwork, zeroed_test_set: tuple[Path, str]
                 ) -> tuple[MaskStudy, str]:
    data, feature = zeroed_test_set
    return mask_study(tiny_net, data, CPU, batch_size=16, max_jets=JETS), feature


def test_fidelity_is_one_minus_the_mean_absolute_score_difference() -> None:
    assert fidelity(np.array([0.0, 1.0, 0.5]), np.array([0.0, 1.0, 0.5])) == 1.0
    assert fidelity(np.array([0.0, 1.0]), np.array([0.5, 0.5])) == pytest.approx(0.5)
    assert fidelity(np.array([0.2, 0.9, 0.4, 0.6]),
                    np.array([0.3, 0.7, 0.4, 0.2])) == pytest.approx(1 - 0.7 / 4)
    with pytest.raises(ValueError, match="equal"):
        fidelity(np.zeros(3), np.zeros(2))


def test_a_mask_zeroes_its_feature_rows_and_nothing_else() -> None:
    x, y = torch.rand(3, 30, 60) + 1, torch.rand(3, 14, 5) + 1
    mx, my = FeatureMask(tracks=("track_erel", "track_dz"), svs=("sv_pt",)).apply(x, y)
    zero_t = [schema.TRACK_FEATURES.index(f) for f in ("track_erel", "track_dz")]
    assert (mx[:, zero_t] == 0).all() and (my[:, schema.SV_FEATURES.index("sv_pt")] == 0).all()
    keep_t = [i for i in range(30) if i not in zero_t]
    assert torch.equal(mx[:, keep_t], x[:, keep_t]) and (x > 0).all()  # inputs untouched
    assert my.count_nonzero() == 3 * 13 * 5
    with pytest.raises(ValueError, match="unknown"):
        FeatureMask(svs=("track_erel",))
    # Masking an SV feature masks SVs only (the public helper's 'mask vertices' masked tracks).
    sx, sy = FeatureMask(svs=("sv_erel",)).apply(x, y)
    assert sx is x and (sy[:, schema.SV_FEATURES.index("sv_erel")] == 0).all()


def test_masking_a_feature_that_is_zero_in_every_jet_changes_nothing(
        zeroed_study: tuple[MaskStudy, str]) -> None:
    study, feature = zeroed_study
    zeroed = next(s for s in study.singles if s.feature == feature)
    assert zeroed.delta_auc == 0.0 and zeroed.fidelity == 1.0  # exactly
    # ... while masking a feature the jets do carry changes the scores.
    assert min(s.fidelity for s in study.singles) < 1.0
    assert len(study.singles) == 30 + 14 and study.n_jets == JETS
    assert [s.group for s in study.singles] == ["track"] * 30 + ["sv"] * 14


def test_thresholds_mask_every_feature_below_them_and_zero_masks_nothing(
        zeroed_study: tuple[MaskStudy, str]) -> None:
    study, _ = zeroed_study
    rows = {r.threshold_pct: r for r in study.thresholds}
    assert list(rows) == list(PAPER_THRESHOLDS_PCT)
    zero = rows[0.0]
    assert not zero.mask and zero.auc == study.baseline_auc and zero.fidelity == 1.0
    previous: set[str] = set()
    for t, r in rows.items():
        masked = set(r.mask.tracks) | set(r.mask.svs)
        expected = {s.feature for s in study.singles if abs(s.delta_auc_pct) < t}
        assert masked == expected and previous <= masked
        previous = masked
        assert 0.0 <= r.fidelity <= 1.0 and 0.0 <= r.auc <= 1.0


def test_below_threshold_compares_the_absolute_auc_change_in_percent() -> None:
    singles = [SingleFeature("track", "track_dz", 0.9, 5e-6, 1.0),  # 0.0005 %
               SingleFeature("track", "track_dxy", 0.9, -2e-5, 1.0),  # masking helped: 0.002 %
               SingleFeature("sv", "sv_pt", 0.9, 3e-3, 0.9)]  # 0.3 %
    assert below_threshold(singles, 0.001) == FeatureMask(tracks=("track_dz",))
    assert below_threshold(singles, 0.005) == FeatureMask(tracks=("track_dz", "track_dxy"))
    assert below_threshold(singles, 1.0) == FeatureMask(("track_dz", "track_dxy"), ("sv_pt",))
    assert not below_threshold(singles, 0.0)


def test_an_ablated_model_is_masked_only_on_the_features_it_takes(tiny_test_set: Path) -> None:
    torch.manual_seed(0)
    net = InteractionNetwork(ModelConfig.ablated(12, 5, hidden=6, de=3, do=3)).eval()
    study = mask_study(net, tiny_test_set, CPU, thresholds_pct=(0.0, 100.0), max_jets=12)
    assert [s.feature for s in study.singles] == [*net.config.track_features,
                                                  *net.config.sv_features]
    assert len(study.singles) == 18 + 9
    everything = study.thresholds[-1].mask
    assert everything.tracks == net.config.track_features
