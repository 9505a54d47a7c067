"""KServe v2 / Open Inference Protocol conformance of `fairhep serve` (issue 23), driven over
raw HTTP and with tritonclient (HTTP and gRPC) against the real server: the advertised
version is the one served; every bad request is a 4xx with a JSON {"error": ...} body naming
the problem (gRPC INVALID_ARGUMENT / NOT_FOUND) and the server keeps serving; datatype and
shape exactly as the metadata says; at most --max-batch jets per request; a busy port is one
line before "serving"; SIGINT ends it quietly."""

from __future__ import annotations

import json
import signal
import socket
import subprocess
import sys
import urllib.error
import urllib.request
from collections.abc import Iterator
from typing import Any

import numpy as np
import pytest

from fair_helpers import Server, needs_serve, start_server
from fairhep.fair.bundle import Bundle
from fairhep.fair.render import TRITON_MAX_BATCH
from fairhep.fair.serve import max_batch_of

MAX_BATCH = 50
GOOD = [("input_cpf", [2, 30, 60]), ("input_sv", [2, 14, 5])]


@pytest.fixture(scope="module")
def srv(run_bundle: Bundle, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    s = start_server(run_bundle.root, tmp_path_factory.mktemp("conf") / "serve.log",
                     "--max-batch", str(MAX_BATCH))
    try:
        yield s
    finally:
        s.stop()


def _tensor(name: str, shape: list[Any], datatype: str = "FP32",
            data: list[Any] | None = None) -> dict[str, Any]:
    n = int(np.prod(shape)) if all(isinstance(d, int) and d > 0 for d in shape) else 1
    return {"name": name, "shape": shape, "datatype": datatype,
            "data": data if data is not None else [0.0] * n}


def _post(url: str, body: bytes | dict[str, Any],
          headers: dict[str, str] | None = None) -> tuple[int, dict[str, Any]]:
    raw = body if isinstance(body, bytes) else json.dumps(body).encode()
    req = urllib.request.Request(url, raw, {"Content-Type": "application/json",
                                            **(headers or {})})
    try:
        with urllib.request.urlopen(req, timeout=20) as r:
            return r.status, json.loads(r.read())
    except urllib.error.HTTPError as e:
        text = e.read()
        return e.code, json.loads(text)  # a plain-text body fails here, as in tritonclient


def _infer(srv: Server, inputs: list[dict[str, Any]], **extra: Any) -> tuple[int, dict[str, Any]]:
    return _post(f"{srv.http}/v2/models/{srv.model_id}/infer", {"inputs": inputs, **extra})


def _good() -> list[dict[str, Any]]:
    return [_tensor(n, s) for n, s in GOOD]


@needs_serve
def test_the_advertised_versions_are_the_ones_served(srv, run_bundle):
    """Both graphs: the fast one (the default) and the dense one (the paper's), each at its
    advertised version, each saying its form; same scores within the fp32 tolerance."""
    fast = f"{run_bundle.identifier}-fast"
    meta = json.loads(urllib.request.urlopen(f"{srv.http}/v2/models/{srv.model_id}").read())
    assert meta["versions"] == [fast, run_bundle.identifier]
    assert meta["parameters"]["graph_form"] == "fast"  # the unversioned path: the default
    code, body = _infer(srv, _good())
    assert code == 200 and body["model_version"] == fast
    rng = np.random.default_rng(5)  # generated jets: 12 real tracks, 2 SVs, the rest padded
    cpf, sv = np.zeros((2, 30, 60)), np.zeros((2, 14, 5))
    cpf[:, :, :12], sv[:, :, :2] = rng.normal(size=(2, 30, 12)), rng.normal(size=(2, 14, 2))
    jets = [_tensor("input_cpf", [2, 30, 60], data=cpf.ravel().tolist()),
            _tensor("input_sv", [2, 14, 5], data=sv.ravel().tolist())]
    scores = {}
    for version, form in ((fast, "fast"), (run_bundle.identifier, "dense")):
        base = f"{srv.http}/v2/models/{srv.model_id}/versions/{version}"
        assert urllib.request.urlopen(f"{base}/ready").status == 200
        meta = json.loads(urllib.request.urlopen(base).read())
        assert meta["parameters"]["graph_form"] == form and meta["versions"][1] == \
            run_bundle.identifier
        code, body = _post(f"{base}/infer", {"inputs": jets})
        assert code == 200 and body["model_version"] == version
        scores[form] = np.asarray(body["outputs"][0]["data"]).reshape(2, 2)
        assert scores[form].sum(axis=1) == pytest.approx(1)
    assert np.abs(scores["fast"] - scores["dense"]).max() <= 1e-4
    code, body = _post(f"{srv.http}/v2/models/{srv.model_id}/versions/1/infer",
                       {"inputs": _good()})
    assert code == 404 and "version 1 not found" in body["error"]


BAD: dict[str, tuple[list[dict[str, Any]], dict[str, Any], int, str]] = {
    "wrong input name": ([_tensor("input_cpf", [2, 30, 60]), _tensor("sv", [2, 14, 5])], {},
                         400, "no input named 'sv'; its inputs are input_cpf, input_sv"),
    "missing input": ([_tensor("input_cpf", [2, 30, 60])], {}, 400, "input input_sv missing"),
    "unknown output": (_good(), {"outputs": [{"name": "scores"}]}, 400,
                       "no output named scores; its outputs are output1"),
    "wrong shape": ([_tensor("input_cpf", [2, 30, 59]), _tensor("input_sv", [2, 14, 5])], {},
                    400, "input input_cpf has shape [2, 30, 59]; the model takes [-1, 30, 60]"),
    "negative batch": ([_tensor("input_cpf", [-2, 30, 60]), _tensor("input_sv", [2, 14, 5])],
                       {}, 400, "has shape [-2, 30, 60]"),
    "rank": ([_tensor("input_cpf", [60, 60]), _tensor("input_sv", [2, 14, 5])], {}, 400,
             "has shape [60, 60]"),
    "mismatched batch": ([_tensor("input_cpf", [2, 30, 60]), _tensor("input_sv", [3, 14, 5])],
                         {}, 400, "batch sizes differ (input_cpf: 2, input_sv: 3)"),
    "BYTES": ([_tensor("input_cpf", [1, 30, 60], "BYTES", ["x"] * 1800),
               _tensor("input_sv", [1, 14, 5])], {}, 400, "datatype BYTES; the model takes FP32"),
    "FP64": ([_tensor("input_cpf", [2, 30, 60], "FP64"), _tensor("input_sv", [2, 14, 5])], {},
             400, "datatype FP64"),
    "INT32": ([_tensor("input_cpf", [2, 30, 60], "INT32", [0] * 3600),
               _tensor("input_sv", [2, 14, 5])], {}, 400, "datatype INT32"),
    "strings in FP32": ([_tensor("input_cpf", [1, 30, 60], data=["1.5"] * 1800),
                         _tensor("input_sv", [1, 14, 5])], {}, 400,
                        "input_cpf: its data are not all FP32 numbers"),
    "too few values": ([_tensor("input_cpf", [2, 30, 60], data=[0.0] * 10),
                        _tensor("input_sv", [2, 14, 5])], {}, 400,
                       "input_cpf has 10 values; its shape [2, 30, 60] needs 3600"),
    "huge shape": ([_tensor("input_cpf", [10**9, 30, 60], data=[0.0]),
                    _tensor("input_sv", [10**9, 14, 5], data=[0.0])], {}, 400,
                   f"batch 1000000000 exceeds the maximum of {MAX_BATCH} jets per request"),
    "past max batch": ([_tensor(n, [MAX_BATCH + 1, *s[1:]]) for n, s in GOOD], {}, 400,
                       f"batch {MAX_BATCH + 1} exceeds the maximum of {MAX_BATCH}"),
}


@needs_serve
def test_every_bad_request_is_a_4xx_with_a_json_error_and_the_server_keeps_serving(srv):
    for case, (inputs, extra, code, words) in BAD.items():
        got, body = _infer(srv, inputs, **extra)
        assert (got, case) == (code, case), body
        assert set(body) == {"error"} and words in body["error"], (case, body)
    code, body = _post(f"{srv.http}/v2/models/nope/infer", {"inputs": _good()})
    assert code == 404 and "Model nope not found" in body["error"]
    code, body = _post(f"{srv.http}/v2/models/{srv.model_id}/infer", b"{not json")
    assert code == 422 and "not a v2 inference request" in body["error"]
    code, body = _post(f"{srv.http}/v2/nowhere", {"inputs": []})
    assert code == 404 and "error" in body
    code, body = _infer(srv, [_tensor(n, [MAX_BATCH, *s[1:]]) for n, s in GOOD])
    assert code == 200 and body["outputs"][0]["shape"] == [MAX_BATCH, 2]
    assert srv.process.poll() is None


@needs_serve
def test_tritonclient_http_binary_data_is_refused_by_name_and_json_works(srv):
    import tritonclient.http as th
    from tritonclient.utils import InferenceServerException

    client = th.InferenceServerClient(srv.http.removeprefix("http://"))
    x = np.zeros((3, 30, 60), np.float32)
    y = np.zeros((3, 14, 5), np.float32)

    def inputs(binary: bool) -> list[Any]:
        a, b = th.InferInput("input_cpf", [3, 30, 60], "FP32"), th.InferInput(
            "input_sv", [3, 14, 5], "FP32")
        a.set_data_from_numpy(x, binary_data=binary)
        b.set_data_from_numpy(y, binary_data=binary)
        return [a, b]

    with pytest.raises(InferenceServerException, match=r"binary tensor data .* not supported"):
        client.infer(srv.model_id, inputs(True))
    out = [th.InferRequestedOutput("output1", binary_data=False)]
    res = client.infer(srv.model_id, inputs(False), outputs=out)
    assert res.as_numpy("output1").shape == (3, 2)
    a = th.InferInput("input_cpf", [3, 30, 60], "FP64")
    a.set_data_from_numpy(x.astype(np.float64), binary_data=False)
    with pytest.raises(InferenceServerException, match="datatype FP64") as e:
        client.infer(srv.model_id, [a, inputs(False)[1]])
    assert e.value.status() == "400"


def _grpc_subprocess(srv: Server, ident: str) -> dict[str, Any]:
    """tritonclient.grpc in its own process: MLServer's protobuf package would clash in
    this one if another test imported it."""
    code = f"""
import json, numpy as np, tritonclient.grpc as tg
from tritonclient.utils import InferenceServerException
c = tg.InferenceServerClient({srv.grpc.removeprefix("grpc://")!r})
def inp(name, shape, dtype="FP32"):
    i = tg.InferInput(name, shape, dtype)
    i.set_data_from_numpy(np.zeros(shape, np.float64 if dtype == "FP64" else np.float32))
    return i
def call(inputs, **kw):
    try:
        r = c.infer({srv.model_id!r}, inputs, **kw)
        return ["OK", r.as_numpy("output1").shape, r.get_response().model_version]
    except InferenceServerException as e:
        return [e.status(), e.message()]
out = {{
  "ready": c.is_model_ready({srv.model_id!r}, {ident!r}),
  "good": call([inp("input_cpf", [2, 30, 60]), inp("input_sv", [2, 14, 5])],
               model_version={ident!r}),
  "version": call([inp("input_cpf", [2, 30, 60]), inp("input_sv", [2, 14, 5])],
                  model_version="1"),
  "name": call([inp("cpf", [2, 30, 60]), inp("input_sv", [2, 14, 5])]),
  "fp64": call([inp("input_cpf", [2, 30, 60], "FP64"), inp("input_sv", [2, 14, 5])]),
  "batch": call([inp("input_cpf", [{MAX_BATCH + 1}, 30, 60]),
                 inp("input_sv", [{MAX_BATCH + 1}, 14, 5])]),
}}
print(json.dumps(out))
"""
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          timeout=60, check=True)
    result: dict[str, Any] = json.loads(done.stdout.splitlines()[-1])
    return result


