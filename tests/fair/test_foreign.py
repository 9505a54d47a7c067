"""`fairhep package --onnx`: an ONNX file of the IN that fairhep did not write. What the file
says is read (names, shapes, opset, batch axis, fairhep.* metadata when present), the rest is
taken from options, and what neither says, or what the runtimes cannot feed, is refused in
one line naming the file."""

from __future__ import annotations

import json

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper

from fairhep.cli import main
from fairhep.fair.card import CardOptions
from fairhep.fair.onnxinfo import OnnxFileError
from fairhep.fair.package import PackageOptions, package
from fairhep.fair.validate import validate


def test_fair_export_without_metadata_is_refused_until_its_interface_is_declared(
        fair_onnx, tmp_path, capsys):
    assert not onnx.load(str(fair_onnx)).metadata_props
    assert main(["package", "--onnx", str(fair_onnx), "--out", str(tmp_path / "b")]) == 1
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and str(fair_onnx) in err and "--interface fair-in" in err
    assert not (tmp_path / "b").exists()


def test_foreign_card_reads_the_file_and_says_what_was_declared(foreign_bundle, fair_onnx):
    card = foreign_bundle.card
    assert card["model"]["opset"] == 11 and card["model"]["file_metadata"] == "none"
    assert card["model"]["producer"].startswith("pytorch")
    tracks, svs = card["inputs"]
    assert tracks["axes"][0] == "batch_size" and svs["shape"] == [-1, 14, 5]
    assert tracks["source"] == "declared with --interface" and card["weights"] is None
    assert card["source"] == {"kind": "onnx file", "path": str(fair_onnx)}
    assert any("--interface fair-in" in lim for lim in card["limitations"])
    status = {i["id"]: i["status"] for i in card["fair"]}
    assert status["I2"] == "not met" and status["R1.2"] == "partly"  # nothing says its data
    assert foreign_bundle.validation["reference"].startswith("onnx.reference-fp32")
    assert foreign_bundle.validation["source"] == {**foreign_bundle.validation["source"],
                                                   "kind": "synthetic", "seed": 9}


def test_foreign_bundle_validates_on_onnxruntime_and_cpp_and_skips_torch(foreign_bundle,
                                                                        cpp_runner, cpp_cache):
    v = validate(foreign_bundle.root, (), results=None, cache_dir=cpp_cache)  # every runtime
    by = {r.label: r for r in v.results}
    for label in ("torch-cpu", "fast-cpu"):  # both run PyTorch weights, which it has not
        assert by[label].status == "skipped" and "no PyTorch weights" in str(by[label].reason)
    assert v.passed, [(r.label, r.reason) for r in v.failed]
    for label in ("onnxruntime-cpu", "cpp-onnxruntime"):
        diff = by[label].max_abs_diff
        assert by[label].status == "passed" and diff is not None and diff <= 1e-5, by[label]


def test_our_own_export_is_read_from_its_metadata_and_contradictions_are_refused(run_bundle,
                                                                               tmp_path):
    done = package(PackageOptions(out=tmp_path / "again", onnx=run_bundle.onnx,
                                  validation_jets=2, progress=False))
    card = json.loads((done.root / "model_card.json").read_text())
    assert done.identifier == run_bundle.identifier  # the same bytes: the same model
    assert card["inputs"][0]["source"] == "the file's fairhep.* metadata"
    assert card["model"]["config"] == run_bundle.card["model"]["config"]
    with pytest.raises(OnnxFileError, match="contradicts the model's own"):
        package(PackageOptions(out=tmp_path / "no", onnx=run_bundle.onnx, progress=False,
                               card=CardOptions(dropped_track_features=("track_phirel",))))


