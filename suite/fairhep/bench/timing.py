"""Timing inference batches the way the paper's Table 8 and Figure 4 count time.

One timed interval = one :meth:`Backend.predict` call: host→device copy, inference,
device→host copy of the scores. ``predict`` returns host arrays, so any GPU work is finished
(synchronised) when the clock stops. Warm-up batches (allocator growth, kernel selection,
lazy initialisation) run first and are never timed.

Every timed batch is a full one: when the jets do not divide into batches (100 jets at batch
128), the last batch is filled by cycling back to the first jets, so "time per batch @128"
always means 128 jets. Each jet's score comes from its first appearance. Inputs are laid out
as the backend wants them (:meth:`Backend.host_arrays`: pinned memory on a GPU) block by
block before their batches are timed, so the copies into that memory are never timed and
pinned memory stays bounded.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass

import numpy as np

from fairhep.backends import Backend

BLOCK_JETS = 8192  # jets laid out in the backend's host memory at a time


@dataclass
class BatchTimes:
    """Per-batch wall times (seconds) of one pass, and the scores it produced."""

    times_s: np.ndarray
    scores: np.ndarray  # (N, 2), in input order
    batch_size: int

    @property
    def n_jets(self) -> int:
        return len(self.scores)

    def summary(self) -> dict[str, float | int | bool]:
        """Median and 5th/95th percentiles per batch (the record's time_per_batch entry)."""
        t = self.times_s
        return {
            "median_s": float(np.median(t)),
            "p5_s": float(np.percentile(t, 5)),
            "p95_s": float(np.percentile(t, 95)),
            "mean_s": float(np.mean(t)),
            "n_batches": len(t),
            "n_jets": self.n_jets,  # distinct jets scored
            "batch_size": self.batch_size,
            "jets_timed": len(t) * self.batch_size,  # full batches only: jets cycle to fill
            "full_batches": True,
        }


def batch_slices(n: int, batch_size: int) -> Iterator[slice]:
    for start in range(0, n, batch_size):
        yield slice(start, min(start + batch_size, n))


def _blocks(n: int, batch_size: int) -> Iterator[tuple[int, int]]:
    """(first batch, number of batches) per block of about BLOCK_JETS jets."""
    n_batches = math.ceil(n / batch_size)
    per_block = max(1, BLOCK_JETS // batch_size)
    for first in range(0, n_batches, per_block):
        yield first, min(per_block, n_batches - first)


def time_batches(
    backend: Backend,
    tracks: np.ndarray,
    svs: np.ndarray,
    batch_size: int,
    warmup: int = 3,
    on_batch: Callable[[int], None] | None = None,
) -> BatchTimes:
    """Run all jets through ``backend`` in full batches of ``batch_size`` (cycling through the
    jets to fill the last), timing every batch.

    The first ``warmup`` batches are run once untimed beforehand (their scores come from the
    timed pass like every other batch's). ``on_batch(n_jets)`` is called after each batch
    with the jets it scored for the first time (progress bars)."""
    n = len(tracks)
    times = np.empty(math.ceil(n / batch_size))
    scores = np.empty((n, 2), np.float32)
    clock = time.perf_counter
    for first, count in _blocks(n, batch_size):
        idx = (first * batch_size + np.arange(count * batch_size)) % n
        t_block, s_block = backend.host_arrays(tracks[idx], svs[idx])
        if first == 0:
            for j in range(min(warmup, count)):
                backend.predict(t_block[j * batch_size:(j + 1) * batch_size],
                                s_block[j * batch_size:(j + 1) * batch_size])
        for j in range(count):
            sl = slice(j * batch_size, (j + 1) * batch_size)
            t_in, s_in = t_block[sl], s_block[sl]
            t0 = clock()
            out = backend.predict(t_in, s_in)
            times[first + j] = clock() - t0
            start = (first + j) * batch_size
            fresh = min(batch_size, n - start)  # the rest of a last batch repeats jets
            scores[start:start + fresh] = out[:fresh]
            if on_batch is not None:
                on_batch(fresh)
    return BatchTimes(times, scores, batch_size)
