"""`fairhep bench --concurrency-sweep` against the real `fairhep serve` (MLServer) on
loopback, with its Prometheus metrics for the server-side time; the report's
throughput-latency curve and its CSV. Short levels (0.3 s, at most 4 clients)."""

from __future__ import annotations

import csv

import pytest

from fair_helpers import free_port, needs_serve, start_server
from fairhep.cli import main
from fairhep.results import kinds, load_records


@needs_serve
def test_concurrency_sweep_on_the_served_model_with_server_time(run_bundle, tmp_path):
    metrics = free_port()
    s = start_server(run_bundle.root, tmp_path / "serve.log", "--metrics-port", str(metrics))
    try:
        results = tmp_path / "results"
        assert main(["bench", "--concurrency-sweep", "--url", s.http, "--model", s.model_id,
                     "--data", str(run_bundle.root / "validation"), "--results",
                     str(results), "--concurrency-seconds", "0.3", "--concurrency-max", "4",
                     "--concurrency-batch", "4",
                     "--metrics-url", f"http://127.0.0.1:{metrics}/metrics"]) == 0
    finally:
        s.stop()
    (rec,) = load_records(results, kinds.BENCH_CONCURRENCY)
    assert rec.status == "ok" and rec.config["model"] == run_bundle.model_id
    assert rec.config["sweep"]["batch"] == 4
    levels = rec.metrics["levels"]
    assert [lv["concurrency"] for lv in levels] == [1, 2, 4][:len(levels)]
    for lv in levels:
        assert lv["requests"] > 0 and lv["jets_per_s"] > 0
        assert 0 < lv["p50_ms"] <= lv["p90_ms"] <= lv["p95_ms"] <= lv["p99_ms"]
        # MLServer counted the requests this level sent and spent part of their time
        assert lv["server_requests"] == lv["requests"]
        assert 0 < lv["server_mean_ms"] < lv["mean_ms"]
    report = next((results / "reports").glob("*/report.md")).read_text()
    assert "Throughput against concurrent clients" in report
    with open(next((results / "reports").glob("*/figures/throughput_latency.csv"))) as fh:
        rows = list(csv.DictReader(fh))
    assert [int(r["concurrency"]) for r in rows] == [lv["concurrency"] for lv in levels]
    assert float(rows[0]["jets_per_s"]) == pytest.approx(levels[0]["jets_per_s"])

