"""MLPerf LoadGen (``mlcommons-loadgen``, the official bindings) around any scoring function.

:func:`run_scenario` hands LoadGen a system under test whose queries are jets: each query
sample is the index of one test jet, and a worker thread scores what is queued, as many jets at
once as the queue holds (at most ``max_batch``), so the Server scenario's Poisson arrivals
queue and batch as they would in front of a real server. LoadGen times every query and writes
``mlperf_log_summary.txt``; :func:`parse_summary` reads back its percentiles, throughput,
early-stopping estimates and its verdict (``VALID``/``INVALID`` with the rule that failed).

:func:`find_server_qps` searches the highest Poisson rate LoadGen calls VALID under a p99
latency bound (LoadGen itself checks the bound: a rate whose p99 exceeds it is INVALID).
"""

from __future__ import annotations

import queue
import re
import tempfile
import threading
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np

from fairhep.errors import BackendUnavailable, ConfigError

SCENARIOS = ("SingleStream", "MultiStream", "Server", "Offline")
Predict = Callable[[np.ndarray, np.ndarray], np.ndarray]  # (tracks, svs) -> (B, 2) scores


@dataclass(frozen=True)
class LoadgenSettings:
    """What LoadGen is told. Defaults finish in about a minute per target here; ``conformant``
    gives MLPerf Inference's minimums (600 s per run; the query counts of the rules)."""

    min_duration_s: float = 10.0
    min_queries: int = 64  # SingleStream: >= 64 for a p90 early-stopping estimate
    latency_bound_ms: float = 10.0  # Server: p99 of one query (one jet) must stay under it
    multistream_samples: int = 8  # jets per MultiStream query (MLPerf's value)
    max_batch: int = 128  # jets one worker call scores at most (Offline, queued Server)
    server_trials: int = 5  # LoadGen runs of the Server search
    conformant: bool = False

    def __post_init__(self) -> None:
        if not (self.min_duration_s > 0 and self.min_queries >= 1 and self.latency_bound_ms > 0
                and self.max_batch >= 1 and self.server_trials >= 1):
            raise ConfigError(f"--loadgen settings must be positive, got {asdict(self)}")

    def effective(self) -> LoadgenSettings:
        if not self.conformant:
            return self
        from dataclasses import replace

        return replace(self, min_duration_s=600.0, min_queries=max(self.min_queries, 1024))


def parse_scenarios(text: str) -> tuple[str, ...]:
    names = tuple(s.strip() for s in text.split(",") if s.strip())
    by_lower = {s.lower(): s for s in SCENARIOS}
    bad = [n for n in names if n.lower() not in by_lower]
    if bad or not names:
        raise ConfigError(f"--loadgen: unknown scenario {', '.join(bad) or repr(text)}; choose "
                          f"from {','.join(SCENARIOS)}")
    return tuple(dict.fromkeys(by_lower[n.lower()] for n in names))


def _lg() -> Any:
    try:
        import mlperf_loadgen
    except ImportError:
        raise BackendUnavailable("--loadgen: mlcommons-loadgen is not installed; pip install "
                                 "'fairhep[loadgen]'") from None
    return mlperf_loadgen


class _SUT:
    """Queries in, a worker thread scores them in batches, completions back to LoadGen."""

    def __init__(self, lg: Any, predict: Predict, tracks: np.ndarray, svs: np.ndarray,
                 max_batch: int) -> None:
        self.lg, self.predict, self.tracks, self.svs = lg, predict, tracks, svs
        self.max_batch = max_batch
        self.queue: queue.SimpleQueue[Any] = queue.SimpleQueue()
        self.error: BaseException | None = None
        self.worker = threading.Thread(target=self._work, daemon=True)
        self.worker.start()

    def issue(self, samples: list[Any]) -> None:
        for s in samples:
            self.queue.put(s)

    def _work(self) -> None:
        while True:
            first = self.queue.get()
            if first is None:
                return
            batch = [first]
            while len(batch) < self.max_batch:
                try:
                    nxt = self.queue.get_nowait()
                except queue.Empty:
                    break
                if nxt is None:
                    self.queue.put(None)
                    break
                batch.append(nxt)
            idx = np.fromiter((s.index for s in batch), np.int64, len(batch))
            try:
                scores = np.ascontiguousarray(self.predict(self.tracks[idx], self.svs[idx]),
                                              np.float32)
            except BaseException as exc:  # LoadGen waits forever for a lost query
                self.error = self.error or exc
                scores = np.zeros((len(batch), 2), np.float32)
            self.lg.QuerySamplesComplete([
                self.lg.QuerySampleResponse(s.id, scores[k].ctypes.data, scores[k].nbytes)
                for k, s in enumerate(batch)])

    def stop(self) -> None:
        self.queue.put(None)
        self.worker.join()


