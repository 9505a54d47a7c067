"""Tiny but real CMS-style ROOT ntuples, written with uproot, for the converter tests.

The tree has the real branch names (from ``fairhep.schema``): per-jet scalars, and per-jet
variable-length track / SV lists stored as TTree jagged branches with a shared counter per
collection (``n_track``, ``n_trackBTag``, ``n_sv``), which is how uproot writes an awkward
record of lists. Values encode where they came from (jet, object position, feature), so a
test can tell exactly which slot each number landed in.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from fairhep import schema

# The ROOT converter needs uproot and awkward, which a stack may leave out (ppc64le-cuda: no
# awkward-cpp wheel, containers/stacks.toml [absent]): the test modules importing these
# helpers are skipped there, with this reason.
ak = pytest.importorskip("awkward", reason="awkward not installed: the ROOT converter is absent "
                         "from this environment (containers/stacks.toml [absent])")
uproot = pytest.importorskip("uproot", reason="uproot not installed: the ROOT converter is "
                             "absent from this environment (containers/stacks.toml [absent])")


@dataclass
class TinyNtuple:
    path: Path
    n_tracks: np.ndarray  # per jet
    n_svs: np.ndarray
    labels: np.ndarray  # 0 QCD, 1 Hbb, -1 neither
    jet_offset: int  # jet ids in this file are jet_offset + entry


def encoded(jet_id: np.ndarray, position: np.ndarray, feature: int) -> np.ndarray:
    """The value a (jet, position, feature) slot holds: unique, non-zero, exact in float32."""
    value = (jet_id + 1) * 1000 + position * 10 + feature % 10 + 0.25 * (feature // 10)
    return np.asarray(value, dtype=np.float32)


def _collections(names: tuple[str, ...]) -> dict[str, list[str]]:
    """``track_ptrel`` -> collection ``track``, field ``ptrel`` (how uproot names them)."""
    out: dict[str, list[str]] = {}
    for name in names:
        prefix, _, field = name.partition("_")
        out.setdefault(prefix, []).append(field)
    return out


def write_tiny_ntuple(path: Path, n_tracks: np.ndarray, n_svs: np.ndarray,
                      labels: np.ndarray, jet_offset: int = 0,
                      drop_branches: tuple[str, ...] = ()) -> TinyNtuple:
    n = len(labels)
    jet_id = jet_offset + np.arange(n)
    is_h = (labels == schema.HBB).astype(np.int32)
    is_qcd = (labels == schema.QCD).astype(np.int32)
    scalars: dict[str, np.ndarray] = {
        "sample_isQCD": is_qcd,  # QCD jets come from the QCD samples
        "fj_isQCD": is_qcd,
        "fj_isH": is_h,
    }
    for i, name in enumerate(schema.SPECTATORS):
        scalars[name] = (jet_id * 100 + i).astype(np.float32)
    branches: dict[str, Any] = dict(scalars)  # NumPy arrays and awkward records
    for names, counts in ((schema.TRACK_FEATURES, n_tracks), (schema.SV_FEATURES, n_svs)):
        jet = np.repeat(jet_id, counts)
        pos = np.concatenate([np.arange(c) for c in counts]) if counts.sum() else np.zeros(0, int)
        index = {name: i for i, name in enumerate(names)}
        for prefix, fields in _collections(names).items():
            branches[prefix] = ak.zip({
                f: ak.unflatten(encoded(jet, pos, index[f"{prefix}_{f}"]), counts)
                for f in fields
            })
    for name in drop_branches:
        prefix, _, field = name.partition("_")
        if name in branches:
            del branches[name]
        else:
            rec = branches[prefix]
            branches[prefix] = ak.zip({f: rec[f] for f in ak.fields(rec) if f != field})
    types = {k: (v.type.content if isinstance(v, ak.Array) else v.dtype)
             for k, v in branches.items()}
    with uproot.recreate(path) as f:
        tree = f.mktree(schema.ROOT_TREE, types, counter_name=lambda c: f"n_{c}")
        # Two baskets, so reading in steps crosses a basket boundary.
        half = n // 2
        for sl in (slice(0, half), slice(half, n)):
            tree.extend({k: v[sl] for k, v in branches.items()})
    return TinyNtuple(path, n_tracks, n_svs, labels, jet_offset)
