"""`fairhep serve`: a real KServe v2 server (MLServer with fairhep's ONNX Runtime model class)
on free loopback ports; its metadata names the card's inputs and shapes; `fairhep validate
--url` sends the sample through it (tritonclient, HTTP and gRPC) and judges it like any
runtime; SIGTERM stops it and frees its ports."""

from __future__ import annotations

import importlib.util
import json
import socket
import urllib.request
from pathlib import Path
from typing import Any

import pytest

from fair_helpers import needs_serve
from fairhep.cli import main
from fairhep.errors import ConfigError
from fairhep.results import kinds, load_records


def _get(url: str) -> dict[str, Any]:
    with urllib.request.urlopen(url, timeout=10) as r:
        answer: dict[str, Any] = json.loads(r.read())
    return answer


def _listening(port: int) -> list[str]:
    """Local addresses (hex, as /proc/net/tcp* writes them) listening on ``port``."""
    found = []
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        if not Path(table).is_file():
            continue
        for line in Path(table).read_text().splitlines()[1:]:
            local, state = line.split()[1], line.split()[3]
            address, hex_port = local.rsplit(":", 1)
            if state == "0A" and int(hex_port, 16) == port:
                found.append(address)
    return found


@needs_serve
def test_metadata_endpoint_names_the_cards_inputs_and_shapes(server, run_bundle):
    meta = _get(f"{server.http}/v2/models/{server.model_id}")
    assert meta["name"] == run_bundle.model_id
    assert meta["versions"] == [f"{run_bundle.identifier}-fast", run_bundle.identifier]
    assert [(i["name"], i["datatype"], i["shape"]) for i in meta["inputs"]] == [
        (t["name"], "FP32", t["shape"]) for t in run_bundle.card["inputs"]]
    assert [o["name"] for o in meta["outputs"]] == ["output1"]
    assert _get(f"{server.http}/v2")["name"] == "fairhep-mlserver"


@needs_serve
def test_validate_through_the_server_over_http_and_grpc(server, run_bundle, tmp_path, capsys):
    for url in (server.http, server.grpc):
        assert main(["validate", str(run_bundle.root), "--url", url, "--runtimes", "kserve",
                     "--results", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    records = load_records(tmp_path, kinds.VALIDATE)
    got = {label: r for rec in records for label, r in rec.metrics["runtimes"].items()}
    assert set(got) == {"kserve-v2-http", "kserve-v2-grpc"}
    for r in got.values():
        assert r["status"] == "passed" and r["max_abs_diff"] <= 1e-5
    # what the server serves by default, as its metadata says (v2 gRPC metadata carries none)
    assert (got["kserve-v2-http"]["graph_form"], got["kserve-v2-grpc"]["graph_form"]) == (
        "fast", None)
    assert {rec.config["url"] for rec in records} == {server.http, server.grpc}
    assert "kserve-v2-http" in out and "PASS" in out


@needs_serve
def test_a_server_without_this_model_is_named_and_skipped(run_bundle, tmp_path):
    from fairhep.fair.validate import validate

    with socket.socket() as s:  # a port nothing listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    v = validate(run_bundle.root, ["kserve"], url=f"http://127.0.0.1:{port}", results=None)
    assert v.results[0].status == "skipped"
    reason = v.results[0].reason
    assert reason is not None
    assert reason.startswith(f"kserve: no server answers at http://127.0.0.1:{port}")
    with pytest.raises(ConfigError, match="give http://HOST:PORT or grpc://HOST:PORT"):
        validate(run_bundle.root, ["kserve"], url="ftp://x", results=None)


@needs_serve
def test_server_binds_loopback_only(server):
    http_port = int(server.http.rsplit(":", 1)[1])
    grpc_port = int(server.grpc.rsplit(":", 1)[1])
    for port in (http_port, grpc_port):
        addresses = _listening(port)
        assert addresses, f"nothing listens on {port}"
        # 127.0.0.1 as IPv4 (0100007F) or as IPv4-mapped IPv6 (...FFFF0000 0100007F).
        assert all(a.endswith("0100007F") for a in addresses), addresses


def test_serve_refuses_clashing_ports_in_one_line(run_bundle, capsys):
    assert main(["serve", str(run_bundle.root), "--port", "9000", "--grpc-port", "9000"]) == 1
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and "give distinct ports" in err


def test_serve_refuses_a_tampered_bundle(run_bundle, tmp_path, capsys):
    import shutil

    root = shutil.copytree(run_bundle.root, tmp_path / "b")
    (root / "model.onnx").write_bytes((root / "model.onnx").read_bytes() + b"\0")
    assert main(["serve", str(root), "--port", "9000"]) == 1
    assert "model.onnx: sha256 differs from SHA256SUMS" in capsys.readouterr().err


def test_without_mlserver_serve_says_which_extra_to_install(run_bundle, monkeypatch, capsys):
    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec",
                        lambda name, *a: None if name == "mlserver" else real(name, *a))
    assert main(["serve", str(run_bundle.root)]) == 1
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and "pip install 'fairhep[serve]'" in err


@needs_serve
def test_sigterm_stops_the_server_and_frees_its_ports(server):
    server.process.terminate()
    assert server.process.wait(30) is not None
    port = int(server.http.rsplit(":", 1)[1])
    with socket.socket() as s, pytest.raises(ConnectionRefusedError):
        s.connect(("127.0.0.1", port))
    assert "Loaded model" in server.log.read_text()
