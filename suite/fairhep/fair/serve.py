"""``fairhep serve``: a bundle served over the KServe v2 / Open Inference Protocol by MLServer.

MLServer (HTTP/REST and gRPC, the v2 protocol) runs in this process with one model, named by
the bundle's model id, whose class is :class:`fairhep.backends.kserve_model.OnnxRuntimeModel`
(ONNX Runtime on the CPU). The model settings carry the card's inputs and outputs with their
shapes, so ``GET /v2/models/<id>`` names what the card names. The server binds loopback
unless told otherwise, has no authentication (the protocol runs behind any proxy that adds
it), and keeps Prometheus metrics off unless ``--metrics-port`` is given.

Two graphs, two versions: a bundle of a trained run serves its fast graph
(``model-fast.onnx``, version ``<identifier>-fast``, :func:`fairhep.fair.bundle.fast_version`)
and its dense graph (``model.onnx``, version ``<identifier>``, the paper's form); a request that
names no version gets the fast one (MLServer serves the newest version by default, and the fast
version sorts after the dense one). A foreign ONNX has no fast graph: one line says so and
the dense graph is served alone. The metadata's ``parameters.graph_form`` says which form
answers.

Conformance (the Open Inference Protocol as the metadata states it): the versions served are
the ones advertised (``/v2/models/<id>/versions/sha256:…``; the unversioned paths reach the
default one). Every request is checked against the metadata by the model
class (:func:`fairhep.backends.kserve_model.check_request`), at most ``max_batch`` jets each
(the bundle's Triton ``max_batch_size`` unless ``--max-batch`` says otherwise). A request the
protocol layer cannot parse (not JSON, or tritonclient's binary tensor data extension, which
this server does not implement) gets 422 with the same ``{"error": ...}`` body as the model's
400s, not FastAPI's ``{"detail": ...}``. A port in use is one line before "serving" is printed;
SIGINT and SIGTERM end it without a traceback.
"""

from __future__ import annotations

import asyncio
import contextlib
import importlib.util
import ipaddress
import logging
import re
import socket
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from fairhep.errors import BackendUnavailable, ConfigError
from fairhep.fair import bundle as layout
from fairhep.fair.render import TRITON_MAX_BATCH

MODEL_CLASS = "fairhep.backends.kserve_model.OnnxRuntimeModel"
DATATYPES = {"float32": "FP32"}


@dataclass(frozen=True)
class ServeOptions:
    host: str = "127.0.0.1"
    port: int = 8080
    grpc_port: int | None = None  # default: port + 1
    metrics_port: int | None = None  # None: no metrics endpoint
    max_batch: int | None = None  # jets per request; None: the bundle's (Triton config)

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
        if self.max_batch is not None and self.max_batch < 1:
            raise ConfigError(f"--max-batch must be at least 1, got {self.max_batch}")

    def ports(self) -> list[tuple[str, int]]:
        return [("--port", self.port), ("--grpc-port", self.grpc)] + (
            [("--metrics-port", self.metrics_port)] if self.metrics_port else [])


class PortInUse(ConfigError):
    """A port the server needs is taken (or may not be bound) on its host."""


def check_ports_free(opts: ServeOptions) -> None:
    """Bind each port as the servers will (SO_REUSEADDR, as uvicorn and gRPC do) and let go,
    so a taken one is one line now, not a traceback after "serving" has been printed."""
    family = socket.AF_INET6 if ":" in opts.host else socket.AF_INET
    for flag, port in opts.ports():
        with socket.socket(family, socket.SOCK_STREAM) as s:
            s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            try:
                s.bind((opts.host, port))
            except OSError as exc:
                raise PortInUse(f"{flag} {port}: cannot listen on {opts.host}:{port} "
                                f"({exc.strerror}); stop what uses it or give another "
                                f"{flag}") from None


BINARY_HEADER = "inference-header-content-length"  # tritonclient's binary tensor data


def install_error_bodies() -> None:
    """Give MLServer's REST app ``{"error": ...}`` bodies for what fails before the model
    sees a request (FastAPI's validation: 422; Starlette's unknown paths: 404). MLServer
    takes its handlers from this table when it builds the app, so it is filled in first."""
    from fastapi.exceptions import RequestValidationError
    from mlserver.rest import errors
    from mlserver.rest.responses import Response
    from starlette.exceptions import HTTPException
    from starlette.requests import Request

    async def invalid(request: Request, exc: RequestValidationError) -> Response:
        if BINARY_HEADER in request.headers:
            why = ("binary tensor data (the v2 binary extension) is not supported by this "
                   "server; send the tensors as JSON (tritonclient: binary_data=False)")
        else:
            why = "the body is not a v2 inference request: " + "; ".join(
                f"{'.'.join(str(p) for p in e.get('loc', ()))}: {e.get('msg')}"
                for e in exc.errors()[:3])
        return Response(status_code=422, content={"error": why})

    async def http_error(request: Request, exc: HTTPException) -> Response:
        return Response(status_code=exc.status_code,
                        content={"error": f"{request.method} {request.url.path}: {exc.detail}"})

    errors._EXCEPTION_HANDLERS[RequestValidationError] = invalid
    errors._EXCEPTION_HANDLERS[HTTPException] = http_error


