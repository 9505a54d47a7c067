"""Variable-length per-jet lists (tracks, SVs) into the fixed, zero-padded network layout.

Shared by the converter (ntuple order kept) and the synthetic generator (which sorts first),
so the cut-and-pad convention lives in one place.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from fairhep.data.arrays import Float32Array, Int64Array, IntArray


def positions(counts: IntArray) -> tuple[Int64Array, Int64Array]:
    """For flat per-object rows grouped by jet: each row's jet index and position in its jet."""
    counts = np.asarray(counts, np.int64)
    jet = np.repeat(np.arange(len(counts)), counts)
    start = np.cumsum(counts) - counts
    return jet, np.arange(len(jet)) - start[jet]


def pad(values: Sequence[Float32Array], jet: Int64Array, slot: Int64Array, n_jets: int,
        n_max: int, out: Float32Array | None = None) -> Float32Array:
    """``(n_jets, len(values), n_max)`` float32, channels first: row ``i`` of every feature
    array goes to ``[jet[i], :, slot[i]]``; slots >= ``n_max`` are cut, the rest stays zero.

    ``out`` (C-contiguous float32 of at least that size) is reused when given: a fresh array
    of this size costs page faults that are dearer than the whole scatter (under gVisor).
    """
    n_feat = len(values)
    shape = (n_jets, n_feat, n_max)
    if out is None:
        out = np.zeros(shape, np.float32)
    else:
        out = out.reshape(-1)[: n_jets * n_feat * n_max].reshape(shape)
        out.fill(0)
    keep = slot < n_max
    cut = not keep.all()
    dest = jet * (n_feat * n_max) + slot
    if cut:
        dest = dest[keep]
    flat = out.reshape(-1)
    for i, v in enumerate(values):
        flat[dest + i * n_max] = v[keep] if cut else v
    return out
