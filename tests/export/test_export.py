"""ONNX export: checker, named inputs with a dynamic batch axis, self-describing metadata,
outputs equal to PyTorch within 1e-5; TensorRT export fails here with a named reason."""

from __future__ import annotations

import importlib.util
import json

import numpy as np
import onnx
import pytest
import torch
from onnx.reference import ReferenceEvaluator

from fairhep import __version__, schema
from fairhep.cli import main
from fairhep.data.load import load_dataset
from fairhep.export import export_onnx, model_id, read_metadata, weights_hash
from fairhep.model import ModelConfig, ScoreModel, load_run_model
from run_helpers import make_run


def _torch_scores(run, tracks, svs):
    with torch.inference_mode():
        return ScoreModel(load_run_model(run))(torch.from_numpy(tracks),
                                               torch.from_numpy(svs)).numpy()


def test_export_checks_and_names_inputs_with_dynamic_batch(onnx_export):
    proto = onnx.load(str(onnx_export))
    onnx.checker.check_model(proto, full_check=True)
    ins = {v.name: v for v in proto.graph.input}
    outs = {v.name: v for v in proto.graph.output}
    assert list(ins) == [schema.ONNX_INPUT_TRACKS, schema.ONNX_INPUT_SVS]
    assert list(outs) == [schema.ONNX_OUTPUT]
    for value, rest in ((ins[schema.ONNX_INPUT_TRACKS], schema.TRACK_SHAPE),
                        (ins[schema.ONNX_INPUT_SVS], schema.SV_SHAPE),
                        (outs[schema.ONNX_OUTPUT], schema.TARGET_SHAPE)):
        dims = value.type.tensor_type.shape.dim
        assert dims[0].dim_param and not dims[0].dim_value  # symbolic batch
        assert tuple(d.dim_value for d in dims[1:]) == rest
        assert value.doc_string  # each tensor says what it holds
    assert proto.producer_name == "fairhep"


def test_metadata_lets_a_reader_feed_the_file_alone(onnx_export, untrained_run):
    path = onnx_export
    meta = read_metadata(path)
    proto = onnx.load(str(path))
    assert int(meta["opset"]) == max(o.version for o in proto.opset_import if o.domain == "")
    assert meta["track_features"].split(",") == list(schema.TRACK_FEATURES)
    assert meta["sv_features"].split(",") == list(schema.SV_FEATURES)
    assert meta["track_units"].split(",") == [f.unit for f in schema.TRACK_FEATURE_SPECS]
    assert meta["dataset_doi"] == schema.DATASET_DOI
    assert meta["fairhep_version"] == __version__
    assert (meta["input_tracks"], meta["input_svs"], meta["output"]) == (
        schema.ONNX_INPUT_TRACKS, schema.ONNX_INPUT_SVS, schema.ONNX_OUTPUT)
    assert "zero" in meta["padding"] and "channels first" in meta["tracks_layout"]
    assert json.loads(meta["schema"]) == json.loads(json.dumps(schema.describe()))
    net = load_run_model(untrained_run)
    assert meta["model_version"] == weights_hash(net)
    assert meta["model_id"] == model_id(net)
    assert ModelConfig.from_dict(json.loads(meta["model_config"])) == net.config


def test_onnx_outputs_equal_pytorch_within_1e5_at_several_batch_sizes(onnx_export, tiny_test_set,
                                                                      untrained_run):
    jets = load_dataset(tiny_test_set, max_jets=7)
    ref = ReferenceEvaluator(onnx.load(str(onnx_export)))  # ONNX's own reference runtime
    for n in (1, 7):
        t, s = jets.tracks[:n], jets.svs[:n]
        (out,) = ref.run(None, {schema.ONNX_INPUT_TRACKS: t, schema.ONNX_INPUT_SVS: s})
        expected = _torch_scores(untrained_run, t, s)
        assert out.shape == (n, 2)
        np.testing.assert_allclose(out, expected, atol=1e-5, rtol=0)
        np.testing.assert_allclose(out.sum(axis=1), 1.0, atol=1e-5)


def test_ablated_model_exports_and_still_takes_the_full_arrays(tmp_path, tiny_test_set):
    run = tmp_path / "ablated"
    make_run(run, ModelConfig.ablated(12, 5), seed=1)
    path = export_onnx(run, tmp_path / "ablated.onnx", exporter="torchscript")
    meta = read_metadata(path)
    assert len(meta["used_track_features"].split(",")) == schema.N_TRACK_FEATURES - 12
    assert meta["track_features"].split(",") == list(schema.TRACK_FEATURES)
    jets = load_dataset(tiny_test_set, max_jets=3)
    (out,) = ReferenceEvaluator(onnx.load(str(path))).run(
        None, {schema.ONNX_INPUT_TRACKS: jets.tracks, schema.ONNX_INPUT_SVS: jets.svs})
    np.testing.assert_allclose(out, _torch_scores(run, jets.tracks, jets.svs), atol=1e-5)


def test_weights_hash_follows_the_weights(untrained_run):
    net = load_run_model(untrained_run)
    before = weights_hash(net)
    assert weights_hash(load_run_model(untrained_run)) == before
    with torch.no_grad():
        net.fc_fixed.bias[0] += 1e-3
    assert weights_hash(net) != before


def test_cli_export_writes_file_and_reports(tmp_path, capsys, untrained_run):
    out = tmp_path / "m.onnx"
    assert main(["export", "--run", str(untrained_run), "--out", str(out),
                 "--exporter", "torchscript"]) == 0
    onnx.checker.check_model(onnx.load(str(out)))
    assert str(out) in capsys.readouterr().out


def test_cli_export_of_a_missing_run_is_one_line_error(tmp_path, capsys):
    assert main(["export", "--run", str(tmp_path / "nope")]) == 1
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "model.json" in err and "nope" in err


@pytest.mark.skipif(importlib.util.find_spec("tensorrt") is not None,
                    reason="tensorrt is installed here: the engine build is tested on GPUs")
def test_cli_tensorrt_export_fails_with_named_reason(capsys, untrained_run):
    assert main(["export", "--run", str(untrained_run), "--format", "tensorrt",
                 "--precision", "fp16"]) == 1
    err = capsys.readouterr().err.strip()
    assert err == "fairhep export: error: --format tensorrt: tensorrt: module not installed"
