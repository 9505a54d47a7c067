"""`fairhep validate`: SHA256SUMS first (a changed, added or missing file is one line naming
it, and a failed record), then every runtime here against the expected scores, the compiled
C++ program included; a runtime that disagrees fails and the command exits 1."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest

from fairhep.cli import main
from fairhep.fair import bundle as layout
from fairhep.fair.validate import validate
from fairhep.results import kinds, load_records


def _copy(bundle, tmp_path):
    return shutil.copytree(bundle.root, tmp_path / "copy")


def test_every_runtime_here_reproduces_the_run_bundles_scores(run_bundle, cpp_runner, cpp_cache,
                                                             tmp_path, capsys):
    results = tmp_path / "results"
    code = main(["validate", str(run_bundle.root), "--results", str(results),
                 "--cache-dir", str(cpp_cache)])
    out = capsys.readouterr().out
    assert code == 0, out
    (record,) = load_records(results, kinds.VALIDATE)
    assert record.status == "ok" and record.metrics["passed"] is True
    ran = record.metrics["runtimes"]
    assert {"torch-cpu", "onnxruntime-cpu", "cpp-onnxruntime"} <= set(ran)
    for label, r in ran.items():
        assert r["status"] == "passed" and r["max_abs_diff"] <= r["tolerance"] == 1e-4, label
        assert r["n_jets"] == run_bundle.validation["n_jets"]
        assert f"{label:<26}" in out and "PASS" in out
    assert ran["cpp-onnxruntime"]["detail"]["rows"] == run_bundle.validation["n_jets"]
    for skipped in record.skipped:  # absent runtimes: skipped, each with a named reason
        assert skipped["what"] not in ran and ":" in skipped["reason"]
        assert f"{skipped['what']:<26}skipped: {skipped['reason']}" in out
    assert record.config["model_id"] == run_bundle.model_id
    assert record.provenance["fairhep_version"] and record.provenance["packages"]
    assert f"{len(ran)} runtime(s) ran: {len(ran)} passed, 0 failed" in out


@pytest.mark.parametrize("where", ["validation/newdata_0.h5", "model.onnx", "model_card.json"])
def test_a_changed_byte_is_refused_in_one_line_naming_the_file(run_bundle, tmp_path, capsys,
                                                              where):
    root = _copy(run_bundle, tmp_path)
    data = bytearray((root / where).read_bytes())
    data[len(data) // 2] ^= 0x01
    (root / where).write_bytes(bytes(data))
    results = tmp_path / "results"
    assert main(["validate", str(root), "--results", str(results)]) == 1
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and f"{root / where}: sha256 differs from SHA256SUMS" in err
    (record,) = load_records(results, kinds.VALIDATE)  # the refusal is on record too
    assert record.status == "failed" and where in record.skipped[0]["reason"]


def test_an_added_or_a_missing_file_is_refused(run_bundle, tmp_path):
    from fairhep.fair.bundle import BundleError

    root = _copy(run_bundle, tmp_path)
    (root / "validation" / "extra.npy").write_bytes(b"x")
    with pytest.raises(BundleError, match=r"extra\.npy: not in SHA256SUMS"):
        validate(root, results=None)
    (root / "validation" / "extra.npy").unlink()
    (root / "CITATION.cff").unlink()
    with pytest.raises(BundleError, match=r"CITATION\.cff: listed in SHA256SUMS but missing"):
        validate(root, results=None)


def test_a_runtime_that_disagrees_fails_and_the_command_exits_1(run_bundle, tmp_path, capsys):
    root = _copy(run_bundle, tmp_path)
    path = root / "validation" / layout.EXPECTED
    expected = np.load(path)
    expected[3] += np.float32(1e-3)  # wrong expectations, re-summed: a consistent bundle
    np.save(path, expected)
    layout.write_sums(root)
    code = main(["validate", str(root), "--runtimes", "onnxruntime-cpu", "--results",
                 str(tmp_path / "r")])
    out = capsys.readouterr().out
    assert code == 1
    assert "FAIL" in out and "exceeds the fp32 tolerance 0.0001" in out
    record = json.loads(next((tmp_path / "r").rglob("*.json")).read_text())
    r = record["metrics"]["runtimes"]["onnxruntime-cpu"]
    assert record["status"] == "failed" and r["max_abs_diff"] == pytest.approx(1e-3, rel=1e-2)


def test_runtimes_option_selects_by_label_or_family_and_names_unknown_ones(run_bundle, capsys):
    v = validate(run_bundle.root, ["torch"], results=None)
    assert [r.label for r in v.results] == ["torch-cpu", "torch-cuda"]
    assert main(["validate", str(run_bundle.root), "--runtimes", "cuda-magic"]) == 1
    err = capsys.readouterr().err
    assert "unknown runtime 'cuda-magic'" in err and "onnxruntime-cpu" in err


def test_json_output_carries_every_runtime_and_the_verdict(foreign_bundle, capsys):
    assert main(["validate", str(foreign_bundle.root), "--runtimes", "onnxruntime",
                 "--json", "--results", str(foreign_bundle.root.parent / "json-results")]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["passed"] is True and out["model_id"] == foreign_bundle.model_id
    labels = {r["label"]: r["status"] for r in out["results"]}
    assert labels["onnxruntime-cpu"] == "passed" and set(labels) == {
        "onnxruntime-cpu", "onnxruntime-cuda", "onnxruntime-tensorrt-ep"}


@pytest.mark.gpu
def test_gpu_runtimes_reproduce_the_scores_within_their_tolerance(run_bundle, tmp_path):
    v = validate(run_bundle.root, ["torch-cuda", "onnxruntime-cuda", "onnxruntime-tensorrt-ep",
                                   "tensorrt"], results=tmp_path, cache_dir=tmp_path / "cache")
    ran = {r.label: r for r in v.ran}
    assert "torch-cuda" in ran and not v.failed, [(r.label, r.reason) for r in v.failed]
    for r in ran.values():
        assert r.max_abs_diff is not None and r.tolerance is not None
        assert r.max_abs_diff <= r.tolerance


def test_an_unwritable_results_folder_is_refused_before_any_runtime_runs(run_bundle,
                                                                        read_only_dir, capsys):
    assert main(["validate", str(run_bundle.root), "--results", str(read_only_dir)]) == 1
    captured = capsys.readouterr()
    err = captured.err.strip()
    assert err.count("\n") == 0 and str(read_only_dir) in err and "--results" in err
    assert "PASS" not in captured.out  # nothing ran


def test_a_runtime_giving_nan_fails_with_the_count_and_its_record_is_written(run_bundle,
                                                                             tmp_path):
    from fairhep.backends.onnxruntime_backend import OnnxRuntimeBackend
    from fairhep.fair import validate as validation
    from fairhep.fair.sample import BATCH_SIZE, read_expected, read_sample

    class NaNRows(OnnxRuntimeBackend):  # the real runtime, one jet a batch broken afterwards
        def predict(self, tracks, svs):
            out = super().predict(tracks, svs)
            out[:1] = np.nan
            return out

    jets = read_sample(run_bundle.validation_dir)
    expected = read_expected(run_bundle.validation_dir, len(jets))
    r = validation._run(NaNRows(), run_bundle, jets, expected, tmp_path / "cache")
    assert r.status == "failed" and r.max_abs_diff is None
    n_batches = -(-len(jets) // BATCH_SIZE)
    assert r.reason == f"{2 * n_batches} of {expected.size} scores are NaN or inf"
    v = validation.Validation(run_bundle.root, run_bundle.model_id, run_bundle.identifier, 1,
                              len(jets), "test", {}, (r,))
    record = json.loads(validation._write_record(tmp_path / "r", v, None, ()).read_text())
    assert record["status"] == "failed" and not record["metrics"]["passed"]
