"""`fairhep bench --loadgen`: the real MLPerf LoadGen around a scoring function and around the
bench's backends; its verdict (VALID/INVALID and the rule) in the records; the Server
search; the latency report section; the modes registry. Durations are tiny here (LoadGen's
minimum duration 0.2 s); the defaults (10 s, MLPerf's 600 s) are for users."""

from __future__ import annotations

import time

import numpy as np
import pytest

from fairhep.bench import BenchOptions
from fairhep.bench.loadgen_driver import (
    LoadgenSettings,
    find_server_qps,
    parse_scenarios,
    run_scenario,
)
from fairhep.bench.modes import selected_modes
from fairhep.cli import main
from fairhep.errors import ConfigError
from fairhep.results import kinds, load_records

pytest.importorskip("mlperf_loadgen", reason="mlcommons-loadgen not installed "
                    "(pip install 'fairhep[loadgen]')")

TRACKS = np.zeros((32, 30, 60), np.float32)
SVS = np.zeros((32, 14, 5), np.float32)
QUICK = LoadgenSettings(min_duration_s=0.2, min_queries=64)


def _sleepy(tracks: np.ndarray, svs: np.ndarray) -> np.ndarray:
    time.sleep(0.0005)
    return np.full((len(tracks), 2), 0.5, np.float32)


def test_single_stream_reports_percentiles_early_stopping_and_valid():
    r = run_scenario(_sleepy, TRACKS, SVS, "SingleStream", QUICK, expected_latency_s=6e-4)
    assert r["result"] == "VALID" and r["invalid_because"] == []
    lat = r["latency_ns"]
    assert 5e5 <= lat["p50"] <= lat["p90"] <= lat["p99"]  # each query sleeps 0.5 ms
    assert r["early_stopping_ns"]["p90"] >= lat["p90"]
    assert r["settings"]["min_duration_ms"] == 200
    assert "MLPerf Results Summary" in r["summary"]


def test_loadgen_says_invalid_and_which_rule():
    # LoadGen plans duration / expected latency queries: expecting 1 s each, it issues too
    # few to fill the minimum duration, and says so.
    r = run_scenario(_sleepy, TRACKS, SVS, "SingleStream",
                     LoadgenSettings(min_duration_s=0.3, min_queries=8), expected_latency_s=1.0)
    assert r["result"] == "INVALID" and "Min duration" in r["invalid_because"]


def test_server_search_bisects_between_valid_and_over_the_bound():
    def fake(qps: float) -> dict[str, object]:
        over = qps > 300
        return {"result": "INVALID" if over else "VALID",
                "invalid_because": ["Performance constraints"] if over else []}

    best, runs = find_server_qps(fake, 100, 5)
    assert [r["target_qps"] for r in runs] == [100, 200, 400, 300, 350]
    assert best == 300
    # too few queries at a low rate is no reason to go lower
    best, runs = find_server_qps(lambda _: {"result": "INVALID", "invalid_because":
                                            ["Early stopping"]}, 10, 3)
    assert best is None and [r["target_qps"] for r in runs] == [10, 20, 40]


def test_scenarios_and_options_are_checked_in_one_line():
    assert parse_scenarios("singlestream,Server,Server") == ("SingleStream", "Server")
    with pytest.raises(ConfigError, match="unknown scenario Bogus; choose from SingleStream"):
        parse_scenarios("Bogus")
    with pytest.raises(ConfigError, match="--url measures a server with LoadGen"):
        BenchOptions(url="http://127.0.0.1:1")
    with pytest.raises(ConfigError, match="must be positive"):
        LoadgenSettings(min_duration_s=0)
    assert LoadgenSettings(conformant=True).effective().min_duration_s == 600


def test_modes_registry_keeps_the_flags():
    names = [lambda o: [m.name for m in selected_modes(o)]][0]
    assert names(BenchOptions()) == ["default"]
    assert names(BenchOptions(frameworks=True, batch_sweep=True)) == ["frameworks",
                                                                       "batch_sweep"]
    assert names(BenchOptions(loadgen=("Offline",))) == ["loadgen"]
    assert {m.kind for m in selected_modes(BenchOptions(loadgen=("Offline",)))} == {
        kinds.BENCH_LOADGEN}


def test_bench_loadgen_on_a_backend_writes_records_and_a_report(
        tmp_path, tiny_test_set, untrained_run, bench_cache, capsys):
    results = tmp_path / "results"
    rc = main(["bench", "--loadgen", "SingleStream,Server,Offline", "--backends", "fast",
               "--data", str(tiny_test_set), "--run", str(untrained_run), "--results",
               str(results), "--cache-dir", str(bench_cache), "--max-jets", "32",
               "--loadgen-seconds", "0.2", "--loadgen-queries", "16", "--server-trials", "2",
               "--latency-bound-ms",
               "50"])
    assert rc == 0
    recs = load_records(results, kinds.BENCH_LOADGEN)
    ran = {r.config["scenario"]: r for r in recs if r.config["label"] == "fast-cpu"}
    assert set(ran) == {"SingleStream", "Server", "Offline"}
    for r in ran.values():
        assert r.config["loadgen"]["min_duration_ms"] == 200
        assert r.config["loadgen_version"] == "6.0.17" or r.config["loadgen_version"]
        assert r.metrics["result"] in ("VALID", "INVALID")
        assert (r.status == "ok") == (r.metrics["result"] == "VALID")
        if r.status == "failed":  # INVALID: recorded as such, with LoadGen's rule
            assert r.skipped[0]["reason"].startswith("LoadGen: INVALID (")
    assert len(ran["Server"].metrics["search"]) == 2
    assert ran["Server"].config["loadgen"]["server_target_latency_ns"] == 50_000_000
    out = capsys.readouterr().out
    assert "fast-cpu SingleStream:" in out and "Latency under load" in (
        next((results / "reports").glob("*/report.md")).read_text())
    assert next((results / "reports").glob("*/figures/latency_percentiles.csv"), None) \
        or not any(r.status == "ok" and r.config["scenario"] != "Offline" for r in recs)