@needs_serve
def test_grpc_says_invalid_argument_and_not_found(srv, run_bundle):
    got = _grpc_subprocess(srv, run_bundle.identifier)
    assert got["ready"] is True
    assert got["good"] == ["OK", [2, 2], run_bundle.identifier]
    assert got["version"][0] == "StatusCode.NOT_FOUND"
    assert got["name"][0] == "StatusCode.INVALID_ARGUMENT" and "'cpf'" in got["name"][1]
    assert got["fp64"][0] == "StatusCode.INVALID_ARGUMENT" and "FP64" in got["fp64"][1]
    assert got["batch"][0] == "StatusCode.INVALID_ARGUMENT" and "exceeds" in got["batch"][1]


def test_the_bundles_max_batch_is_its_triton_max_batch_size(run_bundle, tmp_path):
    assert max_batch_of(run_bundle) == TRITON_MAX_BATCH
    import shutil

    root = shutil.copytree(run_bundle.root, tmp_path / "b")
    config = root / "triton" / run_bundle.model_id / "config.pbtxt"
    config.write_text(config.read_text().replace(f"max_batch_size: {TRITON_MAX_BATCH}",
                                                 "max_batch_size: 64"))
    assert max_batch_of(_with_root(run_bundle, root)) == 64


def _with_root(bndl: Bundle, root: Any) -> Bundle:
    import dataclasses

    return dataclasses.replace(bndl, root=root)


