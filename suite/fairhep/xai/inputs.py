"""What the paper's Figure 7 shows about the inputs behind the LRP scores: how strongly the SV
momentum and energy fractions correlate with the SV pT (the paper: 0.85), and the distribution
of the categorical ``track_quality`` per class (its peak at 0 is absent tracks)."""

from __future__ import annotations

from itertools import combinations
from typing import Any

import numpy as np

from fairhep import schema
from fairhep.data.load import JetArrays

CORRELATED_SV = ("sv_ptrel", "sv_erel", "sv_pt")  # Figure 7's correlated trio
PAPER_CORRELATION = 0.85  # §3.4.1: sv_ptrel and sv_erel each with sv_pt


def input_facts(jets: JetArrays) -> dict[str, Any]:
    """Pearson correlations of the trio over the SVs that exist (not the zero padding), and
    the fraction of track slots per ``track_quality`` value and class."""
    svs = jets.svs.transpose(0, 2, 1).reshape(-1, schema.N_SV_FEATURES).astype(np.float64)
    real = svs[np.any(svs != 0, axis=1)]
    cols = {f: real[:, schema.SV_FEATURES.index(f)] for f in CORRELATED_SV}
    pearson: dict[str, float | None] = {}
    for a, b in combinations(CORRELATED_SV, 2):
        ok = len(real) > 2 and cols[a].std() > 0 and cols[b].std() > 0
        pearson[f"{a}~{b}"] = float(np.corrcoef(cols[a], cols[b])[0, 1]) if ok else None
    quality = jets.tracks[:, schema.TRACK_FEATURES.index("track_quality"), :]
    values = sorted({float(v) for v in np.unique(quality)})
    per_class = {}
    for cls, name in enumerate(schema.CLASSES):
        q = quality[jets.labels == cls].ravel()
        per_class[name] = [float(np.mean(q == v)) if q.size else 0.0 for v in values]
    return {"n_real_svs": len(real), "pearson": pearson, "paper_pearson": PAPER_CORRELATION,
            "track_quality": {"values": values, **per_class}}
