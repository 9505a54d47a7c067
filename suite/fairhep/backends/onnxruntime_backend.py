"""ONNX Runtime inference with one execution provider (CPU, CUDA or TensorRT EP).

ONNX Runtime's Python wrapper falls back to other providers, silently, twice over: when a GPU
provider cannot start (no driver, missing CUDA or TensorRT libraries) it builds the session
on the next ones, and when a provider fails during ``run`` (an out-of-memory at a large
batch, an enqueue error) it switches the session to the CPU and retries, so every later batch
would be a CPU timing under a GPU label. Here both fallbacks are off (``enable_fallback=0``,
``disable_fallback()``): a provider that cannot start is reported with ONNX Runtime's own
error, one that fails while running raises :class:`ExecutionProviderFailed` and the row is
recorded as failed; the session's providers are still checked after creation.

The TensorRT EP needs TensorRT's libraries loadable before its session is made, which the pip
wheels only arrange on ``import tensorrt``: :mod:`fairhep.backends.trtlibs` loads them
whatever was imported first. Its fp32 may be TF32 (:mod:`fairhep.backends.tf32`): the row's
precision then says ``tf32``, with that tolerance.
"""

from __future__ import annotations

import contextlib
from pathlib import Path
from typing import Any

import numpy as np

from fairhep import schema
from fairhep.backends.base import Backend, PreparedModel
from fairhep.backends.tf32 import tf32_forced_off, tf32_state
from fairhep.backends.trtlibs import left_out_of_image, load_tensorrt_libraries
from fairhep.devices import cuda_unavailable_reason
from fairhep.errors import BackendUnavailable

TRT_EP = "TensorrtExecutionProvider"

DEVICE_OF_PROVIDER = {
    "CPUExecutionProvider": ("cpu", "cpu"),
    "CUDAExecutionProvider": ("cuda", "cuda"),
    "TensorrtExecutionProvider": ("cuda", "tensorrt-ep"),
}


def _ort() -> Any:
    import onnxruntime

    return onnxruntime


def onnxruntime_unavailable_reason() -> str | None:
    try:
        _ort()
    except ImportError:
        return "onnxruntime: module not installed"
    return None


def compiled_providers() -> list[str]:
    """The execution providers this ONNX Runtime build has compiled in (listed whether or not
    a GPU or their libraries are here); empty when ONNX Runtime is not installed."""
    if onnxruntime_unavailable_reason() is not None:
        return []
    return list(_ort().get_available_providers())


def _version_tuple(text: str) -> tuple[int, ...]:
    return tuple(int(p) for p in text.split(".")[:2] if p.isdigit())


def preload_cuda_libraries() -> None:
    """Load CUDA's and cuDNN's user-space libraries from the ``nvidia-*-cu12`` pip packages
    (torch's CUDA wheel brings them), as ONNX Runtime >= 1.21 can: otherwise its CUDA provider
    finds them only on ``LD_LIBRARY_PATH``, which an image built on a plain Python base lacks.
    Older ONNX Runtimes (and a failed preload) leave it to the loader, whose own error the
    session then reports."""
    preload = getattr(_ort(), "preload_dlls", None)
    if preload is not None:
        with contextlib.suppress(Exception):  # e.g. no nvidia packages: the loader decides
            preload(cuda=True, cudnn=True, msvc=False)


class ExecutionProviderFailed(RuntimeError):
    """A GPU provider failed while running; with the fallback off nothing retried it."""


def _ep_failure_types(ort: Any) -> tuple[type[BaseException], ...]:
    fail = getattr(getattr(ort.capi, "onnxruntime_pybind11_state", None), "EPFail", None)
    return (fail,) if isinstance(fail, type) and issubclass(fail, BaseException) else ()


