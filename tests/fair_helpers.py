"""Helpers of the FAIR-bundle tests (tests/fair): sample sizes, a server process, and an
ONNX file written the way the FAIR repository exported its IN: the interaction-matrix
form (R_R, R_S, R_K, R_V as constant matrices and matmuls, no einsum), softmax inside, the
TorchScript exporter at opset 11, inputs input_cpf / input_sv and output output1 with a
``batch_size`` axis, and no metadata at all: a file fairhep did not write."""

from __future__ import annotations

import importlib.util
import inspect
import os
import socket
import subprocess
import sys
import time
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import torch

from fairhep.fair.bundle import open_bundle
from fairhep.model import InteractionNetwork, interaction_matrices

RUN_SAMPLE_JETS = 20  # of the 24 jets the run's points split keeps out of training (10 % of 240)
FOREIGN_SAMPLE_JETS = 16  # ONNX's reference evaluator scores the FAIR form slowly
SMALL: dict[str, Any] = {"hidden": 8, "de": 4, "do": 4}


class FairExportedIN(torch.nn.Module):
    def __init__(self, net: InteractionNetwork) -> None:
        super().__init__()
        self.net = net
        for name, m in interaction_matrices(net.config.n_tracks, net.config.n_svs).items():
            self.register_buffer(name, m)

    def forward(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        n = self.net
        r_r, r_s, r_k, r_v = (self.get_buffer(k) for k in ("R_R", "R_S", "R_K", "R_V"))
        e = torch.cat([x @ r_r, x @ r_s], dim=1).transpose(1, 2)
        for layer in (n.fr1, n.fr2, n.fr3):
            e = torch.relu(layer(e))
        e_pp = e.transpose(1, 2) @ r_r.T
        f = torch.cat([x @ r_k, y @ r_v], dim=1).transpose(1, 2)
        for layer in (n.fr1_pv, n.fr2_pv, n.fr3_pv):
            f = torch.relu(layer(f))
        e_vp = f.transpose(1, 2) @ r_k.T
        c = torch.cat([x, e_pp, e_vp], dim=1).transpose(1, 2)
        for layer in (n.fo1, n.fo2, n.fo3):
            c = torch.relu(layer(c))
        return torch.softmax(n.fc_fixed(c.sum(dim=1)), dim=1)


def write_fair_export(net: InteractionNetwork, path: Path) -> Path:
    import warnings

    example = (torch.zeros(2, 30, 60), torch.zeros(2, 14, 5))
    axes = {name: {0: "batch_size"} for name in ("input_cpf", "input_sv", "output1")}
    # The TorchScript exporter, as the paper used; torch < 2.5 has no other (nor `dynamo=`).
    has_dynamo = "dynamo" in inspect.signature(torch.onnx.export).parameters
    legacy: dict[str, Any] = {"dynamo": False} if has_dynamo else {}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(FairExportedIN(net.eval()), example, str(path), opset_version=11,
                          input_names=["input_cpf", "input_sv"], output_names=["output1"],
                          dynamic_axes=axes, **legacy)
    return path


# find_spec, not an import: MLServer and tritonclient.grpc cannot live in one process (they
# register the same protobuf package); the server runs in its own.
needs_serve = pytest.mark.skipif(
    importlib.util.find_spec("mlserver") is None or importlib.util.find_spec("tritonclient")
    is None, reason="mlserver or tritonclient not installed (pip install 'fairhep[serve]')")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class Server:
    process: subprocess.Popen[str]
    http: str
    grpc: str
    model_id: str
    log: Path

    def stop(self) -> None:
        """SIGTERM, and SIGKILL if it does not stop within 30 s."""
        self.process.terminate()
        try:
            self.process.wait(30)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()


def start_server(bundle: Path, log: Path, *extra: str) -> Server:
    """`fairhep serve` (with ``extra`` options) as its own process on free loopback ports,
    once it answers ready."""
    port, grpc = free_port(), free_port()
    cmd = [sys.executable, "-c", "import sys; from fairhep.cli import main; sys.exit(main())",
           "serve", str(bundle), "--port", str(port), "--grpc-port", str(grpc), *extra]
    out = open(log, "w")  # noqa: SIM115 - the server writes into it while it lives
    proc = subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT, text=True,
                            env={**os.environ, "OMP_NUM_THREADS": "1"})
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise AssertionError(f"fairhep serve exited {proc.returncode}: {log.read_text()}")
        try:
            with urllib.request.urlopen(f"{url}/v2/health/ready", timeout=2) as r:
                if r.status == 200:
                    break
        except OSError:
            time.sleep(0.3)
    else:
        proc.terminate()
        raise AssertionError(f"fairhep serve not ready after 90 s: {log.read_text()}")
    return Server(proc, url, f"grpc://127.0.0.1:{grpc}", open_bundle(bundle).model_id, log)


_PARSE_TRITON_CONFIG = (
    "import json, sys; from google.protobuf import json_format, text_format; "
    "from tritonclient.grpc import model_config_pb2 as m; "
    "c = text_format.Parse(sys.stdin.read(), m.ModelConfig()); "
    "print(json.dumps(json_format.MessageToDict(c, preserving_proto_field_name=True)))")


def triton_config(bundle_root: Path, model_id: str) -> dict[str, Any]:
    """A bundle's Triton ``config.pbtxt`` parsed by tritonclient's own protobuf, as a dict, in a
    child process: MLServer and tritonclient.grpc register the same protobuf package, and an
    earlier test of the session may hold MLServer's."""
    import importlib.util
    import json

    import pytest

    if importlib.util.find_spec("tritonclient") is None:
        pytest.skip("tritonclient not installed (pip install 'fairhep[serve]')")
    text = (bundle_root / "triton" / model_id / "config.pbtxt").read_text()
    done = subprocess.run([sys.executable, "-c", _PARSE_TRITON_CONFIG], input=text,
                          capture_output=True, text=True, check=True, timeout=120)
    parsed: dict[str, Any] = json.loads(done.stdout)
    return parsed
