"""The concurrency sweep's loop (`fairhep bench --concurrency-sweep`) on a scoring function
with a known capacity: rates and percentiles per level, the stop where throughput stops
rising, errors surfaced; the options it needs. The real server:
tests/fair/test_serve_concurrency.py."""

from __future__ import annotations

import threading
import time

import numpy as np
import pytest

from fairhep.bench import BenchOptions
from fairhep.bench.concurrency import sweep
from fairhep.bench.modes import selected_modes
from fairhep.bench.options import ConcurrencySettings
from fairhep.errors import ConfigError

TRACKS = np.zeros((16, 30, 60), np.float32)
SVS = np.zeros((16, 14, 5), np.float32)


def _two_workers() -> tuple[object, list[int]]:
    """A 'server' that scores two requests at once, 10 ms each: it saturates at 2 clients."""
    slots = threading.Semaphore(2)
    seen: list[int] = []

    def predict(tracks: np.ndarray, svs: np.ndarray) -> np.ndarray:
        seen.append(len(tracks))
        with slots:
            time.sleep(0.01)
        return np.zeros((len(tracks), 2), np.float32)

    return predict, seen


def test_sweep_doubles_clients_until_throughput_stops_rising():
    predict, seen = _two_workers()
    s = ConcurrencySettings(seconds=0.3, batch=3, max_concurrency=32, min_gain=0.2)
    r = sweep(predict, TRACKS, SVS, s)  # type: ignore[arg-type]
    levels = {lv["concurrency"]: lv for lv in r["levels"]}
    assert list(levels) == [1, 2, 4]  # 4 clients get no more than 2 did
    assert "from 2 to 4 clients" in r["stopped_because"]
    # 1 client: ~100 req/s of 3 jets; 2 clients: about twice that
    assert 150 < levels[1]["jets_per_s"] < 320
    assert levels[2]["jets_per_s"] > 1.6 * levels[1]["jets_per_s"]
    assert levels[4]["jets_per_s"] < 1.2 * levels[2]["jets_per_s"]
    for lv in levels.values():
        assert 10 <= lv["p50_ms"] <= lv["p90_ms"] <= lv["p95_ms"] <= lv["p99_ms"]
        assert lv["jets_per_s"] == pytest.approx(3 * lv["requests_per_s"])
    assert r["best_concurrency"] in (2, 4) and set(seen) == {3}


def test_sweep_stops_at_the_most_clients_and_reports_server_time():
    def unbounded(tracks: np.ndarray, svs: np.ndarray) -> np.ndarray:
        time.sleep(0.01)  # no capacity limit: every added client adds throughput
        return np.zeros((len(tracks), 2), np.float32)

    calls = iter([(0.0, 0), (1.0, 100), (1.0, 100), (1.5, 200), (1.5, 200), (1.5, 200)])
    r = sweep(unbounded, TRACKS, SVS,
              ConcurrencySettings(seconds=0.2, max_concurrency=3, min_gain=0.1),
              server_time=lambda: next(calls))
    assert [lv["concurrency"] for lv in r["levels"]] == [1, 2, 3]
    assert r["stopped_because"] == "reached --concurrency-max 3"
    assert [lv["server_mean_ms"] for lv in r["levels"]] == [pytest.approx(10.0),
                                                            pytest.approx(5.0), None]
    assert r["levels"][2]["server_requests"] == 0


def test_a_failing_request_ends_the_sweep_with_its_error():
    def broken(tracks: np.ndarray, svs: np.ndarray) -> np.ndarray:
        raise ConfigError("the server said 400")

    with pytest.raises(ConfigError, match="the server said 400"):
        sweep(broken, TRACKS, SVS, ConcurrencySettings(seconds=0.1))


def test_options_and_mode():
    assert ConcurrencySettings(max_concurrency=12).levels() == [1, 2, 4, 8, 12]
    assert ConcurrencySettings(max_concurrency=1).levels() == [1]
    with pytest.raises(ConfigError, match="--concurrency-sweep measures a server: give --url"):
        BenchOptions(concurrency_sweep=True)
    with pytest.raises(ConfigError, match="must be positive"):
        ConcurrencySettings(seconds=0)
    opts = BenchOptions(concurrency_sweep=True, url="http://127.0.0.1:1")
    modes = selected_modes(opts)
    assert [m.name for m in modes] == ["concurrency_sweep"]
    assert not modes[0].needs_run(opts)
