"""pytest-benchmark benchmarks: collected only with ``--benchmark-enable`` (``make benchmark``)
or ``FAIRHEP_BENCHMARKS=1``, so the default test run never pays for them."""

from __future__ import annotations

import os
from pathlib import Path

import pytest


def pytest_ignore_collect(collection_path: Path, config: pytest.Config) -> bool | None:
    if config.getoption("benchmark_enable", default=False) or os.environ.get(
        "FAIRHEP_BENCHMARKS"
    ) == "1":
        return None
    return collection_path.name.startswith("test_") and collection_path.suffix == ".py"