def _interface_model(path, inputs=None, output=("output1", ["batch", 2])):
    """A tiny graph with the IN's interface (its scores come from the SVs alone)."""
    inputs = inputs or [("input_cpf", TensorProto.FLOAT, ["batch", 30, 60]),
                        ("input_sv", TensorProto.FLOAT, ["batch", 14, 5])]
    weights = helper.make_tensor("w", TensorProto.FLOAT, [70, 2],
                                 np.linspace(-1, 1, 140, dtype=np.float32))
    nodes = [helper.make_node("Flatten", [inputs[1][0]], ["flat"]),
             helper.make_node("MatMul", ["flat", "w"], ["logits"]),
             helper.make_node("Softmax", ["logits"], [output[0]], axis=1)]
    graph = helper.make_graph(
        nodes, "interface", [helper.make_tensor_value_info(*i) for i in inputs],
        [helper.make_tensor_value_info(output[0], TensorProto.FLOAT, output[1])], [weights])
    # IR version 8, as the exporters of the paper's time wrote it: onnx >= 1.16 defaults to 10,
    # which ONNX Runtime < 1.17 (the ppc64le stack's 1.16.3) cannot load.
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)],
                                ir_version=8), str(path))
    return path


@pytest.mark.parametrize(("inputs", "message"), [
    ([("tracks", 1, ["b", 30, 60]), ("input_sv", 1, ["b", 14, 5])],
     "inputs are ['tracks', 'input_sv']"),
    ([("input_cpf", 1, [1, 30, 60]), ("input_sv", 1, [1, 14, 5])], "fixed batch of 1"),
    ([("input_cpf", 1, ["b", 18, 60]), ("input_sv", 1, ["b", 14, 5])], "an ablated export"),
    ([("input_cpf", TensorProto.DOUBLE, ["b", 30, 60]), ("input_sv", 1, ["b", 14, 5])],
     "is float64"),
])
def test_files_the_runtimes_cannot_feed_are_refused_in_one_line(tmp_path, capsys, inputs,
                                                               message):
    path = _interface_model(tmp_path / "odd.onnx", inputs)
    assert main(["package", "--onnx", str(path), "--out", str(tmp_path / "b"),
                 "--interface", "fair-in"]) == 1
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and f"{path}: " in err and message in err


def test_a_foreign_file_with_the_ins_interface_packages_and_validates(tmp_path):
    path = _interface_model(tmp_path / "small.onnx")
    done = package(PackageOptions(out=tmp_path / "b", onnx=path, validation_jets=300,
                                  progress=False,
                                  card=CardOptions(interface="fair-in",
                                                   dataset_doi="10.7483/OPENDATA.CMS.JGJX.MS7Q",
                                                   dropped_track_features=("track_ptrel",))))
    card = json.loads((done.root / "model_card.json").read_text())
    assert card["inputs"][0]["dropped_features"] == ["track_ptrel"]
    assert card["name"].endswith("(ablated)")
    assert {i["id"]: i["status"] for i in card["fair"]}["I2"] == "partly"  # DOI, no manifest
    v = validate(done.root, ["onnxruntime-cpu"], results=None)
    assert v.results[0].status == "passed" and v.n_jets == 300, v.results[0].reason


def test_dropped_features_and_the_dataset_are_read_from_the_files_metadata(tmp_path):
    path = _interface_model(tmp_path / "meta.onnx")
    proto = onnx.load(str(path))
    for key, value in (("fairhep.track_features_dropped", "track_phirel,track_quality"),
                       ("fairhep.sv_features_dropped", ""),
                       ("fairhep.dataset_doi", "10.7483/OPENDATA.CMS.JGJX.MS7Q")):
        proto.metadata_props.add(key=key, value=value)
    onnx.save(proto, str(path))
    done = package(PackageOptions(out=tmp_path / "b", onnx=path, validation_jets=8,
                                  progress=False))  # no --interface: the metadata says it
    card = json.loads((done.root / "model_card.json").read_text())
    tracks, svs = card["inputs"]
    assert tracks["dropped_features"] == ["track_phirel", "track_quality"]
    assert svs["dropped_features"] == [] and tracks["source"] == "the file's fairhep.* metadata"
    assert [f["name"] for f in tracks["features"] if not f["used"]] == tracks["dropped_features"]
    assert card["training_data"]["doi"] == "10.7483/OPENDATA.CMS.JGJX.MS7Q"
