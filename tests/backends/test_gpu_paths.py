"""The GPU paths, held here where they can be: no silent ONNX Runtime fallback, TensorRT's
libraries found whatever was imported first (with the loader's own error when they are not),
a batch outside a TensorRT profile named with the profile's range, TF32 decided per row, and
pinned host memory offered and recorded. What needs a GPU is `gpu`-marked."""

from __future__ import annotations

import importlib.util
import json
import os
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from fairhep.backends import TOLERANCE, PreparedModel, tf32, trtlibs
from fairhep.backends.onnxruntime_backend import (
    TRT_EP,
    ExecutionProviderFailed,
    OnnxRuntimeBackend,
)
from fairhep.backends.tensorrt_backend import ProfileError, TensorRTBackend, bind_input_shape
from fairhep.backends.torch_backend import TorchBackend
from fairhep.backends.trtlibs import decode_version
from fairhep.data.load import load_dataset
from fairhep.devices import cuda_unavailable_reason


@pytest.fixture(scope="module")
def prepared(untrained_run, onnx_export, bench_cache) -> PreparedModel:
    return PreparedModel(untrained_run, onnx_export, (1, 128), bench_cache)


# --- no silent fallback ---------------------------------------------------------------------

class _FailingSession:
    """Stands in for ONNX Runtime's C session: every run fails the way an EP does (EPFail);
    everything else is the real session's."""

    def __init__(self, real: object) -> None:
        import onnxruntime

        self.error = onnxruntime.capi.onnxruntime_pybind11_state.EPFail
        self.real = real
        self.runs = 0

    def __getattr__(self, name: str) -> object:
        return getattr(self.real, name)

    def run(self, *_args: object) -> None:
        self.runs += 1
        raise self.error("CUDA failure 2: out of memory ; GPU=0")


def test_an_execution_provider_failure_is_raised_not_retried_on_the_cpu(prepared, tiny_test_set):
    jets = load_dataset(tiny_test_set, max_jets=4)
    backend = OnnxRuntimeBackend("CPUExecutionProvider")
    backend.prepare(prepared)
    session = backend._session
    assert session._enable_fallback is False  # disable_fallback() was called
    failing = _FailingSession(session._sess)
    session._sess = failing
    with pytest.raises(ExecutionProviderFailed, match=r"^onnxruntime: CPUExecutionProvider "
                       r"failed at batch 4 \(CUDA failure 2: out of memory ; GPU=0\); not "
                       r"retried on another provider$"):
        backend.predict(jets.tracks, jets.svs)
    assert failing.runs == 1 and session._sess is failing  # no second session, no retry

    # What the wrapper does when its fallback is on: a new session and a silent retry, so
    # the failure would be timed as a success.
    import onnxruntime

    default = onnxruntime.InferenceSession(str(prepared.onnx_path),
                                           providers=["CPUExecutionProvider"])
    default._sess = _FailingSession(default._sess)
    feed = {"input_cpf": jets.tracks, "input_sv": jets.svs}
    assert default.run(["output1"], feed)[0].shape == (4, 2)


# --- TensorRT libraries, whatever was imported first -------------------------------------------

_FAKE_NVINFER = "int getInferLibVersion(void) { return 100900; }\n"
_FAKE_PROVIDER = ("int getInferLibVersion(void);\n"
                  "int provider_trt_version(void) { return getInferLibVersion(); }\n")


def _cc(args: list[str]) -> None:
    subprocess.run(["cc", *args], check=True, capture_output=True)


@pytest.fixture(scope="module")
def fake_tensorrt_wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A site directory laid out like the tensorrt-cu12-libs wheel (tensorrt_libs/ holding
    libnvinfer.so.10) and, outside it, a provider library that needs libnvinfer.so.10 the way
    ONNX Runtime's libonnxruntime_providers_tensorrt.so does; both built with the real
    compiler and loaded by the real dynamic loader."""
    if shutil.which("cc") is None:
        pytest.skip("no C compiler here to build the stand-in libraries")
    root = tmp_path_factory.mktemp("trt-wheel")
    libs = root / "site" / "tensorrt_libs"
    libs.mkdir(parents=True)
    (libs / "__init__.py").write_text("")
    (root / "nvinfer.c").write_text(_FAKE_NVINFER)
    (root / "provider.c").write_text(_FAKE_PROVIDER)
    _cc(["-shared", "-fPIC", "-o", str(libs / "libnvinfer.so.10"),
         "-Wl,-soname,libnvinfer.so.10", str(root / "nvinfer.c")])
    _cc(["-shared", "-fPIC", "-o", str(root / "libprovider.so"), str(root / "provider.c"),
         str(libs / "libnvinfer.so.10")])
    return root


def _python(code: str, site: Path | None) -> dict[str, Any]:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(
        [*([str(site)] if site else []), os.environ.get("PYTHONPATH", "")])}
    env.pop("LD_LIBRARY_PATH", None)
    out = subprocess.run([sys.executable, "-c", textwrap.dedent(code)], env=env, check=True,
                         capture_output=True, text=True).stdout
    return dict(json.loads(out.strip().splitlines()[-1]))


# trtlibs uses the standard library only: loaded by path, the child process starts in a blink
# (the fairhep.backends package would import torch first).
_LOAD_TRTLIBS = textwrap.dedent(f"""
    import importlib.util, sys
    _spec = importlib.util.spec_from_file_location("trtlibs", {str(Path(trtlibs.__file__))!r})
    trtlibs = sys.modules["trtlibs"] = importlib.util.module_from_spec(_spec)
    _spec.loader.exec_module(trtlibs)
