"""One rank's share of the streamed training batches, for a training over several processes.

Every rank draws the same order as :func:`fairhep.data.load.iter_batches` with the same
generator (file order, then jets within each file), so the *global* batches are those of one
process; rank ``r`` of ``W`` keeps the ``r``-th of ``W`` consecutive pieces of each global batch
and reads only the rows of its pieces (one file at a time, as the streamed path does). With the
gradients averaged over ranks and each rank's loss scaled by ``W / global batch size``, one
epoch gives the weights of one process up to float summation order.

A short last batch of a file may leave a rank with no jet (fewer jets than ranks): it then
gets one jet of the batch with weight 0, so that it still runs its forward and backward pass
(every rank of a DistributedDataParallel step must) without changing the gradient.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from fairhep.data import load
from fairhep.data.arrays import IntArray
from fairhep.data.load import JetArrays


@dataclass(frozen=True)
class ShardBatch:
    """This rank's piece of one global batch."""

    jets: JetArrays
    weight: float  # 1, or 0 for the stand-in jet of an empty piece
    global_size: int  # jets in the global batch (over all ranks)

    def __len__(self) -> int:
        return len(self.jets)


def _pieces(idx: IntArray, batch_size: int, rank: int, world: int
            ) -> Iterator[tuple[IntArray, int, float]]:
    """For each global batch of the permutation ``idx``: this rank's positions in it, the
    batch's size, the weight."""
    for start in range(0, len(idx), batch_size):
        batch = idx[start:start + batch_size]
        mine = np.array_split(batch, world)[rank]
        if len(mine):
            yield mine, len(batch), 1.0
        else:
            yield batch[:1], len(batch), 0.0


def shard_batches(files: Sequence[Path], batch_size: int, rng: np.random.Generator, rank: int,
                  world: int, subsets: Mapping[Path, IntArray] | None = None
                  ) -> Iterator[ShardBatch]:
    """Rank ``rank``'s pieces of ``iter_batches(files, batch_size, shuffle=True, rng=rng,
    subsets=subsets)``, in its order; ``rng`` must be seeded alike on every rank."""
    order = [files[i] for i in rng.permutation(len(files))]
    for f in order:
        subset = None if subsets is None else subsets.get(f)
        base = np.arange(load.n_jets(f)) if subset is None else np.asarray(subset)
        idx = rng.permutation(len(base))
        pieces = list(_pieces(idx, batch_size, rank, world))
        if not pieces:
            continue
        # The rows of all this rank's pieces of the file, read once, ascending.
        rows = np.unique(np.concatenate([p for p, _, _ in pieces]))
        jets = load.read_subset(f, base[rows])
        for positions, size, weight in pieces:
            yield ShardBatch(jets.slice(np.searchsorted(rows, positions)), weight, size)
