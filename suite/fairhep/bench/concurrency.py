"""``fairhep bench --concurrency-sweep --url URL``: throughput against concurrent clients.

In the manner of Triton's perf_analyzer: at 1, 2, 4, ... concurrent clients, each sending its
next request as soon as the last one returns (a closed loop), for a fixed time per level,
the jets/s and the client-side latency percentiles (p50/p90/p95/p99) of that level; the sweep
stops at the first level whose throughput rises less than ``min_gain`` over the best so far
(the server is saturated: more clients only queue) or at ``max_concurrency``. Every level is
bounded in time, so a stalled server ends the sweep with an error, not a hang.

Server-side time: with ``--metrics-url`` (``fairhep serve --metrics-port``, MLServer's
Prometheus endpoint) the mean of MLServer's ``model_infer_request_duration`` summary over the
level (the difference of its sum and count before and after), so the record says how much of
a request's latency the server spent scoring it and how much was transport and queueing.

One ``bench.concurrency`` record per sweep, every level in it.
"""

from __future__ import annotations

import threading
import time
import urllib.request
from dataclasses import asdict
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from fairhep.bench.loadgen_driver import Predict
from fairhep.bench.options import ConcurrencySettings
from fairhep.errors import ConfigError
from fairhep.results import ResultRecord, kinds

if TYPE_CHECKING:
    from collections.abc import Callable

KIND = kinds.BENCH_CONCURRENCY
PERCENTILES = (50, 90, 95, 99)
SERVER_METRIC = "model_infer_request_duration"  # MLServer's per-request Summary (seconds)


def server_seconds(metrics_url: str, model: str) -> tuple[float, float]:
    """(sum of seconds, count) of MLServer's request-duration summary for ``model``."""
    from prometheus_client.parser import text_string_to_metric_families

    try:
        with urllib.request.urlopen(metrics_url, timeout=10) as r:
            text = r.read().decode()
    except OSError as exc:
        raise ConfigError(f"--metrics-url {metrics_url}: no Prometheus metrics there ({exc}); "
                          "start the server with `fairhep serve --metrics-port PORT`") from None
    total = count = 0.0
    for family in text_string_to_metric_families(text):
        if family.name != SERVER_METRIC:
            continue
        for s in family.samples:
            if s.labels.get("model") != model:
                continue
            if s.name.endswith("_sum"):
                total += s.value
            elif s.name.endswith("_count"):
                count += s.value
    return total, count


def measure_level(predict: Predict, tracks: np.ndarray, svs: np.ndarray, clients: int,
                  settings: ConcurrencySettings,
                  server_time: Callable[[], tuple[float, float]] | None = None
                  ) -> dict[str, Any]:
    """``clients`` threads in a closed loop for ``settings.seconds``: rates and percentiles,
    and with ``server_time`` (-> seconds, requests so far) the server's mean per request."""
    n, b = len(tracks), settings.batch
    latencies: list[list[float]] = [[] for _ in range(clients)]
    errors: list[BaseException] = []
    window: dict[str, float] = {}
    before: list[tuple[float, float]] = []

    def open_window() -> None:  # once every client is warm, before any is released
        if server_time is not None:  # after the warm-up calls: they are not measured
            before.append(server_time())
        window["start"] = time.perf_counter()
        window["end"] = window["start"] + settings.seconds

    ready = threading.Barrier(clients + 1, action=open_window)

    def client(k: int) -> None:
        i = (k * b) % n
        try:
            predict(tracks[:b], svs[:b])  # untimed: the thread's own connection is made
        except BaseException as exc:
            errors.append(exc)
        ready.wait()
        end = window["end"]
        while not errors and time.perf_counter() < end:
            idx = np.arange(i, i + b) % n
            t0 = time.perf_counter()
            try:
                predict(tracks[idx], svs[idx])
            except BaseException as exc:  # the sweep ends on the first failed request
                errors.append(exc)
                return
            latencies[k].append(time.perf_counter() - t0)
            i = (i + b) % n

    threads = [threading.Thread(target=client, args=(k,), daemon=True) for k in range(clients)]
    for t in threads:
        t.start()
    ready.wait(timeout=120)  # the warm-up call of each client, bounded too
    for t in threads:
        # bounded: a request outliving the level by a minute means the server is stuck
        t.join(settings.seconds + 60)
    elapsed = time.perf_counter() - window["start"]
    if any(t.is_alive() for t in threads):
        raise ConfigError(f"concurrency {clients}: a request did not return within 60 s")
    if errors:
        raise errors[0]
    lat = np.concatenate([np.asarray(x, float) for x in latencies])
    if not len(lat):
        raise ConfigError(f"concurrency {clients}: no request finished in "
                          f"{settings.seconds:g} s; give a longer --concurrency-seconds")
    out: dict[str, Any] = {"concurrency": clients, "requests": len(lat),
                           "seconds": elapsed, "requests_per_s": len(lat) / elapsed,
                           "jets_per_s": len(lat) * b / elapsed,
                           "mean_ms": float(lat.mean() * 1e3)}
    out.update({f"p{p}_ms": float(np.percentile(lat, p) * 1e3) for p in PERCENTILES})
    if server_time is not None:
        after = server_time()
        done = after[1] - before[0][1]
        out["server_requests"] = done
        out["server_mean_ms"] = (after[0] - before[0][0]) / done * 1e3 if done else None
    return out


