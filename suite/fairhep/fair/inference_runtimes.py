"""The runtimes ``fairhep validate`` runs a bundle's sample through, as
:class:`fairhep.backends.Backend` objects: the suite's backends (PyTorch from the bundle's
weights, ONNX Runtime with each execution provider, native TensorRT), the compiled C++
program (:class:`CompiledBackend`), and a KServe v2 server reached with tritonclient
(:class:`KServeBackend`, only with ``--url``). Neither of the last two imports onnxruntime:
one runs a subprocess, the other speaks HTTP or gRPC.
"""

from __future__ import annotations

import json
import subprocess
import tempfile
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

import numpy as np

from fairhep import schema
from fairhep.backends import Backend, PreparedModel, all_backends, select_backends
from fairhep.errors import BackendUnavailable, ConfigError
from fairhep.fair import cppbuild

RUN_TIMEOUT_S = 600


class CompiledBackend(Backend):
    """The C++ runner (ONNX Runtime C++ API, CPU), built with CMake on first use."""

    name = "cpp"
    provider = "CPUExecutionProvider"

    def __init__(self, cache_dir: Path, log: Callable[[str], None] | None = None) -> None:
        self.cache_dir = Path(cache_dir)
        self.log = log
        self._program: Path | None = None
        self._onnx: Path | None = None
        self.last_run: dict[str, Any] = {}  # the program's own report of its last run

    @property
    def label(self) -> str:
        return "cpp-onnxruntime"

    def available(self) -> str | None:
        return cppbuild.unavailable_reason()

    def prepare(self, model: PreparedModel) -> None:
        if model.onnx_path is None:
            raise BackendUnavailable("cpp: no ONNX file to run")
        self._program = cppbuild.build_runner(self.cache_dir, self.log)
        self._onnx = model.onnx_path

    def predict(self, tracks: np.ndarray, svs: np.ndarray) -> np.ndarray:
        return self.predict_batched(tracks, svs, len(tracks))

    def predict_batched(self, tracks: np.ndarray, svs: np.ndarray, batch: int) -> np.ndarray:
        """All jets in one process, in batches of ``batch`` (one session, as a C++ user
        would run it)."""
        if self._program is None or self._onnx is None:
            raise RuntimeError("prepare() the backend first")
        with tempfile.TemporaryDirectory(prefix="fairhep-cpp-") as tmp:
            folder = Path(tmp)
            np.save(folder / "tracks.npy", np.ascontiguousarray(tracks, np.float32))
            np.save(folder / "svs.npy", np.ascontiguousarray(svs, np.float32))
            cmd = [str(self._program), str(self._onnx), str(folder / "scores.npy"),
                   f"{schema.ONNX_INPUT_TRACKS}={folder / 'tracks.npy'}",
                   f"{schema.ONNX_INPUT_SVS}={folder / 'svs.npy'}",
                   "--output", schema.ONNX_OUTPUT, "--batch", str(batch)]
            done = subprocess.run(cmd, capture_output=True, text=True, timeout=RUN_TIMEOUT_S,
                                  check=False)
            if done.returncode != 0:
                raise RuntimeError(f"{self._program.name} exited {done.returncode}: "
                                   f"{done.stderr.strip() or done.stdout.strip()}")
            self.last_run = json.loads(done.stdout.strip().splitlines()[-1])
            return np.asarray(np.load(folder / "scores.npy"), np.float32)


class KServeBackend(Backend):
    """A model served over the KServe v2 / Open Inference Protocol, through tritonclient:
    ``http://HOST:PORT`` (JSON tensors: MLServer answers binary ones with HTTP 422) or
    ``grpc://HOST:PORT``."""

    name = "kserve"
    device = "remote"

    def __init__(self, url: str, model_name: str, card_inputs: Sequence[dict[str, Any]]) -> None:
        parsed = urlparse(url)
        if parsed.scheme not in ("http", "grpc") or not parsed.hostname or not parsed.port:
            raise ConfigError(f"--url {url!r}: give http://HOST:PORT or grpc://HOST:PORT")
        self.url, self.scheme = url, parsed.scheme
        self.address = f"{parsed.hostname}:{parsed.port}"
        self.model_name = model_name
        self.card_inputs = list(card_inputs)
        self._client: Any = None
        self._module: Any = None
        self.metadata: dict[str, Any] = {}

    @property
    def label(self) -> str:
        return f"kserve-v2-{self.scheme}"

    def available(self) -> str | None:
        try:
            self._import()
        except ImportError:
            return (f"tritonclient: module tritonclient.{self.scheme} not installed "
                    "(pip install 'fairhep[serve]')")
        return None

    def _import(self) -> Any:
        if self.scheme == "http":
            import tritonclient.http as module
        else:
            import tritonclient.grpc as module
        return module

    def prepare(self, model: PreparedModel) -> None:  # noqa: ARG002 - the server holds the model
        self._module = self._import()
        try:
            self._client = self._module.InferenceServerClient(self.address)
            ready = self._client.is_model_ready(self.model_name)
        except Exception as exc:  # connection refused, DNS, protocol errors
            raise BackendUnavailable(f"kserve: no server answers at {self.url} ({exc})") from exc
        if not ready:
            raise BackendUnavailable(f"kserve: {self.url} does not serve model {self.model_name}"
                                     " (is it serving another bundle?)")
        # The gRPC client answers a protobuf message unless asked for JSON.
        as_json = {"as_json": True} if self.scheme == "grpc" else {}
        meta = self._client.get_model_metadata(self.model_name, **as_json)
        self.metadata = meta
        served = {i["name"]: [int(d) for d in i["shape"]] for i in meta.get("inputs", [])}
        wanted = {i["name"]: list(i["shape"]) for i in self.card_inputs}
        if served != wanted:
            raise RuntimeError(f"the server's metadata names inputs {served}, the model card "
                               f"{wanted}")

    def predict(self, tracks: np.ndarray, svs: np.ndarray) -> np.ndarray:
        if self._client is None:
            raise RuntimeError("prepare() the backend first")
        m, binary = self._module, self.scheme != "http"
        inputs = []
        for name, given in ((schema.ONNX_INPUT_TRACKS, tracks), (schema.ONNX_INPUT_SVS, svs)):
            arr = np.ascontiguousarray(given, np.float32)
            i = m.InferInput(name, list(arr.shape), "FP32")
            if binary:
                i.set_data_from_numpy(arr)
            else:
                i.set_data_from_numpy(arr, binary_data=False)
            inputs.append(i)
        out = (m.InferRequestedOutput(schema.ONNX_OUTPUT) if binary else
               m.InferRequestedOutput(schema.ONNX_OUTPUT, binary_data=False))
        result = self._client.infer(self.model_name, inputs, outputs=[out])
        return np.asarray(result.as_numpy(schema.ONNX_OUTPUT), np.float32)

    def close(self) -> None:
        if self._client is not None:
            self._client.close()
        self._client = None


def local_runtimes(cache_dir: Path, log: Callable[[str], None] | None = None) -> list[Backend]:
    """Every runtime this machine might have, in the order validate runs them."""
    return [*all_backends(), CompiledBackend(cache_dir, log)]


def select(known: Sequence[Backend], names: Sequence[str]) -> list[Backend]:
    """``names`` (labels such as ``onnxruntime-cpu`` or families such as ``torch``, ``cpp``,
    ``kserve``); all of ``known`` when empty."""
    return select_backends(names, known, option="--runtimes")
