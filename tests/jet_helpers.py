"""Generated jets for the engine tests: any number of real tracks in random slots; and the
generator tests' feature indices and real-slot masks."""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
import torch

from fairhep import schema

if TYPE_CHECKING:
    from fairhep.data.load import JetArrays

TRK = {name: i for i, name in enumerate(schema.TRACK_FEATURES)}
SV = {name: i for i, name in enumerate(schema.SV_FEATURES)}


def real_slots(j: JetArrays) -> tuple[np.ndarray, np.ndarray]:
    """(jets, tracks) and (jets, SVs) masks of the generated jets' real slots."""
    return j.tracks[:, TRK["track_ptrel"], :] > 0, j.svs[:, SV["sv_pt"], :] > 0


def random_jets(n_jets: int, seed: int, n_tracks: int = 60, n_svs: int = 5,
                counts: list[int] | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """Jets with a random number of real tracks (or ``counts``) in random slots, and 0…5 real
    SVs in random slots; every other slot exactly zero (generated test data)."""
    g = torch.Generator().manual_seed(seed)
    tracks = torch.zeros(n_jets, 30, n_tracks)
    svs = torch.zeros(n_jets, 14, n_svs)
    for i in range(n_jets):
        n = counts[i] if counts else int(torch.randint(0, n_tracks + 1, (1,), generator=g))
        slots = torch.randperm(n_tracks, generator=g)[:n]
        tracks[i][:, slots] = torch.randn(30, n, generator=g)
        nv = int(torch.randint(0, n_svs + 1, (1,), generator=g))
        svs[i][:, torch.randperm(n_svs, generator=g)[:nv]] = torch.randn(14, nv, generator=g)
    return tracks, svs
