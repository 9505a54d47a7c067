"""Timing inference batches the way the paper's Table 8 and Figure 4 count time.

One timed interval = one :meth:`Backend.predict` call: host→device copy, inference,
device→host copy of the scores. ``predict`` returns host arrays, so any GPU work is finished
(synchronised) when the clock stops. Warm-up batches (allocator growth, kernel selection,
lazy initialisation) run first and are never timed.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass

import numpy as np

from fairhep.backends import Backend


@dataclass
class BatchTimes:
    """Per-batch wall times (seconds) of one pass, and the scores it produced."""

    times_s: np.ndarray
    scores: np.ndarray  # (N, 2), in input order
    batch_size: int

    @property
    def n_jets(self) -> int:
        return len(self.scores)

    def summary(self) -> dict[str, float | int]:
        """Median and 5th/95th percentiles per batch (the record's time_per_batch entry)."""
        t = self.times_s
        return {
            "median_s": float(np.median(t)),
            "p5_s": float(np.percentile(t, 5)),
            "p95_s": float(np.percentile(t, 95)),
            "mean_s": float(np.mean(t)),
            "n_batches": len(t),
            "n_jets": self.n_jets,
        }


def batch_slices(n: int, batch_size: int) -> Iterator[slice]:
    for start in range(0, n, batch_size):
        yield slice(start, min(start + batch_size, n))


def time_batches(
    backend: Backend,
    tracks: np.ndarray,
    svs: np.ndarray,
    batch_size: int,
    warmup: int = 3,
    on_batch: Callable[[int], None] | None = None,
) -> BatchTimes:
    """Run all jets through ``backend`` in batches of ``batch_size``, timing every batch.

    The first ``warmup`` batches are run once untimed beforehand (their scores come from the
    timed pass like every other batch's). ``on_batch(n_jets)`` is called after each batch
    (progress bars)."""
    n = len(tracks)
    slices = list(batch_slices(n, batch_size))
    for sl in slices[:warmup]:
        backend.predict(tracks[sl], svs[sl])
    times = np.empty(len(slices))
    scores = np.empty((n, 2), np.float32)
    clock = time.perf_counter
    for i, sl in enumerate(slices):
        t_in, s_in = tracks[sl], svs[sl]
        t0 = clock()
        out = backend.predict(t_in, s_in)
        times[i] = clock() - t0
        scores[sl] = out
        if on_batch is not None:
            on_batch(sl.stop - sl.start)
    return BatchTimes(times, scores, batch_size)
