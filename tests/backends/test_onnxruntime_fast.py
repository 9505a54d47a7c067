"""``onnxruntime-fast``: ONNX Runtime on the fast graph, behind the Backend interface, with
the bucket router; its scores equal the dense graph's on ORT within the fp32 tolerance for
jets of mixed real-track counts (generated jets), it is labelled as this suite's form, and it
runs in ``bench --frameworks`` and ``--batch-sweep``."""

from __future__ import annotations

import numpy as np
import pytest

from fairhep.backends import TOLERANCE, PreparedModel, availability, select_backends
from fairhep.backends.onnxruntime_backend import OnnxRuntimeBackend
from fairhep.backends.onnxruntime_fast import OnnxRuntimeFastBackend, route
from fairhep.cli import main
from fairhep.results import load_records
from jet_helpers import random_jets

pytest.importorskip("onnxruntime", reason="onnxruntime: module not installed")


def _jets():
    counts = [0, 3, 60, 8, 9, 17, 40, 0, 33, 59, 1, 24]
    tracks, svs = random_jets(len(counts), seed=11, counts=counts)
    return tracks.numpy(), svs.numpy()


def test_router_puts_each_jet_in_the_smallest_bucket_that_holds_it():
    tracks, _ = _jets()
    groups = route(tracks, (8, 16, 60))
    assert [sorted(g.tolist()) for g in groups] == [[0, 1, 3, 7, 10], [4],
                                                    [2, 5, 6, 8, 9, 11]]


@pytest.mark.parametrize("route_jets", [True, False])
def test_fast_graph_on_ort_equals_the_dense_graph(untrained_run, onnx_export, bench_cache,
                                                   route_jets):
    model = PreparedModel(untrained_run, onnx_export, (1, 128), bench_cache)
    dense = OnnxRuntimeBackend()
    fast = OnnxRuntimeFastBackend(route_jets=route_jets)
    dense.prepare(model)
    fast.prepare(PreparedModel(untrained_run, None, (1, 128), bench_cache))
    tracks, svs = _jets()
    for rows in (slice(None), slice(0, 1), slice(2, 3), slice(7, 8)):
        got = fast.predict(tracks[rows], svs[rows])
        assert got.dtype == np.float32 and got.shape == (len(tracks[rows]), 2)
        np.testing.assert_allclose(got, dense.predict(tracks[rows], svs[rows]),
                                   atol=TOLERANCE["fp32"], rtol=0)


def test_registered_and_labelled_as_this_suites_form():
    labels = [b.label for b in select_backends(["onnxruntime-fast"])]
    assert labels == ["onnxruntime-fast-cpu", "onnxruntime-fast-cuda",
                      "onnxruntime-fast-tensorrt-ep"]
    # ``--backends onnxruntime`` still means the paper's dense graph only.
    assert all(b.name == "onnxruntime" for b in select_backends(["onnxruntime"]))
    cfg = OnnxRuntimeFastBackend().config()
    assert cfg["paper_framework"] is False and cfg["graph_form"] == "fast"
    assert "not a paper framework" in str(cfg["engine"])
    assert availability()["onnxruntime-fast-cpu"] is None


def test_bench_frameworks_and_sweep_run_it(tmp_path, tiny_test_set, untrained_run, bench_cache):
    common = ["--data", str(tiny_test_set), "--run", str(untrained_run), "--results",
              str(tmp_path), "--cache-dir", str(bench_cache), "--max-jets", "24", "--no-report"]
    assert main(["bench", "--frameworks", "--backends", "torch-cpu,onnxruntime-fast-cpu",
                 *common]) == 0
    recs = {r.config["label"]: r for r in load_records(tmp_path, "bench.frameworks")}
    fast = recs["onnxruntime-fast-cpu"]
    assert fast.status == "ok" and fast.metrics["parity_ok"]
    assert fast.metrics["max_abs_dscore"] <= TOLERANCE["fp32"]
    assert fast.config["paper_framework"] is False and fast.config["graph_form"] == "fast"
    assert main(["bench", "--batch-sweep", "--backends", "onnxruntime-fast-cpu",
                 "--batch-sizes", "1,8", *common]) == 0
    sweep = [r for r in load_records(tmp_path, "bench.sweep")
             if r.config["label"] == "onnxruntime-fast-cpu"]
    assert sweep and all(r.status == "ok" for r in sweep)
