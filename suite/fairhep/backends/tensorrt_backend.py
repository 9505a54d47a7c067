"""Native TensorRT: build an engine from the ONNX export, run it with torch CUDA buffers.

Device memory and the CUDA stream come from torch (no pycuda needed): inputs are copied to
torch CUDA tensors, their pointers are bound with ``set_tensor_address`` and the engine runs
with ``execute_async_v3`` on a torch stream, then the result is copied back and the stream
synchronised. Needs TensorRT >= 8.6 (the named-tensor API).

Engines are cached by (ONNX file hash, GPU name, TensorRT version, precision, profile range):
a new export, another GPU model or another TensorRT version each build their own engine,
because an engine is only valid for the exact GPU and TensorRT it was built with.

A batch outside the engine's optimisation profile is refused by ``set_input_shape`` (it
returns False); that is raised at once with the profile's range, not left to surface as an
execution failure. With pinned host memory (the default on a GPU) the scores come back
through a pinned buffer.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from fairhep import schema
from fairhep.backends import pinned
from fairhep.backends.base import Backend, PreparedModel
from fairhep.backends.tf32 import tf32_state
from fairhep.backends.trtlibs import left_out_of_image
from fairhep.devices import cuda_unavailable_reason
from fairhep.errors import BackendUnavailable

MIN_VERSION = (8, 6)
WORKSPACE_BYTES = 2 << 30


def _trt() -> Any:
    import tensorrt

    return tensorrt


@functools.cache
def _logger() -> Any:
    """One logger per process: TensorRT warns when builder and runtime get different ones."""
    trt = _trt()
    return trt.Logger(trt.Logger.WARNING)


def tensorrt_unavailable_reason() -> str | None:
    """None when TensorRT can build and run engines here, else why not."""
    left_out = left_out_of_image()
    if left_out:
        return left_out
    try:
        trt = _trt()
    except ModuleNotFoundError as exc:
        if exc.name == "tensorrt":
            return "tensorrt: module not installed"
        return f"tensorrt: cannot be imported ({exc})"
    except ImportError as exc:  # installed, but its libraries do not load: say what the loader said
        return f"tensorrt: cannot be imported ({exc})"
    version = tuple(int(p) for p in trt.__version__.split(".")[:2])
    if version < MIN_VERSION:
        return (f"tensorrt: version {trt.__version__} is too old (need >= "
                f"{'.'.join(map(str, MIN_VERSION))} for the named-tensor API)")
    cuda = cuda_unavailable_reason()
    if cuda:
        return f"tensorrt: needs torch with CUDA for device buffers ({cuda})"
    return None


def _gpu_name() -> str:
    import torch

    return torch.cuda.get_device_name(torch.cuda.current_device())


def engine_path(onnx_path: Path, cache_dir: Path, precision: str,
                batch_sizes: Sequence[int]) -> Path:
    """Where the engine for this (ONNX, GPU, TensorRT, precision, batch range) is cached."""
    from fairhep.data.manifest import sha256_file

    trt = _trt()
    gpu = re.sub(r"[^A-Za-z0-9]+", "-", _gpu_name()).strip("-")
    name = (f"{sha256_file(onnx_path)[:16]}-{gpu}-trt{trt.__version__}-{precision}"
            f"-b{min(batch_sizes)}-{max(batch_sizes)}.engine")
    return Path(cache_dir) / "tensorrt" / name


def build_engine(
    onnx_path: Path,
    precision: str = "fp32",
    batch_sizes: Sequence[int] = (1, 128),
    cache_dir: Path = Path(".fairhep-cache"),
    out: Path | None = None,
) -> Path:
    """Build (or reuse from the cache) a serialised engine whose optimisation profile covers
    ``min(batch_sizes)``…``max(batch_sizes)``; returns its path."""
    reason = tensorrt_unavailable_reason()
    if reason:
        raise BackendUnavailable(reason)
    if precision not in ("fp32", "fp16"):
        raise ValueError(f"precision must be fp32 or fp16, not {precision!r}")
    cached = engine_path(onnx_path, cache_dir, precision, batch_sizes)
    if cached.is_file():
        if out is not None and Path(out) != cached:
            Path(out).write_bytes(cached.read_bytes())
            return Path(out)
        return cached

    trt = _trt()
    logger = _logger()
    builder = trt.Builder(logger)
    major = int(trt.__version__.split(".")[0])
    # TensorRT 10 networks are always explicit-batch; 8.x must be told.
    flags = 0 if major >= 10 else 1 << int(trt.NetworkDefinitionCreationFlag.EXPLICIT_BATCH)
    network = builder.create_network(flags)
    parser = trt.OnnxParser(network, logger)
    if not parser.parse(Path(onnx_path).read_bytes()):
        errors = "; ".join(str(parser.get_error(i)) for i in range(parser.num_errors))
        raise BackendUnavailable(f"tensorrt: cannot parse {onnx_path}: {errors}")
    config = builder.create_builder_config()
    config.set_memory_pool_limit(trt.MemoryPoolType.WORKSPACE, WORKSPACE_BYTES)
    if precision == "fp16":
        config.set_flag(trt.BuilderFlag.FP16)
    else:
        # TF32 is on by default in TensorRT; fp32 here means full fp32.
        config.clear_flag(trt.BuilderFlag.TF32)
    lo, hi = min(batch_sizes), max(batch_sizes)
    opt = int(np.median(list(batch_sizes)))
    profile = builder.create_optimization_profile()
    for name, shape in ((schema.ONNX_INPUT_TRACKS, schema.TRACK_SHAPE),
                        (schema.ONNX_INPUT_SVS, schema.SV_SHAPE)):
        profile.set_shape(name, (lo, *shape), (opt, *shape), (hi, *shape))
    config.add_optimization_profile(profile)
    serialized = builder.build_serialized_network(network, config)
    if serialized is None:
        raise BackendUnavailable(f"tensorrt: engine build failed for {onnx_path} "
                                 f"({precision}, batch {lo}-{hi}); see the TensorRT log above")
    target = Path(out) if out is not None else cached
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.with_name(f".{target.name}.tmp")
    tmp.write_bytes(bytes(serialized))
    tmp.replace(target)
    if out is not None and target != cached:
        cached.parent.mkdir(parents=True, exist_ok=True)
        cached.write_bytes(target.read_bytes())
    return target


class ProfileError(RuntimeError):
    """A batch shape the engine's optimisation profile does not cover."""