def sweep(predict: Predict, tracks: np.ndarray, svs: np.ndarray,
          settings: ConcurrencySettings,
          server_time: Callable[[], tuple[float, float]] | None = None,
          progress: Callable[[dict[str, Any]], object] | None = None) -> dict[str, Any]:
    """Levels until throughput stops rising; ``server_time()`` -> (sum s, count) if given."""
    levels: list[dict[str, Any]] = []
    best = 0.0
    stopped = f"reached --concurrency-max {settings.max_concurrency}"
    for clients in settings.levels():
        level = measure_level(predict, tracks, svs, clients, settings, server_time)
        levels.append(level)
        if progress:
            progress(level)
        if level["jets_per_s"] < best * (1 + settings.min_gain):
            stopped = (f"throughput rose less than {settings.min_gain:.0%} from "
                       f"{levels[-2]['concurrency']} to {clients} clients")
            break
        best = max(best, level["jets_per_s"])
    top = max(levels, key=lambda lv: lv["jets_per_s"])
    return {"levels": levels, "stopped_because": stopped,
            "best_concurrency": top["concurrency"], "best_jets_per_s": top["jets_per_s"]}


def _line(level: dict[str, Any]) -> str:
    server = level.get("server_mean_ms")
    return (f"  concurrency {level['concurrency']}: {level['jets_per_s']:,.0f} jets/s, latency "
            f"ms p50/p90/p95/p99 {level['p50_ms']:.2f}/{level['p90_ms']:.2f}/"
            f"{level['p95_ms']:.2f}/{level['p99_ms']:.2f}"
            + (f", server {server:.2f} ms" if server is not None else ""))


def run_concurrency(url: str, model_name: str | None, s: ConcurrencySettings,
                    metrics_url: str | None, data_dir: Path, max_jets: int | None,
                    results: Path) -> list[Path]:
    """The sweep against ``url`` (the options of ``fairhep bench``): the record written."""
    from fairhep.bench.console import console as make_console
    from fairhep.bench.loadgen import remote_predict
    from fairhep.bench.workload import load_test_jets
    from fairhep.data.manifest import manifest_path
    from fairhep.results import write_record

    console = make_console()
    jets = load_test_jets(data_dir, max_jets)
    predict, config, close = remote_predict(url, model_name)
    server_time = ((lambda: server_seconds(metrics_url, config["model"]))
                   if metrics_url else None)
    console.print(f"[bold]Concurrency sweep[/bold] against {url} ({config['model']}), "
                  f"{s.batch} jet(s) per request, {s.seconds:g} s per level", highlight=False)
    tracks = np.ascontiguousarray(jets.tracks, np.float32)
    svs = np.ascontiguousarray(jets.svs, np.float32)
    t0 = time.perf_counter()
    try:
        result = sweep(predict, tracks, svs, s, server_time,
                       lambda lv: console.print(_line(lv), highlight=False))
    finally:
        close()
    console.print(f"  best: {result['best_jets_per_s']:,.0f} jets/s at "
                  f"{result['best_concurrency']} clients ({result['stopped_because']})",
                  highlight=False)
    rec = ResultRecord(kind=KIND, config={**config, "data": str(data_dir),
                                          "metrics_url": metrics_url, "sweep": asdict(s)},
                       metrics=result, timings={"total_s": time.perf_counter() - t0})
    return [write_record(Path(results), rec, manifest_path(data_dir))]
