"""The fast engine as a backend: ``fast-cpu`` agrees with PyTorch CPU fp32 within the fp32
tolerance, is labelled as this suite's engine (not a paper framework), runs in ``bench
--frameworks``; ``fast-cuda`` is skipped with the CUDA reason where there is no GPU."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch

from fairhep.backends import TOLERANCE, PreparedModel, availability, select_backends
from fairhep.backends.fast_backend import FastBackend
from fairhep.backends.torch_backend import TorchBackend
from fairhep.cli import main
from fairhep.data.load import load_dataset
from fairhep.devices import cuda_unavailable_reason
from fairhep.errors import BackendUnavailable
from fairhep.results import load_records

pytestmark = pytest.mark.usefixtures("one_torch_thread")


@pytest.fixture(scope="module")
def prepared(untrained_run, bench_cache) -> PreparedModel:
    return PreparedModel(untrained_run, None, (1, 128), bench_cache)


def _agree_with_torch_cpu(backend: FastBackend, jets_dir, prepared, sizes) -> float:
    jets = load_dataset(jets_dir)
    ref = TorchBackend("cpu")
    ref.prepare(prepared)
    backend.prepare(prepared)
    worst = 0.0
    for n in sizes:  # batch 1, odd sizes, the whole set
        idx = np.arange(n) % len(jets)
        t, s = np.ascontiguousarray(jets.tracks[idx]), np.ascontiguousarray(jets.svs[idx])
        got = backend.predict(t, s)
        assert got.shape == (n, 2) and got.dtype == np.float32
        worst = max(worst, float(np.abs(got - ref.predict(t, s)).max()))
    backend.close()
    return worst


def test_fast_cpu_matches_torch_cpu_within_the_fp32_tolerance(tiny_test_set, prepared):
    assert _agree_with_torch_cpu(FastBackend("cpu"), tiny_test_set, prepared,
                                 (1, 37, 96)) <= TOLERANCE["fp32"]


def test_fast_backends_are_registered_and_labelled_as_the_suites_engine():
    labels = [b.label for b in select_backends(["fast"])]
    assert labels == ["fast-cpu", "fast-cuda"]
    cfg = FastBackend("cpu").config()
    assert cfg["paper_framework"] is False and "not a paper framework" in str(cfg["engine"])
    assert cfg["label"] == "fast-cpu" and cfg["precision"] == "fp32"
    assert availability()["fast-cpu"] is None
    if not torch.cuda.is_available():
        assert availability()["fast-cuda"] == cuda_unavailable_reason()
        with pytest.raises(BackendUnavailable, match=r"^CUDA: "):
            FastBackend("cuda").prepare(PreparedModel(Path("."), None))
    bf16 = FastBackend("cuda", "bf16")
    assert bf16.label == "fast-cuda-bf16" and bf16.tolerance == TOLERANCE["fp16"]
    assert bf16.config()["approximate"] is True
    with pytest.raises(ValueError, match="needs the cuda device"):
        FastBackend("cpu", "tf32")


def test_bench_frameworks_runs_the_fast_engine_beside_torch(tmp_path, tiny_test_set,
                                                           untrained_run, bench_cache):
    argv = ["bench", "--frameworks", "--backends", "torch-cpu,fast", "--data",
            str(tiny_test_set), "--run", str(untrained_run), "--results", str(tmp_path),
            "--cache-dir", str(bench_cache), "--max-jets", "24", "--no-report"]
    assert main(argv) == 0
    recs = {r.config["label"]: r for r in load_records(tmp_path, "bench.frameworks")}
    assert set(recs) == {"torch-cpu", "fast-cpu", "fast-cuda"}
    fast = recs["fast-cpu"]
    assert fast.status == "ok" and fast.metrics["parity_ok"]
    assert fast.metrics["max_abs_dscore"] <= TOLERANCE["fp32"]
    assert fast.config["paper_framework"] is False
    # What the engine ran with is in the record (the command's engine settings included).
    assert fast.config["engine_options"] == FastBackend("cpu")._options().to_dict()
    assert fast.config["engine_options"]["buckets"] is None  # the CPU's exact groups
    if not torch.cuda.is_available():
        assert recs["fast-cuda"].status == "skipped"


def test_engine_settings_passed_in_reach_the_record():
    from fairhep.backends import select_backends
    from fairhep.model.fast import EngineSettings

    settings = EngineSettings(memory_budget_mb=8, buckets=(20, 60), compile="none")
    config: dict[str, Any] = FastBackend("cpu", settings=settings).config()
    assert config["engine_options"]["memory_budget_mb"] == 8.0
    # Backends chosen by name (what the bench modes do) get the command's settings.
    cuda = select_backends(["fast-cuda"], engine=settings)[0]
    assert isinstance(cuda, FastBackend)
    assert cuda._options().to_dict()["buckets"] == [20, 60]
    assert cuda._options().compile is None and cuda._options().memory_budget_mb == 8.0


@pytest.mark.gpu
@pytest.mark.parametrize(("precision", "tolerance"), [("fp32", TOLERANCE["fp32"]),
                                                      ("tf32", TOLERANCE["fp16"]),
                                                      ("bf16", TOLERANCE["fp16"])])
def test_fast_cuda_matches_torch_cpu(precision, tolerance, tiny_test_set, prepared):
    worst = _agree_with_torch_cpu(FastBackend("cuda", precision), tiny_test_set, prepared,
                                  (1, 37, 96, 5000))
    assert worst <= tolerance
