"""The fast graph (`fairhep export --engine fast`): the dense export's interface and metadata,
``graph_form = fast`` naming its weights, and scores equal to the dense graph's within 1e-5
on ONNX Runtime for jets with 0-60 real tracks and 0-5 SVs in any slots, empty jets and
batches of empty jets (generated jets: tests/jet_helpers.py)."""

from __future__ import annotations

import json

import numpy as np
import onnx
import pytest
import torch

from fairhep import schema
from fairhep.backends import PreparedModel
from fairhep.backends.onnxruntime_backend import OnnxRuntimeBackend
from fairhep.cli import main
from fairhep.export import (
    cached_file_problem,
    cached_onnx,
    export_fast_onnx,
    export_onnx,
    graph_sha256,
    read_metadata,
    weights_hash,
)
from fairhep.model import InteractionNetwork, ModelConfig, load_run_model, save_run_model
from fairhep.model.fast.onnx_graph import build_fast_graph
from jet_helpers import random_jets

pytest.importorskip("onnxruntime", reason="onnxruntime: module not installed")

CONFIGS = {
    "small": ModelConfig(hidden=8, de=4, do=4),
    "ablated-odd": ModelConfig.ablated(3, 1, hidden=7, de=5, do=3),
}
PROVIDERS = ("CPUExecutionProvider", "CUDAExecutionProvider", "TensorrtExecutionProvider")


def _run(run_dir, config: ModelConfig, seed: int = 0):
    """A run whose (untrained) weights are scaled so that jets get clearly different,
    unsaturated scores (std > 1e-3, asserted) and a wrong closed form cannot hide under 1e-5:
    the sums over 60 tracks otherwise drown the per-jet differences."""
    torch.manual_seed(seed)
    net = InteractionNetwork(config).eval()
    with torch.no_grad():
        for name, p in net.named_parameters():
            p.mul_(0.02 if name.startswith("fc_fixed") else 1.3)
    save_run_model(run_dir, net)
    torch.save(net.state_dict(), run_dir / "best.pth")
    return run_dir


def _jets():
    """Every edge case: 0, 1, 59, 60 real tracks, random counts in random slots, SV-less
    jets, an all-empty jet in the middle."""
    counts = [0, 1, 60, 59, 2, 30, 0] + [int(c) for c in
                                         np.random.default_rng(3).integers(0, 61, 17)]
    tracks, svs = random_jets(len(counts), seed=5, counts=counts)
    svs[:4] = 0
    return tracks.numpy(), svs.numpy()


@pytest.fixture(scope="module", params=list(CONFIGS))
def graphs(request, tmp_path_factory):
    """(dense backend, fast backend per provider) of one variant on ORT."""
    tmp = tmp_path_factory.mktemp(request.param)
    run = _run(tmp / "run", CONFIGS[request.param])
    dense = export_onnx(run, tmp / "dense.onnx", exporter="torchscript")
    fast = export_fast_onnx(run, tmp / "fast.onnx")
    return run, dense, fast


def _backend(provider: str, path, cache):
    backend = OnnxRuntimeBackend(provider)
    reason = backend.available()
    if reason:
        pytest.skip(reason)
    backend.prepare(PreparedModel(run_dir=path.parent, onnx_path=path, cache_dir=cache))
    return backend


@pytest.mark.parametrize("provider", PROVIDERS)
def test_fast_graph_scores_equal_the_dense_graph(graphs, provider, tmp_path):
    _, dense_path, fast_path = graphs
    dense = _backend("CPUExecutionProvider", dense_path, tmp_path)
    fast = _backend(provider, fast_path, tmp_path)
    tracks, svs = _jets()
    expected = dense.predict(tracks, svs)
    assert float(expected[:, 1].std()) > 1e-3  # jets differ: the comparison can fail
    np.testing.assert_allclose(fast.predict(tracks, svs), expected, atol=1e-5, rtol=0)
    # One jet, and batches whose widest jet is narrow or empty (the graph's real-track
    # dimension is the batch's widest jet: 0 here).
    for rows in ([2], [0, 6], [1, 4], [0]):
        np.testing.assert_allclose(fast.predict(tracks[rows], svs[rows]),
                                   dense.predict(tracks[rows], svs[rows]), atol=1e-5, rtol=0)


def test_padded_slots_anywhere_give_the_same_scores(graphs, tmp_path):
    _, _, fast_path = graphs
    fast = _backend("CPUExecutionProvider", fast_path, tmp_path)
    tracks, svs = _jets()
    perm = np.random.default_rng(1).permutation(schema.N_TRACKS)
    moved = fast.predict(tracks[:, :, perm], svs[:, :, ::-1].copy())
    np.testing.assert_allclose(moved, fast.predict(tracks, svs), atol=1e-6, rtol=0)


@pytest.mark.parametrize("opset", [13, 18])
def test_other_opsets_write_and_agree(tmp_path, opset):
    torch.manual_seed(2)
    net = InteractionNetwork(CONFIGS["small"]).eval()
    proto = build_fast_graph(net, opset)
    onnx.checker.check_model(proto, full_check=True)
    import onnxruntime as ort

    session = ort.InferenceSession(proto.SerializeToString(),
                                   providers=["CPUExecutionProvider"])
    tracks, svs = _jets()
    (out,) = session.run(None, {schema.ONNX_INPUT_TRACKS: tracks, schema.ONNX_INPUT_SVS: svs})
    with torch.no_grad():
        ref = torch.softmax(net(torch.from_numpy(tracks), torch.from_numpy(svs)), 1).numpy()
    np.testing.assert_allclose(out, ref, atol=1e-5, rtol=0)


def test_metadata_names_the_form_and_its_weights(graphs):
    run, dense_path, fast_path = graphs
    fast, dense = read_metadata(fast_path), read_metadata(dense_path)
    net = load_run_model(run)
    assert fast["graph_form"] == "fast" and dense["graph_form"] == "dense"
    assert fast["model_version"] == dense["model_version"] == weights_hash(net)
    assert fast["opset"] == dense["opset"] == str(schema.ONNX_OPSET)
    assert ModelConfig.from_dict(json.loads(fast["model_config"])) == net.config
    proto = onnx.load(str(fast_path))
    assert fast["graph_sha256"] == graph_sha256(proto)
    assert [v.name for v in proto.graph.input] == [schema.ONNX_INPUT_TRACKS,
                                                   schema.ONNX_INPUT_SVS]
    # Each form is only taken for itself from a cache.
    assert cached_file_problem(fast_path, net, "fast") is None
    assert "fast form, not the dense" in str(cached_file_problem(fast_path, net, "dense"))
    assert "dense form, not the fast" in str(cached_file_problem(dense_path, net, "fast"))


def test_cached_fast_graph_sits_beside_the_dense_one(graphs, tmp_path):
    run = graphs[0]
    fast = cached_onnx(run, tmp_path, form="fast")
    assert fast.name.endswith("-fast.onnx") and read_metadata(fast)["graph_form"] == "fast"
    assert cached_onnx(run, tmp_path, form="fast") == fast


def test_cli_export_engine_fast(tmp_path, capsys):
    run = _run(tmp_path / "run", CONFIGS["small"])
    assert main(["export", "--run", str(run), "--engine", "fast"]) == 0
    out = run / "model-fast.onnx"
    assert f"wrote {out} (fast form, opset {schema.ONNX_OPSET}" in capsys.readouterr().out
    assert main(["export", "--run", str(run), "--engine", "fast", "--opset", "11"]) == 1
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "opsets 13 to" in err
