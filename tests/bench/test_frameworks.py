"""``fairhep bench --frameworks`` end to end: one valid record per backend, real numbers for
the backends that run here, skipped records with reasons for the others (Table 8)."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import numpy as np
import pytest
import torch
from sklearn.metrics import roc_auc_score

from fairhep import schema
from fairhep.backends import TOLERANCE, all_backends
from fairhep.backends.onnxruntime_backend import OnnxRuntimeBackend
from fairhep.bench.frameworks import KIND, parity_metrics, scores_metrics
from fairhep.bench.timing import BatchTimes
from fairhep.cli import main
from fairhep.data.load import load_dataset
from fairhep.data.manifest import sha256_file
from fairhep.model import ModelConfig, ScoreModel, load_run_model
from fairhep.results import load_records

MAX_JETS = 40


@pytest.fixture(scope="module")
def run_frameworks(tmp_path_factory, tiny_test_set, untrained_run, bench_cache):
    results = tmp_path_factory.mktemp("frameworks-results")
    argv = ["bench", "--frameworks", "--data", str(tiny_test_set), "--run", str(untrained_run),
            "--results", str(results), "--cache-dir", str(bench_cache),
            "--max-jets", str(MAX_JETS), "--no-report"]
    return results, main(argv)


def test_frameworks_writes_one_valid_record_per_backend(run_frameworks, capsys):
    results, rc = run_frameworks
    assert rc == 0
    errors: list[str] = []
    records = load_records(results, KIND, errors)  # schema-validated
    assert errors == []
    assert sorted(str((r.config["backend"], r.config["device"], r.config["precision"],
                       r.config["provider"])) for r in records) == sorted(
        str((b.name, b.device, b.precision, b.provider)) for b in all_backends())
    assert sorted(r.config["label"] for r in records) == sorted(b.label for b in all_backends())
    for r in records:
        assert r.config["reference"] == "torch-cpu-fp32"
        assert r.provenance["host"]
        if r.status == "skipped":
            assert len(r.skipped) == 1 and r.skipped[0]["reason"]
    by = _by_label(results)  # the ONNX file a backend ran, by path and content
    assert by["torch-cpu"].config["onnx"] is None and by["torch-cpu"].config["onnx_sha256"] is None
    ort = by["onnxruntime-cpu"].config
    assert ort["onnx_sha256"] == sha256_file(Path(ort["onnx"]))


def _by_label(results):
    return {r.config["label"]: r for r in load_records(results, KIND)}


def test_cpu_backends_agree_and_measure_real_numbers(run_frameworks, tiny_test_set,
                                                     untrained_run):
    results, _ = run_frameworks
    recs = _by_label(results)
    torch_rec, ort_rec = recs["torch-cpu"], recs["onnxruntime-cpu"]
    assert torch_rec.status == ort_rec.status == "ok"

    # The numbers are those of the model on these jets, recomputed here independently.
    jets = load_dataset(tiny_test_set, MAX_JETS)
    with torch.inference_mode():
        scores = ScoreModel(load_run_model(untrained_run))(
            torch.from_numpy(jets.tracks), torch.from_numpy(jets.svs)).numpy()
    accuracy = np.mean((scores[:, 0] >= 0.5) == (jets.labels == schema.QCD))
    auc = roc_auc_score(jets.labels == schema.HBB, scores[:, 1])
    for rec in (torch_rec, ort_rec):
        m = rec.metrics
        assert m["n_jets"] == MAX_JETS
        assert m["accuracy"] == pytest.approx(accuracy, abs=1e-12)
        assert m["auc"] == pytest.approx(auc, abs=1e-6)
        assert m["tolerance"] == TOLERANCE["fp32"]
        assert m["max_abs_dscore"] <= m["tolerance"] and m["parity_ok"] is True
        assert 0 <= m["mean_abs_dscore"] <= m["max_abs_dscore"]
        assert m["n_decisions_changed"] == 0
        t1, t128 = m["time_per_batch"]["1"], m["time_per_batch"]["128"]
        assert (t1["n_batches"], t1["n_jets"]) == (MAX_JETS, MAX_JETS)
        # @128 is a full batch of 128 although there are 40 jets: they cycle to fill it.
        assert (t128["n_batches"], t128["n_jets"], t128["jets_timed"]) == (1, MAX_JETS, 128)
        for t in (t1, t128):
            assert 0 < t["p5_s"] <= t["median_s"] <= t["p95_s"]
        assert m["partial"]["n_jets"] == MAX_JETS
    assert torch_rec.metrics["accuracy"] == ort_rec.metrics["accuracy"]
    for rec in (torch_rec, ort_rec):
        assert rec.config["model"] == ModelConfig().to_dict()  # which features it reads
        assert rec.config["host_memory"] == "pageable"
    # ONNX Runtime is a different implementation: not bit-identical to the reference.
    assert ort_rec.metrics["max_abs_dscore"] > 0


def test_max_and_mean_dscore_share_one_definition(run_frameworks):
    """Both over every jet of both passes; the torch-cpu row is its own batch-128 reference,
    so its deltas are those of batch 1 (the max it prints is the max its record holds)."""
    results, _ = run_frameworks
    recs = _by_label(results)
    for label in ("torch-cpu", "onnxruntime-cpu"):
        m = recs[label].metrics
        per = m["dscore_by_batch"]
        n1, n128 = m["time_per_batch"]["1"]["n_jets"], m["time_per_batch"]["128"]["n_jets"]
        assert m["max_abs_dscore"] == max(per["1"]["max"], per["128"]["max"])
        assert m["mean_abs_dscore"] == pytest.approx(
            (n1 * per["1"]["mean"] + n128 * per["128"]["mean"]) / (n1 + n128), rel=1e-6)
        assert m["dscore_definition"].startswith("per-jet |score - reference| over every jet")
    assert recs["torch-cpu"].metrics["dscore_by_batch"]["128"] == {"max": 0.0, "mean": 0.0}


def test_the_tensorrt_ep_row_says_whether_tf32_was_forced_off(run_frameworks):
    results, _ = run_frameworks
    rec = _by_label(results)["onnxruntime-tensorrt-ep"]
    state = rec.config["tf32"]
    assert state["enabled"] is (rec.config["precision"] == "tf32")
    assert state["how"]
    assert rec.config["fallback"] == "disabled"


def test_absent_backends_are_skipped_with_reasons(run_frameworks, capsys):
    results, _ = run_frameworks
    recs = _by_label(results)
    if not torch.cuda.is_available():
        assert recs["torch-cuda"].status == "skipped"
        assert recs["torch-cuda"].skipped[0]["reason"].startswith("CUDA: ")
    if importlib.util.find_spec("tensorrt") is None:
        for label in ("tensorrt-fp32", "tensorrt-fp16"):
            assert recs[label].status == "skipped"
            assert recs[label].skipped == [{"what": label,
                                            "reason": "tensorrt: module not installed"}]
    if OnnxRuntimeBackend("CUDAExecutionProvider").available():
        assert recs["onnxruntime-cuda"].status == "skipped"
        assert "CUDAExecutionProvider" in recs["onnxruntime-cuda"].skipped[0]["reason"]


def test_printed_table_names_backends_and_reasons(tmp_path, capsys, tiny_test_set,
                                                  untrained_run, bench_cache):
    assert main(["bench", "--frameworks", "--backends", "onnxruntime,tensorrt", "--data",
                 str(tiny_test_set), "--run", str(untrained_run), "--results", str(tmp_path),
                 "--cache-dir", str(bench_cache), "--max-jets", "8", "--no-report"]) == 0
    out = capsys.readouterr().out
    assert "onnxruntime-cpu" in out and "Table 8" in out
    if importlib.util.find_spec("tensorrt") is None:
        assert "tensorrt-fp32: tensorrt: module not installed" in out
    # torch-cpu was not selected: the reference is computed untimed, and no record is written
    assert {r.config["backend"] for r in load_records(tmp_path, KIND)} == {
        "onnxruntime", "tensorrt"}


def test_unknown_backend_is_a_one_line_error(tmp_path, capsys, tiny_test_set, untrained_run):
    assert main(["bench", "--frameworks", "--backends", "tensorflow", "--data",
                 str(tiny_test_set), "--run", str(untrained_run), "--results", str(tmp_path),
                 "--no-report"]) == 1
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "tensorflow" in err


def test_parity_fails_beyond_tolerance():
    rng = np.random.default_rng(0)
    p = rng.uniform(size=20).astype(np.float32)
    ref = np.stack([p, 1 - p], axis=1)
    labels = (p < 0.5).astype(np.int64)
    backend = OnnxRuntimeBackend("CPUExecutionProvider")
    near = BatchTimes(np.ones(1), ref + 2e-6, 128)
    far = BatchTimes(np.ones(1), ref + np.float32(3e-5), 128)
    single = BatchTimes(np.ones(20), ref.copy(), 1)
    assert parity_metrics(backend, near, single, ref, labels)["parity_ok"] is True
    bad = parity_metrics(backend, far, single, ref, labels)
    assert bad["parity_ok"] is False and bad["max_abs_dscore"] == pytest.approx(3e-5, rel=1e-2)
    assert scores_metrics(ref, labels)["accuracy"] == 1.0
    assert scores_metrics(ref, np.zeros(20, np.int64))["auc"] is None  # one class only