@needs_serve
def test_a_busy_port_is_one_line_before_serving(run_bundle, capsys):
    from fairhep.cli import main

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen()
        port = s.getsockname()[1]
        assert main(["serve", str(run_bundle.root), "--port", str(port)]) == 1
    captured = capsys.readouterr()
    assert "serving" not in captured.out
    err = captured.err.strip()
    assert err.count("\n") == 0 and f"--port {port}: cannot listen on 127.0.0.1:{port}" in err


@needs_serve
def test_sigint_ends_the_server_quietly(run_bundle, tmp_path):
    s = start_server(run_bundle.root, tmp_path / "serve.log")
    s.process.send_signal(signal.SIGINT)
    assert s.process.wait(30) == 0
    log = s.log.read_text()
    assert "Traceback" not in log and "CancelledError" not in log
    assert log.rstrip().endswith(f"stopped serving {run_bundle.model_id}")


@needs_serve
def test_bench_loadgen_measures_the_served_model_over_http_and_grpc(srv, run_bundle, tmp_path):
    pytest.importorskip("mlperf_loadgen", reason="mlcommons-loadgen not installed")
    from fairhep.cli import main
    from fairhep.results import kinds, load_records

    for url in (srv.http, srv.grpc):
        assert main(["bench", "--loadgen", "SingleStream,Offline", "--url", url,
                     "--data", str(run_bundle.root / "validation"), "--results",
                     str(tmp_path), "--loadgen-seconds", "0.2", "--loadgen-queries", "16",
                     "--loadgen-batch", "16", "--no-report", "--model", srv.model_id]) == 0
    recs = load_records(tmp_path, kinds.BENCH_LOADGEN)
    got = {(r.config["label"], r.config["scenario"]): r for r in recs}
    assert set(got) == {(f"kserve-v2-{p}", s) for p in ("http", "grpc")
                        for s in ("SingleStream", "Offline")}
    for r in got.values():
        assert r.config["model"] == run_bundle.model_id
        assert r.metrics["latency_ns"]["p50"] > 0 and r.metrics["result"] in ("VALID", "INVALID")
    # a model the server does not serve is one line naming what it serves
    assert main(["bench", "--loadgen", "SingleStream", "--url", srv.http, "--model", "nope",
                 "--data", str(run_bundle.root / "validation"), "--results",
                 str(tmp_path)]) == 1
