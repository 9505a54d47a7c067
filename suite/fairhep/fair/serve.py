"""``fairhep serve``: a bundle served over the KServe v2 / Open Inference Protocol by MLServer.

MLServer (HTTP/REST and gRPC, the v2 protocol) runs in this process with one model, named by
the bundle's model id, whose class is :class:`fairhep.backends.kserve_model.OnnxRuntimeModel`
(ONNX Runtime on the CPU). The model settings carry the card's inputs and outputs with their
shapes, so ``GET /v2/models/<id>`` names what the card names. The server binds loopback
unless told otherwise, has no authentication (the protocol runs behind any proxy that adds
it), and keeps Prometheus metrics off unless ``--metrics-port`` is given.
"""

from __future__ import annotations

import asyncio
import importlib.util
import ipaddress
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from fairhep.errors import BackendUnavailable, ConfigError
from fairhep.fair import bundle as layout

MODEL_CLASS = "fairhep.backends.kserve_model.OnnxRuntimeModel"
DATATYPES = {"float32": "FP32"}


@dataclass(frozen=True)
class ServeOptions:
    host: str = "127.0.0.1"
    port: int = 8080
    grpc_port: int | None = None  # default: port + 1
    metrics_port: int | None = None  # None: no metrics endpoint

    @property
    def grpc(self) -> int:
        return self.grpc_port if self.grpc_port is not None else self.port + 1

    def check(self) -> None:
        ports = [self.port, self.grpc] + ([self.metrics_port] if self.metrics_port else [])
        if len(set(ports)) != len(ports) or not all(0 < p < 65536 for p in ports):
            raise ConfigError(f"--port {self.port}, --grpc-port {self.grpc}"
                              + (f", --metrics-port {self.metrics_port}"
                                 if self.metrics_port else "")
                              + ": give distinct ports between 1 and 65535")


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _tensors(entries: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [{"name": t["name"], "datatype": DATATYPES.get(t["dtype"], "FP32"),
             "shape": list(t["shape"])} for t in entries]


def settings(bndl: layout.Bundle, opts: ServeOptions, workdir: Path) -> tuple[Any, Any]:
    """MLServer's server settings and the model's settings for ``bndl``."""
    from mlserver.settings import ModelParameters, ModelSettings, Settings

    opts.check()
    server = Settings(
        debug=False, host=opts.host, http_port=opts.port, grpc_port=opts.grpc,
        metrics_endpoint="/metrics" if opts.metrics_port else None,
        metrics_port=opts.metrics_port or 0, parallel_workers=0,
        load_models_at_startup=False, model_repository_root=str(workdir),
        environments_dir=str(workdir / "envs"), metrics_dir=str(workdir / "metrics"),
        server_name="fairhep-mlserver",
    )
    model = ModelSettings(
        name=bndl.model_id, implementation=MODEL_CLASS,
        platform="onnxruntime", versions=[bndl.identifier],
        inputs=_tensors(bndl.card["inputs"]), outputs=_tensors(bndl.card["outputs"]),
        parameters=ModelParameters(uri=str(bndl.onnx.resolve()), version="1",
                                   extra={"identifier": bndl.identifier}),
    )
    return server, model


def serve(root: Path, opts: ServeOptions) -> int:
    """Check the options and the bundle, then serve it until interrupted (SIGINT/SIGTERM)."""
    opts.check()
    # The bundle first: a tampered one is refused whatever is installed here.
    root = Path(root)
    bndl = layout.open_bundle(root)
    if importlib.util.find_spec("mlserver") is None:
        raise BackendUnavailable("serve: mlserver is not installed; pip install "
                                 "'fairhep[serve]' (MLServer needs Python < 3.13)")
    # Imported only now: MLServer and tritonclient.grpc register the same protobuf package
    # ("inference"), so one process holds one of them; `validate --url` runs in another.
    from mlserver import MLServer
    with tempfile.TemporaryDirectory(prefix="fairhep-serve-") as tmp:
        server_settings, model_settings = settings(bndl, opts, Path(tmp))
        where = f"http://{opts.host}:{opts.port}"
        print(f"serving {bndl.model_id} ({bndl.identifier}) from {root} over the KServe v2 "
              f"protocol: {where}/v2/models/{bndl.model_id} and gRPC {opts.host}:{opts.grpc}"
              + (f"; metrics on :{opts.metrics_port}/metrics" if opts.metrics_port else ""),
              flush=True)
        if not is_loopback(opts.host):
            print(f"warning: --host {opts.host} is reachable from other machines and the server "
                  "has no authentication", file=sys.stderr, flush=True)
        async def main() -> None:
            # Built inside the running loop: MLServer ties its SIGINT/SIGTERM handlers to
            # the loop current at construction, and asyncio.run makes a new one.
            await MLServer(server_settings).start([model_settings])

        asyncio.run(main())
    return 0
