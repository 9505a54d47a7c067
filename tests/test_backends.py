"""Backends: ONNX Runtime CPU agrees with PyTorch CPU; absent backends are reported (not
dropped, not faked) with reasons of the documented shape; per-batch timing is faithful."""

from __future__ import annotations

import importlib.util
import math
import re

import numpy as np
import pytest
import torch

from fairhep.backends import TOLERANCE, PreparedModel, all_backends, availability, select_backends
from fairhep.backends.onnxruntime_backend import OnnxRuntimeBackend
from fairhep.backends.tensorrt_backend import TensorRTBackend
from fairhep.backends.torch_backend import TorchBackend
from fairhep.bench.timing import time_batches
from fairhep.data.load import load_dataset
from fairhep.devices import cuda_unavailable_reason
from fairhep.errors import BackendUnavailable, ConfigError
from portability_inputs import inputs, onnx_file

REASON_SHAPE = re.compile(r"^(CUDA|onnxruntime|tensorrt): \S.*$")


def _prepared() -> PreparedModel:
    i = inputs()
    return PreparedModel(i.run, onnx_file(), (1, 128), i.cache)


def test_onnxruntime_cpu_matches_torch_cpu_within_tolerance():
    jets = load_dataset(inputs().data)
    torch_b, ort_b = TorchBackend("cpu"), OnnxRuntimeBackend("CPUExecutionProvider")
    model = _prepared()
    torch_b.prepare(model)
    ort_b.prepare(model)
    for n in (1, 37, len(jets)):  # dynamic batch axis, odd sizes
        a = torch_b.predict(jets.tracks[:n], jets.svs[:n])
        b = ort_b.predict(jets.tracks[:n], jets.svs[:n])
        assert a.shape == b.shape == (n, 2) and b.dtype == np.float32
        assert np.abs(a - b).max() <= TOLERANCE["fp32"]
    # Not a constant: the jets get different scores.
    assert np.ptp(b[:, 0]) > 1e-3


def test_registry_lists_every_backend_once_in_table_order():
    labels = [b.label for b in all_backends()]
    assert len(labels) == len(set(labels))
    assert labels[0] == "torch-cpu"  # the reference comes first
    assert {b.name for b in all_backends()} == {"torch", "onnxruntime", "tensorrt"}
    assert set(availability()) == set(labels)
    assert availability()["torch-cpu"] is None
    assert availability()["onnxruntime-cpu"] is None


def test_absent_backends_report_reasons_of_the_documented_shape():
    reasons = {label: r for label, r in availability().items() if r is not None}
    for reason in reasons.values():
        assert REASON_SHAPE.match(reason), reason
    if not torch.cuda.is_available():
        assert reasons["torch-cuda"] == cuda_unavailable_reason()
        assert reasons["torch-cuda"].startswith("CUDA: ")
    if importlib.util.find_spec("tensorrt") is None:
        assert reasons["tensorrt-fp32"] == "tensorrt: module not installed"
        assert reasons["tensorrt-fp16"] == "tensorrt: module not installed"
    import onnxruntime

    providers = onnxruntime.get_available_providers()
    if "CUDAExecutionProvider" not in providers:
        assert re.fullmatch(r"onnxruntime: CUDAExecutionProvider not in this build \(has .*"
                            r"CPUExecutionProvider.*\)", reasons["onnxruntime-cuda"])


@pytest.mark.skipif(importlib.util.find_spec("tensorrt") is not None, reason="tensorrt here")
def test_preparing_an_absent_backend_raises_its_reason():
    with pytest.raises(BackendUnavailable, match=r"^tensorrt: module not installed$"):
        TensorRTBackend("fp16").prepare(_prepared())


def test_select_backends_by_framework_or_label():
    assert [b.label for b in select_backends(["torch"])] == ["torch-cpu", "torch-cuda"]
    assert [b.label for b in select_backends(["onnxruntime-cpu", "torch-cpu"])] == [
        "onnxruntime-cpu", "torch-cpu"]
    assert len(select_backends([])) == len(all_backends())
    with pytest.raises(ConfigError, match="unknown backend 'tensorflow'.*onnxruntime-cpu"):
        select_backends(["tensorflow"])


def test_time_batches_keeps_order_and_counts_batches():
    jets = load_dataset(inputs().data, max_jets=20)
    b = TorchBackend("cpu")
    b.prepare(_prepared())
    timed = time_batches(b, jets.tracks, jets.svs, 8, warmup=1)
    whole = b.predict(jets.tracks, jets.svs)
    np.testing.assert_allclose(timed.scores, whole, atol=1e-6)
    s = timed.summary()
    assert s["n_batches"] == math.ceil(20 / 8) == len(timed.times_s)
    assert s["n_jets"] == 20
    assert 0 < s["p5_s"] <= s["median_s"] <= s["p95_s"]


@pytest.mark.gpu
@pytest.mark.parametrize("make", [lambda: TorchBackend("cuda"),
                                  lambda: OnnxRuntimeBackend("CUDAExecutionProvider"),
                                  lambda: TensorRTBackend("fp32"),
                                  lambda: TensorRTBackend("fp16")])
def test_gpu_backends_match_the_cpu_reference(make):
    backend = make()
    reason = backend.available()
    if reason:
        pytest.skip(reason)
    jets = load_dataset(inputs().data)
    ref = TorchBackend("cpu")
    ref.prepare(_prepared())
    backend.prepare(_prepared())
    for n in (1, 37, 128):
        idx = np.arange(n) % len(jets)
        t, s = np.ascontiguousarray(jets.tracks[idx]), np.ascontiguousarray(jets.svs[idx])
        assert np.abs(backend.predict(t, s) - ref.predict(t, s)).max() <= backend.tolerance
    backend.close()


@pytest.mark.gpu
@pytest.mark.skipif(importlib.util.find_spec("tensorrt") is None,
                    reason="tensorrt: module not installed")
def test_tensorrt_engine_is_cached_by_onnx_gpu_version_precision():
    from fairhep.backends.tensorrt_backend import build_engine, engine_path

    cache = inputs().cache
    first = build_engine(onnx_file(), "fp32", (1, 128), cache)
    assert first == engine_path(onnx_file(), cache, "fp32", (1, 128))
    stamp = first.stat().st_mtime_ns
    assert build_engine(onnx_file(), "fp32", (1, 128), cache) == first
    assert first.stat().st_mtime_ns == stamp  # reused, not rebuilt
    assert engine_path(onnx_file(), cache, "fp16", (1, 128)) != first