def _not_a_cancellation(record: logging.LogRecord) -> bool:
    """False for the log of a cancelled task (uvicorn logs the lifespan's formatted
    traceback as the message, so its last line names the exception)."""
    lines = record.getMessage().strip().splitlines()
    return not (lines and lines[-1].endswith("CancelledError"))


def max_batch_of(bndl: layout.Bundle) -> int:
    """The bundle's maximum batch per request: ``max_batch_size`` of its Triton config (the
    same figure Triton would serve it with), else the packager's default."""
    config = bndl.root / layout.TRITON_DIR / bndl.model_id / "config.pbtxt"
    found = re.search(r"^max_batch_size:\s*(\d+)", config.read_text(), re.M) \
        if config.is_file() else None
    return int(found.group(1)) if found and int(found.group(1)) > 0 else TRITON_MAX_BATCH


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


def served_graphs(bndl: layout.Bundle) -> list[tuple[str, str, Path]]:
    """(version, graph form, file) of each graph served, the default (the fast one when the
    bundle has it) first."""
    dense = (bndl.identifier, "dense", bndl.onnx)
    if bndl.fast_onnx is None:
        return [dense]
    return [(layout.fast_version(bndl.identifier), "fast", bndl.fast_onnx), dense]


def settings(bndl: layout.Bundle, opts: ServeOptions, workdir: Path) -> tuple[Any, Any]:
    """MLServer's server settings and the default model's settings for ``bndl``
    (:func:`all_settings` gives every version's)."""
    server, models = all_settings(bndl, opts, workdir)
    return server, models[0]


def all_settings(bndl: layout.Bundle, opts: ServeOptions,
                 workdir: Path) -> tuple[Any, list[Any]]:
    """MLServer's server settings and one model settings per served graph, default first."""
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
    graphs = served_graphs(bndl)
    # The versions advertised are the ones served: the identifier, and its fast form.
    versions = [v for v, _, _ in graphs]
    models = [ModelSettings(
        name=bndl.model_id, implementation=MODEL_CLASS,
        platform="onnxruntime", versions=versions,
        inputs=_tensors(bndl.card["inputs"]), outputs=_tensors(bndl.card["outputs"]),
        parameters=ModelParameters(uri=str(path.resolve()), version=version,
                                   extra={"identifier": bndl.identifier, "graph_form": form,
                                          "max_batch": opts.max_batch or max_batch_of(bndl)}),
    ) for version, form, path in graphs]
    return server, models


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
    check_ports_free(opts)
    from mlserver import MLServer

    install_error_bodies()
    with tempfile.TemporaryDirectory(prefix="fairhep-serve-") as tmp:
        server_settings, models = all_settings(bndl, opts, Path(tmp))
        where = f"http://{opts.host}:{opts.port}"
        print(f"serving {bndl.model_id} ({bndl.identifier}) from {root} over the KServe v2 "
              f"protocol: {where}/v2/models/{bndl.model_id} and gRPC {opts.host}:{opts.grpc}, "
              f"at most {models[0].parameters.extra['max_batch']} jets per request"
              + (f"; metrics on :{opts.metrics_port}/metrics" if opts.metrics_port else ""),
              flush=True)
        print("  versions: " + "; ".join(
            f"{m.parameters.version} ({m.parameters.extra['graph_form']} graph, "
            f"{Path(m.parameters.uri).name}{', the default' if i == 0 else ''})"
            for i, m in enumerate(models)), flush=True)
        if bndl.fast_onnx is None:
            print(f"  {layout.FAST_ABSENT}", flush=True)
        if not is_loopback(opts.host):
            print(f"warning: --host {opts.host} is reachable from other machines and the server "
                  "has no authentication", file=sys.stderr, flush=True)
        # uvicorn's lifespan task is still waiting when the loop closes after a stop; its
        # cancellation is logged as an error with a traceback, though nothing went wrong.
        logging.getLogger("uvicorn.error").addFilter(_not_a_cancellation)

        async def main() -> None:
            # Built inside the running loop: MLServer ties its SIGINT/SIGTERM handlers to
            # the loop current at construction, and asyncio.run makes a new one.
            await MLServer(server_settings).start(models)

        # MLServer stops itself on SIGINT/SIGTERM; what is still pending then is cancelled,
        # which is the end asked for, not an error to show.
        with contextlib.suppress(KeyboardInterrupt, asyncio.CancelledError):
            asyncio.run(main())
    print(f"stopped serving {bndl.model_id}", flush=True)
    return 0
