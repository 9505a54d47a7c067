"""The input facts behind Figure 7: SV correlations over real SVs, track_quality per class."""

from __future__ import annotations

import numpy as np
import pytest

from fairhep import schema
from fairhep.data.load import JetArrays
from fairhep.xai.inputs import input_facts


def test_correlations_use_only_real_svs_and_track_quality_is_counted_per_class() -> None:
    rng = np.random.default_rng(0)
    n = 40
    tracks = np.zeros((n, *schema.TRACK_SHAPE), np.float32)
    svs = np.zeros((n, *schema.SV_SHAPE), np.float32)
    ptrel = rng.uniform(0.1, 1.0, n).astype(np.float32)
    svs[:, schema.SV_FEATURES.index("sv_ptrel"), 0] = ptrel
    svs[:, schema.SV_FEATURES.index("sv_pt"), 0] = 3 * ptrel + 1  # perfectly correlated
    svs[:, schema.SV_FEATURES.index("sv_erel"), 0] = -ptrel  # perfectly anti-correlated
    labels = np.array([0, 1] * (n // 2), np.int64)
    tracks[labels == 1, schema.TRACK_FEATURES.index("track_quality"), :10] = 7.0
    facts = input_facts(JetArrays(tracks, svs, labels))
    assert facts["n_real_svs"] == n  # the 4 padded SV slots of each jet are left out
    p = facts["pearson"]
    assert p["sv_ptrel~sv_pt"] == pytest.approx(1.0)
    assert p["sv_erel~sv_pt"] == pytest.approx(-1.0) and p["sv_ptrel~sv_erel"] == pytest.approx(-1)
    q = facts["track_quality"]
    assert q["values"] == [0.0, 7.0]
    assert q["QCD"] == [1.0, 0.0] and q["Hbb"] == pytest.approx([50 / 60, 10 / 60])
