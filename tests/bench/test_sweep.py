"""``fairhep bench --batch-sweep`` end to end on a tiny grid (records, CSV, PNG), the grids
and batch construction."""

from __future__ import annotations

import csv
import shutil
from pathlib import Path

import numpy as np
import pytest

from fairhep.bench.sweep import (
    CPU_BATCH_SIZES,
    GPU_BATCH_SIZES,
    KIND,
    PAPER_CODE_BATCH_SIZES,
    sweep_batches,
)
from fairhep.cli import main
from fairhep.cli._values import int_list
from fairhep.data.load import load_dataset
from fairhep.data.manifest import sha256_file
from fairhep.export import cached_file_problem
from fairhep.gpu import nvml_unavailable_reason
from fairhep.model import ModelConfig, load_run_model
from fairhep.plots import SWEEP_CSV_COLUMNS
from fairhep.results import load_records

SIZES, REPEATS, MAX_JETS, REPEAT_S = (8, 16), 2, 24, 0.05


@pytest.fixture(scope="module")
def sweep(tmp_path_factory, tiny_test_set, untrained_run, bench_cache):
    results = tmp_path_factory.mktemp("sweep-results")
    rc = main(["bench", "--batch-sweep", "--backends", "torch,onnxruntime",
               "--batch-sizes", ",".join(map(str, SIZES)), "--repeats", str(REPEATS),
               "--max-jets", str(MAX_JETS), "--repeat-seconds", str(REPEAT_S),
               "--data", str(tiny_test_set),
               "--run", str(untrained_run), "--results", str(results),
               "--cache-dir", str(bench_cache), "--no-report"])
    return results, rc


def test_sweep_records_points_and_nvml_status(sweep):
    results, rc = sweep
    assert rc == 0
    records = load_records(results, KIND)
    assert {(r.config["backend"], r.config["provider"]) for r in records} == {
        ("torch", None), ("onnxruntime", "CPUExecutionProvider"),
        ("onnxruntime", "CUDAExecutionProvider"), ("onnxruntime", "TensorrtExecutionProvider")}
    ok = [r for r in records if r.status == "ok" and r.config["device"] == "cpu"]
    assert {r.config["backend"] for r in ok} == {"torch", "onnxruntime"}
    for r in ok:
        assert r.config["batch_sizes"] == list(SIZES) and r.config["repeats"] == REPEATS
        assert r.config["repeat_s"] == REPEAT_S and r.config["host_memory"] == "pageable"
        assert r.config["model"] == ModelConfig().to_dict()  # the run's features, on record
        assert r.config["batch_set_jets"] == min(2048, r.config["max_jets"] or 2048)  # used
        points = r.metrics["points"]
        assert [(p["batch_size"], p["repeat"]) for p in points] == [
            (b, k) for b in SIZES for k in range(REPEATS)]
        for p in points:  # whole batches until the repetition lasted --repeat-seconds
            assert p["time_s"] >= REPEAT_S and p["n_batches"] >= 1
            n = p["n_batches"] * p["batch_size"]
            assert p["n_jets"] == n and p["jets_per_s"] == pytest.approx(n / p["time_s"])
            assert p["nvml_samples"] == 0 or nvml_unavailable_reason() is None
        medians = {b: np.median([p["jets_per_s"] for p in points if p["batch_size"] == b])
                   for b in SIZES}
        assert r.metrics["peak_batch_size"] == max(medians, key=lambda b: medians[b])
        assert r.metrics["peak_jets_per_s"] == pytest.approx(max(medians.values()))
        nvml = r.metrics["nvml"]
        reason = nvml_unavailable_reason()
        assert nvml["available"] is (reason is None)
        if reason is not None:
            assert nvml["reason"] == reason
            assert all(p["gpu_util_pct"] is None and p["gpu_power_w"] is None for p in points)
        assert r.metrics["min_nvml_samples_per_point"] is None or reason is None
        assert (results / r.artifacts["csv"]).is_file()
        assert (results / r.artifacts["png"]).is_file()
        if r.config["backend"] == "onnxruntime":  # the file it ran, by path and content
            assert r.config["onnx_sha256"] == sha256_file(Path(r.config["onnx"]))
        else:
            assert r.config["onnx"] is None and r.config["onnx_sha256"] is None
    for r in records:
        if r.status != "ok":
            assert r.status == "skipped" and r.skipped[0]["reason"]