def bind_input_shape(context: Any, engine: Any, name: str, shape: tuple[int, ...]) -> None:
    """``context.set_input_shape`` that raises, with the profile's range, when TensorRT
    refuses the shape (it returns False instead of raising)."""
    if context.set_input_shape(name, shape):
        return
    lo, opt, hi = (tuple(s) for s in engine.get_tensor_profile_shape(name, 0))
    raise ProfileError(
        f"tensorrt: input {name} of shape {shape} is outside the engine's optimisation "
        f"profile (min {lo}, opt {opt}, max {hi}); build the engine for batch sizes "
        f"{lo[0]}-{max(hi[0], shape[0])}")


class TensorRTBackend(Backend):
    name = "tensorrt"
    device = "cuda"

    def __init__(self, precision: str = "fp32") -> None:
        if precision not in ("fp32", "fp16"):
            raise ValueError(f"precision must be fp32 or fp16, not {precision!r}")
        self.precision = precision
        self._context: Any = None
        self._engine: Any = None
        self._stream: Any = None

    @property
    def label(self) -> str:
        return f"{self.name}-{self.precision}"

    def available(self) -> str | None:
        return tensorrt_unavailable_reason()

    def extra_config(self) -> dict[str, object]:
        try:
            version: str | None = str(_trt().__version__)
        except ImportError:
            version = None
        tf32 = ({"enabled": False, "how": "BuilderFlag.TF32 cleared for the fp32 engine"}
                if self.precision == "fp32" else tf32_state())
        return {"tensorrt_version": version, "tf32": tf32}

    def prepare(self, model: PreparedModel) -> None:
        reason = self.available()
        if reason:
            raise BackendUnavailable(reason)
        if model.onnx_path is None:
            raise BackendUnavailable("tensorrt: no ONNX file was exported for this run")
        import torch

        trt = _trt()
        path = build_engine(model.onnx_path, self.precision, model.batch_sizes, model.cache_dir)
        runtime = trt.Runtime(_logger())
        self._engine = runtime.deserialize_cuda_engine(path.read_bytes())
        if self._engine is None:
            raise BackendUnavailable(f"tensorrt: cannot deserialise engine {path}")
        self._context = self._engine.create_execution_context()
        # torch.cuda.Stream.__new__ carries no annotations in torch itself.
        self._stream = torch.cuda.Stream()  # type: ignore[no-untyped-call]

    def predict(self, tracks: np.ndarray, svs: np.ndarray) -> np.ndarray:
        if self._context is None:
            raise RuntimeError("prepare() the backend first")
        import torch

        ctx, n = self._context, len(tracks)
        host = {schema.ONNX_INPUT_TRACKS: np.ascontiguousarray(tracks, np.float32),
                schema.ONNX_INPUT_SVS: np.ascontiguousarray(svs, np.float32)}
        for name, array in host.items():  # before any copy: a refused shape costs nothing
            bind_input_shape(ctx, self._engine, name, tuple(array.shape))
        with torch.cuda.stream(self._stream):
            out = torch.empty((n, len(schema.CLASSES)), dtype=torch.float32, device="cuda")
            inputs = {name: torch.from_numpy(a).to("cuda", non_blocking=True)
                      for name, a in host.items()}  # alive until the stream is synchronised
            for name, tensor in inputs.items():
                ctx.set_tensor_address(name, tensor.data_ptr())
            ctx.set_tensor_address(schema.ONNX_OUTPUT, out.data_ptr())
            if not ctx.execute_async_v3(self._stream.cuda_stream):
                raise RuntimeError(f"tensorrt: execution failed for batch {n}")
            result = torch.empty(out.shape, dtype=out.dtype,
                                 pin_memory=self.host_memory == pinned.PINNED)
            result.copy_(out, non_blocking=True)  # D2H on the same stream
        self._stream.synchronize()
        return result.numpy()

    def close(self) -> None:
        self._context = self._engine = self._stream = None
