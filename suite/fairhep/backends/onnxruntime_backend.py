"""ONNX Runtime inference with one execution provider (CPU, CUDA or TensorRT EP).

ONNX Runtime falls back to the CPU, silently, when a GPU provider is listed but cannot start
(no driver, no GPU, missing CUDA libraries); :meth:`OnnxRuntimeBackend.prepare` checks the
session's providers afterwards and reports that as unavailable instead of timing the CPU
under a GPU label.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from fairhep import schema
from fairhep.backends.base import Backend, PreparedModel
from fairhep.errors import BackendUnavailable

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


def _version_tuple(text: str) -> tuple[int, ...]:
    return tuple(int(p) for p in text.split(".")[:2] if p.isdigit())


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
    def label(self) -> str:
        base = f"{self.name}-{self._suffix}"
        return base if self.precision == "fp32" else f"{base}-{self.precision}"

    def available(self) -> str | None:
        reason = onnxruntime_unavailable_reason()
        if reason:
            return reason
        providers = _ort().get_available_providers()
        if self.provider not in providers:
            return (f"onnxruntime: {self.provider} not in this build "
                    f"(has {', '.join(providers)})")
        return None

    def _provider_options(self, model: PreparedModel) -> dict[str, str]:
        if self.provider == "CUDAExecutionProvider":
            # fp32 means fp32: ORT >= 1.18 may use TF32 matmuls on Ampere+ unless told not to.
            if _version_tuple(_ort().__version__) >= (1, 18):
                return {"use_tf32": "0"}
            return {}
        if self.provider == "TensorrtExecutionProvider":
            lo, hi = min(model.batch_sizes), max(model.batch_sizes)
            opt = int(np.median(model.batch_sizes))

            def shapes(b: int) -> str:
                t = "x".join(str(d) for d in (b, *schema.TRACK_SHAPE))
                s = "x".join(str(d) for d in (b, *schema.SV_SHAPE))
                return f"{schema.ONNX_INPUT_TRACKS}:{t},{schema.ONNX_INPUT_SVS}:{s}"

            cache = Path(model.cache_dir) / "ort-tensorrt"
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
        opts = ort.SessionOptions()
        opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        opts.log_severity_level = 3  # errors only: EP fallbacks are checked below
        providers: list[Any] = [(self.provider, self._provider_options(model))]
        # Nodes an EP does not take fall back to the next one in the list.
        if (self.provider == "TensorrtExecutionProvider"
                and "CUDAExecutionProvider" in ort.get_available_providers()):
            providers.append("CUDAExecutionProvider")
        if self.provider != "CPUExecutionProvider":
            providers.append("CPUExecutionProvider")
        try:
            session = ort.InferenceSession(str(model.onnx_path), opts, providers=providers)
        except Exception as exc:  # ORT raises its own Fail/RuntimeException types
            raise BackendUnavailable(
                f"onnxruntime: {self.provider} could not start a session ({exc})"
            ) from exc
        active = session.get_providers()
        if not active or active[0] != self.provider:
            raise BackendUnavailable(
                f"onnxruntime: {self.provider} could not be initialised here (no GPU or "
                f"driver?); the session fell back to {', '.join(active)}"
            )
        self._session = session

    def predict(self, tracks: np.ndarray, svs: np.ndarray) -> np.ndarray:
        if self._session is None:
            raise RuntimeError("prepare() the backend first")
        # Host arrays in, host array out: ORT does the H2D/D2H copies inside run(), which
        # returns only when the result is on the host.
        out = self._session.run(
            [schema.ONNX_OUTPUT],
            {
                schema.ONNX_INPUT_TRACKS: np.ascontiguousarray(tracks, np.float32),
                schema.ONNX_INPUT_SVS: np.ascontiguousarray(svs, np.float32),
            },
        )
        return np.asarray(out[0])

    def close(self) -> None:
        self._session = None