def test_sweep_csv_has_every_point_and_png_is_an_image(sweep):
    results, _ = sweep
    rec = next(r for r in load_records(results, KIND) if r.status == "ok")
    with open(results / rec.artifacts["csv"]) as fh:
        rows = list(csv.DictReader(fh))
    assert tuple(rows[0]) == SWEEP_CSV_COLUMNS
    ok = [r for r in load_records(results, KIND) if r.status == "ok"]
    assert len(rows) == sum(len(r.metrics["points"]) for r in ok) == len(ok) * 4
    assert {row["backend"] for row in rows} == {"torch-cpu", "onnxruntime-cpu"}
    assert all(float(row["jets_per_s"]) > 0 for row in rows)
    png = (results / rec.artifacts["png"]).read_bytes()
    assert png[:8] == b"\x89PNG\r\n\x1a\n" and len(png) > 10_000


def test_grids_follow_the_paper():
    assert GPU_BATCH_SIZES[0] == 100 and GPU_BATCH_SIZES[-1] == 4200
    low = [b for b in GPU_BATCH_SIZES if b < 2400]
    high = [b for b in GPU_BATCH_SIZES if b >= 2400]
    assert set(np.diff(low)) == {200} and set(np.diff(high[:-1])) == {400}
    assert 2400 in GPU_BATCH_SIZES
    assert int_list("200:2400:200,2600:4200:400") == PAPER_CODE_BATCH_SIZES
    assert len(CPU_BATCH_SIZES) < len(GPU_BATCH_SIZES)
    assert max(CPU_BATCH_SIZES) < max(GPU_BATCH_SIZES)


def test_sweep_batches_cycle_through_few_jets(tiny_test_set):
    jets = load_dataset(tiny_test_set, max_jets=10)
    batches = sweep_batches(jets, 4, 12)  # 3 batches: 0-3, 4-7, 8-9 + 0-1
    assert [len(t) for t, _ in batches] == [4, 4, 4]
    np.testing.assert_array_equal(batches[2][0], jets.tracks[[8, 9, 0, 1]])
    np.testing.assert_array_equal(batches[1][1], jets.svs[4:8])
    big = sweep_batches(jets, 25, 1)  # one batch larger than the data
    assert len(big) == 1 and big[0][0].shape == (25, 30, 60)
    assert all(b[0].flags.c_contiguous for b in batches + big)


def test_a_cached_onnx_with_altered_weights_is_not_swept(tmp_path, tiny_test_set, untrained_run,
                                                         onnx_export):
    """Issue 21 item 7: an ONNX file in the cache whose weights were changed, its fairhep.*
    metadata left intact, is exported again before the sweep runs it; the record names the
    file that ran."""
    import onnx
    from onnx import numpy_helper

    cached = tmp_path / "cache" / "onnx" / onnx_export.name
    cached.parent.mkdir(parents=True)
    shutil.copy(onnx_export, cached)
    proto = onnx.load(str(cached))
    init = max(proto.graph.initializer, key=lambda t: np.prod(t.dims))
    weights = numpy_helper.to_array(init) * np.float32(3)
    init.CopyFrom(numpy_helper.from_array(weights, init.name))
    onnx.save_model(proto, str(cached))
    altered = sha256_file(cached)
    net = load_run_model(untrained_run)
    assert "graph or weights" in (cached_file_problem(cached, net) or "")

    results = tmp_path / "results"
    assert main(["bench", "--batch-sweep", "--backends", "onnxruntime", "--batch-sizes", "8",
                 "--repeats", "1", "--max-jets", "16", "--repeat-seconds", "0.01",
                 "--data", str(tiny_test_set), "--run", str(untrained_run), "--results",
                 str(results), "--cache-dir", str(tmp_path / "cache"), "--no-report"]) == 0
    ran = next(r for r in load_records(results, KIND) if r.status == "ok")
    assert ran.config["onnx"] == str(cached)
    assert ran.config["onnx_sha256"] == sha256_file(cached) != altered
    assert cached_file_problem(cached, net) is None  # the run's own export again
