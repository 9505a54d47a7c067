"""Reading a dataset a slice at a time, for inference: memory bounded by the batch, not by a
file (a full-size file holds ~100k jets, ~780 MB).

:func:`iter_slices` yields the batches ``iter_batches(files, batch_size, subsets=subsets)``
yields (same jets, same order, no shuffling), but reads each from the HDF5 file on its own.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path

import numpy as np

from fairhep.data import load
from fairhep.data.arrays import IntArray
from fairhep.data.load import JetArrays


def iter_slices(files: Sequence[Path], batch_size: int,
                subsets: Mapping[Path, IntArray] | None = None) -> Iterator[JetArrays]:
    """Unshuffled batches of at most ``batch_size`` jets, each read from disk by itself."""
    if batch_size < 1:
        raise ValueError(f"batch size must be positive, got {batch_size}")
    for f in files:
        subset = None if subsets is None else subsets.get(f)
        if subset is None:
            n = load.n_jets(f)
            for start in range(0, n, batch_size):
                yield load.read_file(f, start, min(n, start + batch_size))
            continue
        rows = np.asarray(subset)
        for start in range(0, len(rows), batch_size):
            sel = rows[start:start + batch_size]
            lo = int(sel[0])
            yield load.read_file(f, lo, int(sel[-1]) + 1).slice(sel - lo)
