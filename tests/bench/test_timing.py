"""Per-batch timing (fairhep.bench.timing): every batch timed, scores kept in input order."""

from __future__ import annotations

import math

import numpy as np

from fairhep.backends import PreparedModel
from fairhep.backends.torch_backend import TorchBackend
from fairhep.bench.timing import time_batches
from fairhep.data.load import load_dataset


def test_time_batches_keeps_order_and_counts_batches(tiny_test_set, untrained_run, bench_cache):
    jets = load_dataset(tiny_test_set, max_jets=20)
    b = TorchBackend("cpu")
    b.prepare(PreparedModel(untrained_run, None, (1, 128), bench_cache))  # torch: no ONNX
    timed = time_batches(b, jets.tracks, jets.svs, 8, warmup=1)
    whole = b.predict(jets.tracks, jets.svs)
    np.testing.assert_allclose(timed.scores, whole, atol=1e-6)
    s = timed.summary()
    assert s["n_batches"] == math.ceil(20 / 8) == len(timed.times_s)
    assert s["n_jets"] == 20
    assert 0 < s["p5_s"] <= s["median_s"] <= s["p95_s"]


class _Recording(TorchBackend):
    """torch-cpu that remembers the size of every batch it was given."""

    def __init__(self) -> None:
        super().__init__("cpu")
        self.sizes: list[int] = []

    def predict(self, tracks: np.ndarray, svs: np.ndarray) -> np.ndarray:
        self.sizes.append(len(tracks))
        return super().predict(tracks, svs)


def test_only_full_batches_are_timed_cycling_through_the_jets(tiny_test_set, untrained_run,
                                                              bench_cache):
    jets = load_dataset(tiny_test_set, max_jets=20)
    b = _Recording()
    b.prepare(PreparedModel(untrained_run, None, (1, 128), bench_cache))
    timed = time_batches(b, jets.tracks, jets.svs, 128, warmup=1)  # 20 jets at batch 128
    assert b.sizes == [128, 128]  # warm-up, then one timed full batch: 20 jets cycled
    s = timed.summary()
    assert (s["n_batches"], s["n_jets"], s["jets_timed"], s["full_batches"]) == (1, 20, 128,
                                                                                  True)
    # Every jet's score is its own (from its first appearance in the cycled batch).
    np.testing.assert_allclose(timed.scores, b.predict(jets.tracks, jets.svs), atol=1e-6)
