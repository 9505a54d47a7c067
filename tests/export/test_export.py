"""ONNX export: checker, named inputs with a dynamic batch axis, self-describing metadata,
outputs equal to PyTorch within 1e-5; TensorRT export fails here with a named reason."""

from __future__ import annotations

import importlib.util
import inspect
import json
import shutil

import numpy as np
import onnx
import pytest
import torch
from onnx.reference import ReferenceEvaluator

from fairhep import __version__, schema
from fairhep.cli import main
from fairhep.data.load import load_dataset
from fairhep.export import (
    DEFAULT_OPSET,
    cached_file_problem,
    cached_onnx,
    export_arguments,
    export_onnx,
    exporter_for,
    model_id,
    read_metadata,
    weights_hash,
)
from fairhep.model import InteractionNetwork, ModelConfig, ScoreModel, load_run_model
from run_helpers import make_run


def _outputs(evaluator: ReferenceEvaluator, feeds: dict[str, np.ndarray]) -> list[np.ndarray]:
    """Every output of ONNX's reference evaluator, in order, as arrays."""
    outputs = evaluator.run(None, feeds)
    assert isinstance(outputs, list), "asked for no intermediate results"
    return [np.asarray(o) for o in outputs]


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
        (out,) = _outputs(ref, {schema.ONNX_INPUT_TRACKS: t, schema.ONNX_INPUT_SVS: s})
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
    (out,) = _outputs(ReferenceEvaluator(onnx.load(str(path))),
                      {schema.ONNX_INPUT_TRACKS: jets.tracks, schema.ONNX_INPUT_SVS: jets.svs})
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


def test_dropped_features_are_in_the_onnx_metadata(tmp_path, tiny_test_set):
    run = tmp_path / "drop14-21"
    config = ModelConfig.dropping(schema.TRACK_FEATURES[14:22], ("sv_phirel", "sv_normchi2"),
                                  hidden=8, de=4, do=4)
    make_run(run, config, seed=2)
    meta = read_metadata(export_onnx(run, tmp_path / "m.onnx", exporter="torchscript"))
    assert meta["track_indices_dropped"] == "14,15,16,17,18,19,20,21"
    assert meta["track_features_dropped"].split(",") == list(schema.TRACK_FEATURES[14:22])
    assert meta["sv_indices_dropped"] == "2,8"
    assert meta["sv_features_dropped"] == "sv_phirel,sv_normchi2"
    assert json.loads(meta["model_config"])["track_indices_dropped"] == list(range(14, 22))
    assert meta["exporter"] == "torchscript"


# torch.onnx.export's keywords in torch 2.1 (torch/onnx/_experimental.py ExportOptions of
# that release, plus autograd_inlining): what the ppc64le stack's torch 2.1.2 accepts.
TORCH_21_EXPORT_KEYWORDS = {
    "export_params", "verbose", "training", "input_names", "output_names",
    "operator_export_type", "opset_version", "do_constant_folding", "dynamic_axes",
    "keep_initializers_as_inputs", "custom_opsets", "export_modules_as_functions",
    "autograd_inlining",
}


def test_torch_before_2_5_gets_the_plain_torchscript_exporter(tmp_path):
    names = ([schema.ONNX_INPUT_TRACKS, schema.ONNX_INPUT_SVS], [schema.ONNX_OUTPUT])
    for requested in ("dynamo", "torchscript"):
        assert exporter_for(requested, "2.1.2+cu121") == "torchscript"
        old = export_arguments(exporter_for(requested, "2.1.2"), "2.1.2", *names, 17)
        assert set(old) <= TORCH_21_EXPORT_KEYWORDS and "dynamo" not in old
        assert old["dynamic_axes"][schema.ONNX_INPUT_TRACKS] == {0: "batch"}
        assert not any(isinstance(v, tuple) for v in old.values())  # no torch.export.Dim
    assert exporter_for("dynamo", "2.5.0") == "dynamo"
    # The default: dynamo where it was measured to export this network (torch 2.13), the
    # paper's TorchScript exporter before (torch 2.8's dynamo exporter fails on it).
    assert exporter_for("auto", "2.8.0+cu128") == "torchscript"
    assert exporter_for("auto", "2.13.0+cpu") == "dynamo"

    # The old call, as torch 2.1.2 gets it, is also a valid call of this torch.
    net = ScoreModel(InteractionNetwork(ModelConfig(hidden=4, de=2, do=2))).eval()
    example = (torch.zeros(2, *schema.TRACK_SHAPE), torch.zeros(2, *schema.SV_SHAPE))
    inspect.signature(torch.onnx.export).bind(net, example, tmp_path / "legacy.onnx", **old)


