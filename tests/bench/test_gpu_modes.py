"""The portability modes on a GPU (`gpu`-marked: run by `pytest -m gpu`, e.g. tools/gpu-check):
GPU rows on their own provider with pinned host memory, TF32 forced off and fp32 parity at
1e-5; sweep points sized by time with NVML samples behind each one."""

from __future__ import annotations

import pytest

from fairhep.bench import frameworks, sweep
from fairhep.cli import main
from fairhep.gpu import nvml_unavailable_reason
from fairhep.results import load_records

pytestmark = pytest.mark.gpu


def _args(mode: str, results, tiny_test_set, untrained_run, bench_cache) -> list[str]:
    return ["bench", mode, "--data", str(tiny_test_set), "--run", str(untrained_run),
            "--results", str(results), "--cache-dir", str(bench_cache), "--no-report"]


def test_frameworks_gpu_rows_are_pinned_fp32_and_within_tolerance(tmp_path, tiny_test_set,
                                                                   untrained_run, bench_cache):
    assert main([*_args("--frameworks", tmp_path, tiny_test_set, untrained_run, bench_cache),
                 "--max-jets", "96"]) == 0
    gpu = [r for r in load_records(tmp_path, frameworks.KIND)
           if r.config["device"] == "cuda" and r.status == "ok"]
    assert gpu, "no GPU backend ran"
    for r in gpu:
        assert r.config["host_memory"] == "pinned", r.config
        assert r.metrics["time_per_batch"]["128"]["jets_timed"] == 128
        assert r.metrics["parity_ok"], (r.config["label"], r.metrics["max_abs_dscore"])
        if r.config["label"] == "onnxruntime-tensorrt-ep":
            assert r.config["tf32"]["enabled"] is (r.config["precision"] == "tf32")


@pytest.mark.skipif(nvml_unavailable_reason() is not None, reason="needs NVML")
def test_sweep_points_last_long_enough_for_nvml(tmp_path, tiny_test_set, untrained_run,
                                                 bench_cache):
    assert main([*_args("--batch-sweep", tmp_path, tiny_test_set, untrained_run, bench_cache),
                 "--backends", "torch-cuda", "--batch-sizes", "128,1024", "--repeats", "2",
                 "--repeat-seconds", "0.5"]) == 0
    (rec,) = [r for r in load_records(tmp_path, sweep.KIND) if r.status == "ok"]
    assert rec.metrics["nvml"]["available"], rec.metrics["nvml"]
    for p in rec.metrics["points"]:
        assert p["time_s"] >= 0.5 and p["nvml_samples"] >= 5, p  # 20 Hz over >= 0.5 s
        assert 0 <= p["gpu_util_pct"] <= 100
    assert rec.metrics["min_nvml_samples_per_point"] >= 5
