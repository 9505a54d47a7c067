"""Shared pytest set-up: markers that skip slow and GPU tests on CI, small thread counts."""

from __future__ import annotations

import os

import pytest
import torch

# Two cores in CI: more torch threads only contend.
torch.set_num_threads(min(2, os.cpu_count() or 1))


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    run_slow = os.environ.get("FAIRHEP_SLOW") == "1"
    has_gpu = torch.cuda.is_available()
    for item in items:
        if "slow" in item.keywords and not run_slow:
            item.add_marker(pytest.mark.skip(reason="slow test: set FAIRHEP_SLOW=1 to run it"))
        if "gpu" in item.keywords and not has_gpu:
            item.add_marker(pytest.mark.skip(reason="needs a CUDA GPU: torch sees none"))


@pytest.fixture(scope="module")
def one_torch_thread():
    """One intra-op thread for a module of small trainings: on a busy 2-core box, OpenMP's
    spinning threads made a tiny IN ~30x slower than one thread (same results)."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)
