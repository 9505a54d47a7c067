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
