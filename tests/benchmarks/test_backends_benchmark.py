"""Inference time of every backend on fixed batches (batch 1 and 128 of synthetic jets).

Run with ``make benchmark`` (writes results/benchmarks.json); backends absent here are
skipped with their reason. Each round is one ``Backend.predict``: host->device copy,
inference, device->host copy, as in ``bench --frameworks``, from the host memory the bench
gives each backend (pinned on a GPU; ``extra_info.host_memory`` says which).
"""

from __future__ import annotations

import numpy as np
import pytest

from fairhep.backends import PreparedModel, all_backends
from fairhep.data.load import load_dataset

pytestmark = pytest.mark.benchmark_suite

BACKENDS = {b.label: b for b in all_backends()}


@pytest.fixture(scope="module")
def jets(tiny_test_set):
    return load_dataset(tiny_test_set)


@pytest.fixture(scope="module", params=list(BACKENDS))
def backend(request, untrained_run, bench_cache):
    b = BACKENDS[request.param]
    reason = b.available()
    if reason:
        pytest.skip(reason)
    # The export only when a backend needs it (asked for lazily: torch alone needs none).
    onnx = request.getfixturevalue("onnx_export") if b.needs_onnx else None
    b.use_host_memory("auto")
    b.prepare(PreparedModel(untrained_run, onnx, (1, 128), bench_cache))
    yield b
    b.close()


@pytest.mark.parametrize("batch_size", [1, 128])
def test_predict(benchmark, backend, jets, batch_size):
    idx = np.arange(batch_size) % len(jets)  # a full batch even from a small test set
    tracks, svs = backend.host_arrays(jets.tracks[idx], jets.svs[idx])
    n = batch_size
    benchmark.group = f"batch {batch_size}"
    benchmark.extra_info.update(backend=backend.label, provider=backend.provider,
                                precision=backend.precision, batch_size=n,
                                host_memory=backend.host_memory)
    backend.predict(tracks, svs)  # warm-up, not timed
    scores = benchmark.pedantic(backend.predict, args=(tracks, svs), rounds=10,
                                warmup_rounds=1)
    assert scores.shape == (n, 2)