def run_scenario(predict: Predict, tracks: np.ndarray, svs: np.ndarray, scenario: str,
                 settings: LoadgenSettings, *, expected_latency_s: float = 1e-3,
                 target_qps: float | None = None) -> dict[str, Any]:
    """One LoadGen performance run; its parsed summary and the settings given to it."""
    lg = _lg()
    s = settings.effective()
    ts = lg.TestSettings()
    ts.scenario = getattr(lg.TestScenario, scenario)
    ts.mode = lg.TestMode.PerformanceOnly
    ts.min_duration_ms = int(s.min_duration_s * 1000)
    ts.min_query_count = 1 if scenario == "Offline" else s.min_queries
    given: dict[str, Any] = {"scenario": scenario, "min_duration_ms": ts.min_duration_ms,
                             "min_query_count": ts.min_query_count, "conformant": s.conformant}
    per_jet_ns = max(int(expected_latency_s * 1e9), 1000)
    if scenario == "SingleStream":
        ts.single_stream_expected_latency_ns = per_jet_ns
        given["single_stream_expected_latency_ns"] = per_jet_ns
    elif scenario == "MultiStream":
        ts.multi_stream_samples_per_query = s.multistream_samples
        ts.multi_stream_expected_latency_ns = per_jet_ns * s.multistream_samples
        given["multi_stream_samples_per_query"] = s.multistream_samples
    elif scenario == "Server":
        ts.server_target_qps = float(target_qps or 1.0 / expected_latency_s)
        ts.server_target_latency_ns = int(s.latency_bound_ms * 1e6)
        ts.server_target_latency_percentile = 0.99
        given.update(server_target_qps=ts.server_target_qps,
                     server_target_latency_ns=ts.server_target_latency_ns,
                     server_target_latency_percentile=0.99)
    else:
        ts.offline_expected_qps = float(target_qps or 1.0 / expected_latency_s)
        given["offline_expected_qps"] = ts.offline_expected_qps
    sut_impl = _SUT(lg, predict, tracks, svs, s.max_batch)
    sut = lg.ConstructSUT(sut_impl.issue, lambda: None)
    n = len(tracks)
    qsl = lg.ConstructQSL(n, n, lambda _: None, lambda _: None)
    with tempfile.TemporaryDirectory(prefix="fairhep-loadgen-") as out:
        log = lg.LogSettings()
        log.log_output.outdir = out
        log.log_output.copy_summary_to_stdout = False
        log.enable_trace = False
        try:
            lg.StartTestWithLogSettings(sut, qsl, ts, log)
        finally:
            sut_impl.stop()
            lg.DestroyQSL(qsl)
            lg.DestroySUT(sut)
        text = (Path(out) / "mlperf_log_summary.txt").read_text()
    if sut_impl.error is not None:
        raise sut_impl.error
    return {"settings": given, **parse_summary(text)}


_NUM = re.compile(r"^-?\d+(\.\d+)?(e[-+]?\d+)?$")


def parse_summary(text: str) -> dict[str, Any]:
    """LoadGen's summary as numbers: ``result`` (VALID/INVALID), ``invalid_because`` (the
    rules answered NO), ``latency_ns`` (p50 ... p99.9, min, max, mean), ``early_stopping_ns``
    (percentile -> estimate), ``qps`` (what the scenario reports) and the raw text."""
    fields: dict[str, str] = {}
    for line in text.splitlines():
        if ":" in line and not line.lstrip().startswith("*"):
            key, _, value = line.partition(":")
            fields.setdefault(key.strip(), value.strip())
    latency: dict[str, float] = {}
    for key, value in fields.items():
        m = re.match(r"^(\d+\.\d+) percentile latency \(ns\)$", key)
        if m and _NUM.match(value):
            latency[f"p{float(m.group(1)):g}"] = float(value)
        elif key in ("Min latency (ns)", "Max latency (ns)", "Mean latency (ns)") \
                and _NUM.match(value):
            latency[key.split()[0].lower()] = float(value)
    early = {f"p{float(m.group(1)):g}": float(m.group(2)) for m in re.finditer(
        r"Early stopping (\d+\.\d+)th percentile estimate: (\d+)", text)}
    checks = {k.replace(" satisfied", ""): v for k, v in fields.items()
              if k.endswith("satisfied")}
    qps_keys = ("Samples per second", "Completed samples per second",
                "Scheduled samples per second", "QPS w/o loadgen overhead")
    qps = {k: float(fields[k]) for k in qps_keys if k in fields and _NUM.match(fields[k])}
    return {"result": fields.get("Result is", "unknown"),
            "invalid_because": sorted(k for k, v in checks.items() if v.upper() == "NO"),
            "latency_ns": latency, "early_stopping_ns": early, "qps": qps,
            "summary": text}


OVER_BOUND = "Performance constraints"  # the Server rule a p99 above the bound breaks


def find_server_qps(run: Callable[[float], dict[str, Any]], start_qps: float,
                    trials: int) -> tuple[float | None, list[dict[str, Any]]]:
    """Highest rate ``run(qps)`` calls VALID in ``trials`` runs. A rate over the latency
    bound (LoadGen's "performance constraints" rule) halves it; a VALID rate doubles it; one
    INVALID for too few queries (too short a run at a low rate) raises it, since more
    queries arrive at a higher rate. Once VALID and over-bound rates are known, bisect."""
    runs: list[dict[str, Any]] = []
    good: float | None = None
    bad: float | None = None
    qps = start_qps
    for _ in range(trials):
        got = run(qps)
        runs.append({"target_qps": qps, **got})
        if got["result"] == "VALID":
            good = qps if good is None else max(good, qps)
        elif OVER_BOUND in got["invalid_because"]:
            bad = qps if bad is None else min(bad, qps)
        if good is not None and bad is not None:
            qps = (good + bad) / 2
        elif bad is not None and OVER_BOUND in got["invalid_because"]:
            qps = qps / 2
        else:
            qps = qps * 2
    return good, runs
