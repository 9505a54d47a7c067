"""Backends: ONNX Runtime CPU agrees with PyTorch CPU; absent backends are reported (not
dropped, not faked) with reasons of the documented shape; per-batch timing is faithful."""

from __future__ import annotations

import importlib.util
import re

import numpy as np
import pytest
import torch

from fairhep.backends import TOLERANCE, PreparedModel, all_backends, availability, select_backends
from fairhep.backends.onnxruntime_backend import OnnxRuntimeBackend
from fairhep.backends.tensorrt_backend import TensorRTBackend
from fairhep.backends.torch_backend import TorchBackend
from fairhep.data.load import load_dataset
from fairhep.devices import cuda_unavailable_reason
from fairhep.errors import BackendUnavailable, ConfigError

REASON_SHAPE = re.compile(r"^(CUDA|onnxruntime|tensorrt): \S.*$")


@pytest.fixture(scope="module")
def prepared(untrained_run, onnx_export, bench_cache) -> PreparedModel:
    return PreparedModel(untrained_run, onnx_export, (1, 128), bench_cache)


def test_onnxruntime_cpu_matches_torch_cpu_within_tolerance(tiny_test_set, prepared):
    jets = load_dataset(tiny_test_set)
    torch_b, ort_b = TorchBackend("cpu"), OnnxRuntimeBackend("CPUExecutionProvider")
    model = prepared
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
    assert {b.name for b in all_backends()} == {"torch", "onnxruntime", "tensorrt", "fast",
                                                 "onnxruntime-fast"}
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
def test_preparing_an_absent_backend_raises_its_reason(prepared):
    with pytest.raises(BackendUnavailable, match=r"^tensorrt: module not installed$"):
        TensorRTBackend("fp16").prepare(prepared)


def test_select_backends_by_framework_or_label():
    assert [b.label for b in select_backends(["torch"])] == ["torch-cpu", "torch-cuda"]
    assert [b.label for b in select_backends(["onnxruntime-cpu", "torch-cpu"])] == [
        "onnxruntime-cpu", "torch-cpu"]
    assert len(select_backends([])) == len(all_backends())
    with pytest.raises(ConfigError, match=r"unknown backend 'tensorflow'.*onnxruntime-cpu"):
        select_backends(["tensorflow"])


@pytest.mark.gpu
@pytest.mark.parametrize("make", [lambda: TorchBackend("cuda"),
                                  lambda: OnnxRuntimeBackend("CUDAExecutionProvider"),
                                  lambda: TensorRTBackend("fp32"),
                                  lambda: TensorRTBackend("fp16")])
def test_gpu_backends_match_the_cpu_reference(make, tiny_test_set, prepared):
    backend = make()
    reason = backend.available()
    if reason:
        pytest.skip(reason)
    jets = load_dataset(tiny_test_set)
    ref = TorchBackend("cpu")
    ref.prepare(prepared)
    backend.prepare(prepared)
    for n in (1, 37, 128):
        idx = np.arange(n) % len(jets)
        t, s = np.ascontiguousarray(jets.tracks[idx]), np.ascontiguousarray(jets.svs[idx])
        assert np.abs(backend.predict(t, s) - ref.predict(t, s)).max() <= backend.tolerance
    backend.close()


@pytest.mark.gpu
@pytest.mark.skipif(importlib.util.find_spec("tensorrt") is None,
                    reason="tensorrt: module not installed")
def test_tensorrt_engine_is_cached_by_onnx_gpu_version_precision(onnx_export, bench_cache):
    from fairhep.backends.tensorrt_backend import build_engine, engine_path

    cache = bench_cache
    first = build_engine(onnx_export, "fp32", (1, 128), cache)
    assert first == engine_path(onnx_export, cache, "fp32", (1, 128))
    stamp = first.stat().st_mtime_ns
    assert build_engine(onnx_export, "fp32", (1, 128), cache) == first
    assert first.stat().st_mtime_ns == stamp  # reused, not rebuilt
    assert engine_path(onnx_export, cache, "fp16", (1, 128)) != first


def test_records_of_onnxruntime_backends_need_no_onnxruntime(monkeypatch):
    """Without the optional onnxruntime, every ONNX Runtime backend is skipped with the reason
    and its record's config is still written (no import error from the config)."""
    import sys

    from fairhep.backends.onnxruntime_backend import OnnxRuntimeBackend

    monkeypatch.setitem(sys.modules, "onnxruntime", None)  # what an absent package gives
    for provider in ("CPUExecutionProvider", "CUDAExecutionProvider",
                     "TensorrtExecutionProvider"):
        b = OnnxRuntimeBackend(provider)
        assert b.available() == "onnxruntime: module not installed"
        cfg = b.config()
        assert cfg["provider"] == provider and "onnxruntime_version" not in cfg