@pytest.mark.skipif(not hasattr(torch.export, "Dim"),
                    reason=f"torch {torch.__version__} has no torch.export.Dim (torch < 2.5)")
def test_torch_2_5_and_later_get_the_exporter_asked_for():
    names = ([schema.ONNX_INPUT_TRACKS, schema.ONNX_INPUT_SVS], [schema.ONNX_OUTPUT])
    new = export_arguments("dynamo", "2.13.0", *names, 17)
    assert new["dynamo"] is True
    assert all(isinstance(d[0], type(torch.export.Dim("b"))) for d in new["dynamic_shapes"])
    assert export_arguments("torchscript", "2.8.0", *names, 17)["dynamo"] is False


def test_export_help_states_the_opset_that_is_written(capsys):
    with pytest.raises(SystemExit):
        main(["export", "--help"])
    help_text = " ".join(capsys.readouterr().out.split())
    assert f"ONNX opset (default: {DEFAULT_OPSET})" in help_text and DEFAULT_OPSET == 17


def test_cached_onnx_rebuilds_a_garbage_or_foreign_file(untrained_run, onnx_export, tmp_path):
    cache = tmp_path / "cache"
    cache.mkdir()
    first = cache / onnx_export.name
    shutil.copy(onnx_export, first)  # the session's export, as a previous run left it
    stamp = first.stat().st_mtime_ns
    assert cached_onnx(untrained_run, cache, exporter="torchscript") == first
    assert first.stat().st_mtime_ns == stamp  # verified and reused, not re-exported
    net = load_run_model(untrained_run)
    assert cached_file_problem(first, net) is None

    first.write_bytes(b"\x00garbage, not ONNX")
    assert "not a valid ONNX file" in (cached_file_problem(first, net) or "")
    assert cached_onnx(untrained_run, cache, exporter="torchscript") == first
    assert read_metadata(first)["model_version"] == weights_hash(net)

    other = tmp_path / "other"
    make_run(other, seed=5)  # another model's valid export under this model's name
    export_onnx(other, first, exporter="torchscript")
    assert "names weights" in (cached_file_problem(first, net) or "")
    assert cached_onnx(untrained_run, cache, exporter="torchscript") == first
    assert read_metadata(first)["model_version"] == weights_hash(net)


def test_cached_onnx_rebuilds_a_file_whose_weights_were_altered(untrained_run, onnx_export,
                                                                tmp_path):
    # Every fairhep.* metadata value intact, one weight changed: only the graph hash in the
    # metadata tells (issue 21, item 7).
    from onnx import numpy_helper

    cache = tmp_path / "cache"
    cache.mkdir()
    first = cache / onnx_export.name
    proto = onnx.load(str(onnx_export))
    init = proto.graph.initializer[0]
    weights = numpy_helper.to_array(init).copy()
    weights.flat[0] += np.float32(0.5)
    init.CopyFrom(numpy_helper.from_array(weights, init.name))
    onnx.save_model(proto, str(first))
    assert read_metadata(first) == read_metadata(onnx_export)
    net = load_run_model(untrained_run)
    assert cached_file_problem(first, net) == ("its graph or weights are not those its metadata "
                                               "was written with")
    assert cached_onnx(untrained_run, cache, exporter="torchscript") == first
    assert cached_file_problem(first, net) is None


@pytest.mark.parametrize(("opset", "message"), [
    ("3", "opset 3"),  # torch >= 2.5's dynamo exporter would write 18 with a warning
    ("99", "opset 99: ONNX "),
])
def test_an_opset_the_exporter_cannot_write_is_refused_with_nothing_written(
        untrained_run, tmp_path, capsys, opset, message):
    out = tmp_path / "m.onnx"
    assert main(["export", "--run", str(untrained_run), "--out", str(out), "--opset",
                 opset]) == 1
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and message in err, err
    assert not list(tmp_path.iterdir())


def test_export_into_a_read_only_directory_is_one_line(untrained_run, read_only_dir, capsys):
    assert main(["export", "--run", str(untrained_run), "--out",
                 str(read_only_dir / "m.onnx"), "--exporter", "torchscript"]) == 1
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "ONNX output directory is not writable" in err


def test_a_bad_tensorrt_batch_range_is_one_line_before_anything_runs(tmp_path, capsys) -> None:
    from fairhep.cli import main

    assert main(["export", "--run", str(tmp_path / "no-run"), "--format", "tensorrt",
                 "--batch-sizes", "100:10:10"]) == 1
    err = capsys.readouterr().err.strip()
    assert err == ("fairhep export: error: --batch-sizes: '100:10:10' is empty: its start 100 "
                   "is above its stop 10 (START:STOP:STEP counts up, e.g. 10:100:10)")