class OnnxRuntimeBackend(Backend):
    name = "onnxruntime"

    def __init__(self, provider: str = "CPUExecutionProvider", precision: str = "fp32") -> None:
        if provider not in DEVICE_OF_PROVIDER:
            raise ValueError(f"unknown execution provider {provider!r}")
        if precision == "fp16" and provider != "TensorrtExecutionProvider":
            raise ValueError("fp16 needs the TensorRT execution provider")
        self.provider = provider
        self.device, self._suffix = DEVICE_OF_PROVIDER[provider]
        self.precision = precision
        self._session: Any = None

    @property
    def precision(self) -> str:
        """What the row measures: ``tf32`` for a TensorRT EP fp32 row whose TF32 could not be
        forced off (the EP has no option for it), else the precision asked for."""
        if self._precision == "fp32" and self.provider == TRT_EP and not tf32_forced_off():
            return "tf32"
        return self._precision

    @precision.setter
    def precision(self, value: str) -> None:
        self._precision = value

    @property
    def label(self) -> str:
        # The precision asked for names the row; a TF32 row keeps its name and says "tf32".
        base = f"{self.name}-{self._suffix}"
        return base if self._precision == "fp32" else f"{base}-{self._precision}"

    def available(self) -> str | None:
        reason = onnxruntime_unavailable_reason()
        if reason:
            return reason
        providers = _ort().get_available_providers()
        if self.provider not in providers:
            return (f"onnxruntime: {self.provider} not in this build "
                    f"(has {', '.join(providers)})")
        if self.provider == TRT_EP:
            left_out = left_out_of_image()
            if left_out:
                return f"onnxruntime: {TRT_EP} needs TensorRT. {left_out}"
            libs = load_tensorrt_libraries()
            if libs.error:
                return f"onnxruntime: {TRT_EP} cannot load TensorRT: {libs.error}"
        if self.provider != "CPUExecutionProvider":
            # Asked for without a GPU, onnxruntime-gpu 1.22 crashes the process (SIGSEGV) once
            # CUDA's libraries are loaded (by torch or its preload) instead of failing.
            cuda = cuda_unavailable_reason()
            if cuda:
                return f"onnxruntime: {self.provider} needs a CUDA GPU ({cuda})"
        return None

    def extra_config(self) -> dict[str, object]:
        extra: dict[str, object] = {"fallback": "disabled"}
        if onnxruntime_unavailable_reason() is None:
            extra["onnxruntime_version"] = str(_ort().__version__)
        if self.provider == TRT_EP:
            extra["tf32"] = tf32_state()
            if self.available() is None:
                extra["tensorrt_library"] = load_tensorrt_libraries().as_dict()
        elif self.provider == "CUDAExecutionProvider" and onnxruntime_unavailable_reason() is None:
            extra["tf32"] = (
                {"enabled": False, "how": "CUDA EP option use_tf32=0"} if self._use_tf32_option()
                else tf32_state())
        return extra

    def _use_tf32_option(self) -> bool:
        return _version_tuple(_ort().__version__) >= (1, 18)

    def _provider_options(self, model: PreparedModel) -> dict[str, str]:
        if self.provider == "CUDAExecutionProvider":
            # fp32 means fp32: ORT >= 1.18 may use TF32 matmuls on Ampere+ unless told not to.
            return {"use_tf32": "0"} if self._use_tf32_option() else {}
        if self.provider == TRT_EP:
            lo, hi = min(model.batch_sizes), max(model.batch_sizes)
            opt = int(np.median(model.batch_sizes))

            def shapes(b: int) -> str:
                t = "x".join(str(d) for d in (b, *schema.TRACK_SHAPE))
                s = "x".join(str(d) for d in (b, *schema.SV_SHAPE))
                return f"{schema.ONNX_INPUT_TRACKS}:{t},{schema.ONNX_INPUT_SVS}:{s}"

            # One cache per precision: an engine built with TF32 must not serve an fp32 row
            # (the EP's cache names do not say which math the engine was built with).
            cache = Path(model.cache_dir) / "ort-tensorrt" / self.precision
            cache.mkdir(parents=True, exist_ok=True)
            return {
                "trt_fp16_enable": "True" if self.precision == "fp16" else "False",
                "trt_engine_cache_enable": "True",
                "trt_engine_cache_path": str(cache),
                "trt_profile_min_shapes": shapes(lo),
                "trt_profile_opt_shapes": shapes(opt),
                "trt_profile_max_shapes": shapes(hi),
            }
        return {}

    def prepare(self, model: PreparedModel) -> None:
        reason = self.available()
        if reason:
            raise BackendUnavailable(reason)
        if model.onnx_path is None:
            raise BackendUnavailable("onnxruntime: no ONNX file was exported for this run")
        ort = _ort()
        if self.provider != "CPUExecutionProvider":
            preload_cuda_libraries()
        opts = ort.SessionOptions()
        opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        opts.log_severity_level = 3  # errors only: EP fallbacks are checked below
        providers: list[Any] = [(self.provider, self._provider_options(model))]
        # Nodes an EP does not take are placed on the next one in the list (a partition,
        # decided once when the session is made: not the wrapper's fallback).
        if self.provider == TRT_EP and "CUDAExecutionProvider" in ort.get_available_providers():
            providers.append("CUDAExecutionProvider")
        if self.provider != "CPUExecutionProvider":
            providers.append("CPUExecutionProvider")
        try:
            session = ort.InferenceSession(str(model.onnx_path), opts, providers=providers,
                                           enable_fallback=0)
        except Exception as exc:  # ORT raises its own Fail/RuntimeException types
            first = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
            raise BackendUnavailable(
                f"onnxruntime: {self.provider} could not start a session ({first})"
            ) from exc
        session.disable_fallback()
        active = session.get_providers()
        if not active or active[0] != self.provider:
            raise BackendUnavailable(
                f"onnxruntime: {self.provider} could not be initialised here; the session "
                f"has {', '.join(active)} (see ONNX Runtime's warning above for why)"
            )
        self._session = session

    def predict(self, tracks: np.ndarray, svs: np.ndarray) -> np.ndarray:
        if self._session is None:
            raise RuntimeError("prepare() the backend first")
        # Host arrays in, host array out: ORT does the H2D/D2H copies inside run(), which
        # returns only when the result is on the host (from pinned inputs, one DMA each).
        feed = {schema.ONNX_INPUT_TRACKS: np.ascontiguousarray(tracks, np.float32),
                schema.ONNX_INPUT_SVS: np.ascontiguousarray(svs, np.float32)}
        try:
            out = self._session.run([schema.ONNX_OUTPUT], feed)
        except _ep_failure_types(_ort()) as exc:
            first = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
            raise ExecutionProviderFailed(
                f"onnxruntime: {self.provider} failed at batch {len(tracks)} ({first}); not "
                "retried on another provider") from exc
        return np.asarray(out[0])

    def close(self) -> None:
        self._session = None