""")

_LOAD_PROVIDER = _LOAD_TRTLIBS + textwrap.dedent("""
    import ctypes, json, sys
    def provider():
        try:
            return ctypes.CDLL({provider!r}).provider_trt_version()
        except OSError as exc:
            return str(exc)
    result = {{}}
    if {preload}:
        libs = trtlibs.load_tensorrt_libraries()
        result.update(libs.as_dict())
    result["provider"] = provider()
    result["tensorrt_imported"] = "tensorrt" in sys.modules
    print(json.dumps(result))
""")


def test_tensorrt_libraries_load_from_the_wheel_whatever_was_imported_first(
        fake_tensorrt_wheel):
    site, provider = fake_tensorrt_wheel / "site", fake_tensorrt_wheel / "libprovider.so"
    # Without it: what ONNX Runtime's provider library hits (onnxruntime#18597).
    bare = _python(_LOAD_PROVIDER.format(provider=str(provider), preload=False), site)
    assert "libnvinfer.so.10: cannot open shared object file" in str(bare["provider"])
    # With it, and no `import tensorrt`: the provider library resolves libnvinfer by soname.
    loaded = _python(_LOAD_PROVIDER.format(provider=str(provider), preload=True), site)
    assert loaded["provider"] == 100900 and loaded["error"] is None
    assert loaded["path"] == str(site / "tensorrt_libs" / "libnvinfer.so.10")
    assert loaded["version"] == "10.9.0" and loaded["tensorrt_imported"] is False


def test_missing_tensorrt_libraries_report_the_loaders_own_error(tmp_path):
    code = _LOAD_TRTLIBS + textwrap.dedent("""
        import json
        print(json.dumps(trtlibs.load_tensorrt_libraries().as_dict()))
    """)
    if importlib.util.find_spec("tensorrt_libs") is not None:
        pytest.skip("tensorrt_libs is installed here")
    result = _python(code, None)
    assert result["path"] is None
    assert str(result["error"]).startswith("libnvinfer.so.10: cannot open shared object file")
    assert "install tensorrt-cu12-libs or put its directory on LD_LIBRARY_PATH" in str(
        result["error"])


def test_the_tensorrt_ep_row_names_the_loader_error_not_a_missing_gpu(monkeypatch):
    import onnxruntime

    from fairhep.backends import onnxruntime_backend
    from fairhep.backends.trtlibs import TensorRTLibraries

    monkeypatch.setattr(onnxruntime, "get_available_providers",
                        lambda: [TRT_EP, "CUDAExecutionProvider", "CPUExecutionProvider"])
    monkeypatch.setattr(onnxruntime_backend, "load_tensorrt_libraries", lambda: (
        TensorRTLibraries(error="libnvinfer.so.10: cannot open shared object file")))
    assert OnnxRuntimeBackend(TRT_EP).available() == (
        f"onnxruntime: {TRT_EP} cannot load TensorRT: libnvinfer.so.10: cannot open shared "
        "object file")


@pytest.mark.gpu
def test_the_tensorrt_ep_starts_without_importing_tensorrt_first(onnx_export, tmp_path):
    """On a GPU node with the TensorRT wheels: a fresh process that never imports tensorrt
    gets a TensorRT EP session (the order --frameworks uses)."""
    import onnxruntime

    if TRT_EP not in onnxruntime.get_available_providers():
        pytest.skip(f"onnxruntime: {TRT_EP} not in this build")
    code = f"""
        import json, sys
        from fairhep.backends import PreparedModel
        from fairhep.backends.onnxruntime_backend import OnnxRuntimeBackend
        b = OnnxRuntimeBackend("{TRT_EP}")
        reason = b.available()
        if reason is None:
            b.prepare(PreparedModel(None, {str(onnx_export)!r}, (1, 128), {str(tmp_path)!r}))
        print(json.dumps({{"reason": reason, "tensorrt_imported": "tensorrt" in sys.modules,
                          "providers": b._session.get_providers() if reason is None else []}}))
    """
    result = _python(code, None)
    if result["reason"] is not None:
        pytest.skip(str(result["reason"]))  # the loader's own words: what to install
    assert result["providers"][0] == TRT_EP and result["tensorrt_imported"] is False


def test_tensorrt_library_versions_decode_both_formulas():
    assert decode_version(100900) == "10.9.0"  # (10*100 + 9)*100 + 0, TensorRT 10
    assert decode_version(101300) == "10.13.0"
    assert decode_version(8601) == "8.6.1"  # 8*1000 + 6*100 + 1, TensorRT 8


# --- a batch outside the optimisation profile -------------------------------------------------

class _Context:
    def __init__(self) -> None:
        self.asked: list[tuple[str, tuple[int, ...]]] = []

    def set_input_shape(self, name: str, shape: tuple[int, ...]) -> bool:
        self.asked.append((name, shape))
        return shape[0] <= 128  # what TensorRT does: False, no exception


class _Engine:
    def get_tensor_profile_shape(self, _name: str, _profile: int) -> list[tuple[int, ...]]:
        return [(1, 30, 60), (64, 30, 60), (128, 30, 60)]


def test_a_batch_outside_the_tensorrt_profile_names_the_range():
    ctx = _Context()
    bind_input_shape(ctx, _Engine(), "input_cpf", (128, 30, 60))
    with pytest.raises(ProfileError, match=(
            r"^tensorrt: input input_cpf of shape \(4200, 30, 60\) is outside the engine's "
            r"optimisation profile \(min \(1, 30, 60\), opt \(64, 30, 60\), max \(128, 30, 60\)"
            r"\); build the engine for batch sizes 1-4200$")):
        bind_input_shape(ctx, _Engine(), "input_cpf", (4200, 30, 60))
    assert ctx.asked == [("input_cpf", (128, 30, 60)), ("input_cpf", (4200, 30, 60))]


@pytest.mark.gpu
def test_a_real_engine_refuses_a_batch_beyond_its_profile_with_the_range(prepared,
                                                                       tiny_test_set):
    backend = TensorRTBackend("fp32")
    missing = backend.available()
    if missing:
        pytest.skip(missing)
    jets = load_dataset(tiny_test_set)
    idx = np.arange(129) % len(jets)
    backend.prepare(prepared)  # profile 1-128
    try:
        with pytest.raises(ProfileError, match=r"max \(128, 30, 60\)"):
            backend.predict(np.ascontiguousarray(jets.tracks[idx]),
                            np.ascontiguousarray(jets.svs[idx]))
        assert backend.predict(jets.tracks[:2], jets.svs[:2]).shape == (2, 2)  # still usable
    finally:
        backend.close()


# --- TF32, decided per row ------------------------------------------------------------------

@pytest.fixture
def fresh_tf32(monkeypatch):
    monkeypatch.delenv(tf32.ENV, raising=False)
    monkeypatch.setattr(tf32, "_set_here", {})
    return monkeypatch


def test_tf32_is_forced_off_at_bench_start_and_the_row_proves_it(fresh_tf32, prepared):
    row = OnnxRuntimeBackend(TRT_EP)
    assert row.precision == "tf32" and row.tolerance == TOLERANCE["tf32"]  # not forced yet
    tf32.disable_tf32_for_this_process()
    assert os.environ[tf32.ENV] == "0"
    assert row.precision == "fp32" and row.tolerance == TOLERANCE["fp32"]
    assert row.label == "onnxruntime-tensorrt-ep"
    state = row.config()["tf32"]
    assert state == {"enabled": False, tf32.ENV: "0", "how": (
        f"{tf32.ENV}=0 set by fairhep bench before any CUDA library was used")}
    # Engines of the two maths never share a cache.
    assert row._provider_options(prepared)["trt_engine_cache_path"].endswith(
        "ort-tensorrt/fp32")


def test_a_row_that_may_use_tf32_says_so_with_its_own_tolerance(fresh_tf32, prepared):
    fresh_tf32.setenv(tf32.ENV, "1")
    tf32.disable_tf32_for_this_process()  # the user's value wins
    row = OnnxRuntimeBackend(TRT_EP)
    assert os.environ[tf32.ENV] == "1"
    assert (row.label, row.precision, row.tolerance) == (
        "onnxruntime-tensorrt-ep", "tf32", TOLERANCE["tf32"])
    cfg: dict[str, Any] = row.config()
    assert cfg["precision"] == "tf32" and cfg["tf32"]["enabled"] is True
    assert cfg["tf32"]["how"] == f"{tf32.ENV}=1 in the environment (only 0 disables TF32)"
    assert row._provider_options(prepared)["trt_engine_cache_path"].endswith(
        "ort-tensorrt/tf32")
    # fp16 rows and the rows that turn TF32 off per session are not relabelled.
    assert OnnxRuntimeBackend(TRT_EP, "fp16").precision == "fp16"
    assert TensorRTBackend("fp32").config()["tf32"] == {
        "enabled": False, "how": "BuilderFlag.TF32 cleared for the fp32 engine"}


def test_tf32_set_after_cuda_started_is_too_late_and_labelled(fresh_tf32):
    fresh_tf32.setattr(tf32, "_cuda_in_use", lambda: True)
    tf32.disable_tf32_for_this_process()
    assert os.environ[tf32.ENV] == "0"
    assert OnnxRuntimeBackend(TRT_EP).precision == "tf32"
    assert tf32.tf32_state()["how"].endswith("too late to take effect")


# --- pinned host memory -----------------------------------------------------------------------

def test_gpu_backends_ask_for_pinned_memory_and_record_what_they_got():
    gpu, cpu = TorchBackend("cuda"), OnnxRuntimeBackend("CPUExecutionProvider")
    gpu.use_host_memory("auto")
    cpu.use_host_memory("pinned")
    reason = cuda_unavailable_reason()
    if reason is not None:
        assert (gpu.host_memory, gpu.host_memory_note) == (
            "pageable", f"pinned host memory needs torch with CUDA ({reason})")
    else:
        assert (gpu.host_memory, gpu.host_memory_note) == ("pinned", None)
    assert (cpu.host_memory, cpu.host_memory_note) == (
        "pageable", "pinned host memory only matters for GPU backends")
    assert cpu.config()["host_memory"] == "pageable"
    gpu.use_host_memory("pageable")
    assert gpu.config()["host_memory"] == "pageable" and gpu.host_memory_note is None
    a = np.arange(12, dtype=np.float64).reshape(3, 4)[:, ::2]
    (laid_out,) = cpu.host_arrays(a)
    assert laid_out.dtype == np.float32 and laid_out.flags.c_contiguous
    np.testing.assert_array_equal(laid_out, a)


@pytest.mark.gpu
@pytest.mark.parametrize("make", [lambda: TorchBackend("cuda"), lambda: TensorRTBackend("fp32"),
                                  lambda: OnnxRuntimeBackend("CUDAExecutionProvider")])
def test_pinned_buffers_give_the_same_scores_as_pageable_ones(make, prepared, tiny_test_set):
    import torch

    backend = make()
    if backend.available():
        pytest.skip(backend.available())
    jets = load_dataset(tiny_test_set, max_jets=64)
    backend.prepare(prepared)
    try:
        backend.use_host_memory("pageable")
        pageable = backend.predict(*backend.host_arrays(jets.tracks, jets.svs))
        backend.use_host_memory("auto")
        assert backend.host_memory == "pinned"
        tracks, svs = backend.host_arrays(jets.tracks, jets.svs)
        assert torch.from_numpy(tracks).is_pinned() and torch.from_numpy(svs).is_pinned()
        np.testing.assert_allclose(backend.predict(tracks, svs), pageable, rtol=0, atol=1e-7)
    finally:
        backend.close()


@pytest.mark.gpu
def test_gpu_sessions_run_on_their_provider_with_fallback_off(prepared, tiny_test_set):
    """On a GPU: the CUDA and TensorRT EP sessions are on their provider, their fallback is
    off, and TF32 was forced off for the TensorRT EP (fp32 parity at 1e-5)."""
    tf32.disable_tf32_for_this_process()
    jets = load_dataset(tiny_test_set, max_jets=64)
    ref = TorchBackend("cpu")
    ref.prepare(prepared)
    expected = ref.predict(jets.tracks, jets.svs)
    for provider in ("CUDAExecutionProvider", TRT_EP):
        backend = OnnxRuntimeBackend(provider)
        if backend.available():
            continue  # its skip reason is tested where it is recorded
        backend.prepare(prepared)
        try:
            assert backend._session.get_providers()[0] == provider
            assert backend._session._enable_fallback is False
            got = backend.predict(jets.tracks, jets.svs)
            assert np.abs(got - expected).max() <= backend.tolerance, backend.config()
        finally:
            backend.close()
