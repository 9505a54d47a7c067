"""Speed of the data layer: synthetic generation (target >= 100k jets/s on 2 cores) and
ROOT conversion. Run with ``make benchmark``; jets/s go into ``extra_info``."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from data_helpers import write_tiny_ntuple
from fairhep.data.convert import convert
from fairhep.data.synth import (
    BLOCK_JETS,
    block_rng,
    default_workers,
    generate_jets,
    iter_file_blocks,
)

pytestmark = pytest.mark.benchmark_suite


def test_generate_block(benchmark) -> None:
    rng = block_rng(0, 0, 0)
    buffer = np.empty(BLOCK_JETS * 30 * 60, np.float32)
    benchmark(generate_jets, BLOCK_JETS, rng, 0.02, buffer)
    benchmark.extra_info["jets_per_s"] = BLOCK_JETS / benchmark.stats.stats.median


def test_generate_file_threaded(benchmark) -> None:
    n = 16 * BLOCK_JETS

    def run() -> None:
        for _ in iter_file_blocks(0, 0, n, 0.02, workers=default_workers()):
            pass

    benchmark.pedantic(run, rounds=3)
    benchmark.extra_info["jets_per_s"] = n / benchmark.stats.stats.median
    benchmark.extra_info["workers"] = default_workers()


def test_convert(benchmark, tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    n = 5000
    root = write_tiny_ntuple(tmp_path / "ntuple.root", rng.poisson(20, n), rng.poisson(1.2, n),
                             rng.choice([0, 1], n)).path
    counter = iter(range(1000))
    benchmark.pedantic(lambda: convert([root], tmp_path / f"out{next(counter)}"), rounds=3)
    benchmark.extra_info["entries_per_s"] = n / benchmark.stats.stats.median
