"""``fairhep serve``: a bundle over the KServe v2 / Open Inference Protocol (MLServer)."""

from __future__ import annotations

import argparse
from pathlib import Path

from fairhep.cli import Subparsers


def register(sub: Subparsers) -> None:
    p = sub.add_parser(
        "serve", help="serve a model bundle over the KServe v2 / Open Inference Protocol",
        description="Checks SHA256SUMS, then serves model.onnx with MLServer (HTTP/REST and "
        "gRPC, the v2 protocol) and fairhep's ONNX Runtime model class, as the bundle's model "
        "id: GET /v2/models/<id> names the model card's inputs and shapes, POST "
        "/v2/models/<id>/infer scores jets. Binds loopback by default; no authentication. "
        "`fairhep validate DIR --url http://HOST:PORT` checks it. Ctrl-C or SIGTERM stops it. "
        "Requests are held to the metadata (names, FP32, shapes, at most --max-batch jets); a "
        "bad one gets 400/404/422 with a JSON {\"error\": ...} body. Tensors travel as JSON: "
        "the binary tensor data extension is not supported (tritonclient: binary_data=False).",
    )
    p.add_argument("bundle", type=Path, metavar="DIR", help="bundle from `fairhep package`")
    p.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1)")
    p.add_argument("--port", type=int, default=8080, help="HTTP port (default 8080)")
    p.add_argument("--grpc-port", type=int, help="gRPC port (default: --port + 1)")
    p.add_argument("--metrics-port", type=int,
                   help="serve Prometheus metrics on this port (default: off)")
    p.add_argument("--max-batch", type=int, metavar="N",
                   help="refuse requests of more than N jets (default: the bundle's Triton "
                   "max_batch_size)")
    p.set_defaults(func=_run)


def _run(args: argparse.Namespace) -> int:
    from fairhep.fair.serve import ServeOptions, serve

    return serve(args.bundle, ServeOptions(args.host, args.port, args.grpc_port,
                                           args.metrics_port, args.max_batch))
