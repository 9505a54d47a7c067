"""``fairhep bench --loadgen SCENARIO[,...]``: latency under load, by MLPerf LoadGen's rules.

Targets: every backend the bench knows (``--backends`` chooses; absent ones are skipped with
the reason, through the shared loop of :mod:`fairhep.bench.backend_loop`), or with ``--url``
a KServe v2 server (``http://HOST:PORT`` or ``grpc://HOST:PORT``) through tritonclient, so
``fairhep serve``, MLServer or Triton are measured the same way. Per target and scenario
(:mod:`fairhep.bench.loadgen_driver`):

* SingleStream: one jet per query, the next once it returns: p90 latency and LoadGen's
  early-stopping estimate of it;
* MultiStream: ``multistream_samples`` jets per query (MLPerf's 8): p99 latency;
* Server: Poisson arrivals of single jets; the highest rate LoadGen calls VALID with p99 under
  the bound (``--latency-bound-ms``, default 10 ms: the budget of one jet in a trigger-like
  service on a CPU here; MLPerf uses per-model bounds) in ``server_trials`` runs;
* Offline: every query at once, scored in batches of ``max_batch``: throughput.

One ``bench.loadgen`` record per target and scenario, with LoadGen's settings, its summary
and its verdict. A run LoadGen calls INVALID is recorded with status ``failed`` and the rules
that failed, never as a result.
"""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from fairhep.bench.loadgen_driver import Predict, find_server_qps, run_scenario
from fairhep.bench.options import BenchOptions
from fairhep.data.load import JetArrays
from fairhep.errors import ConfigError
from fairhep.results import ResultRecord, kinds

KIND = kinds.BENCH_LOADGEN


def calibrate(predict: Predict, jets: JetArrays, max_batch: int) -> dict[str, float]:
    """Seconds per single jet and jets/s at ``max_batch`` (a few untimed warm-up calls
    first): LoadGen's expected latency and Offline rate, and the Server search's start."""
    one = (jets.tracks[:1], jets.svs[:1])
    n = min(max_batch, len(jets))
    many = (jets.tracks[:n], jets.svs[:n])
    for _ in range(3):
        predict(*one)
    times = []
    for _ in range(20):  # the median: one stall on a shared machine must not set the rates
        t0 = time.perf_counter()
        predict(*one)
        times.append(time.perf_counter() - t0)
    single = float(np.median(times))
    predict(*many)
    t0 = time.perf_counter()
    predict(*many)
    return {"single_jet_s": single, "offline_jets_per_s": n / (time.perf_counter() - t0)}


def measure_target(predict: Predict, jets: JetArrays, opts: BenchOptions
                   ) -> dict[str, dict[str, Any]]:
    """Every scenario of ``opts.loadgen`` on one scoring function: scenario -> result."""
    s = opts.loadgen_settings
    cal = calibrate(predict, jets, s.max_batch)
    tracks = np.ascontiguousarray(jets.tracks, np.float32)
    svs = np.ascontiguousarray(jets.svs, np.float32)
    out: dict[str, dict[str, Any]] = {}
    for scenario in opts.loadgen:
        if scenario == "Server":
            def one(qps: float) -> dict[str, Any]:
                return run_scenario(predict, tracks, svs, "Server", s,
                                    expected_latency_s=cal["single_jet_s"], target_qps=qps)

            start = 0.5 / cal["single_jet_s"]
            best, runs = find_server_qps(one, start, s.server_trials)
            chosen = next((r for r in runs if r["target_qps"] == best), runs[-1])
            out[scenario] = {**chosen, "qps_at_bound": best,
                             "latency_bound_ms": s.latency_bound_ms,
                             "search": [{k: r[k] for k in ("target_qps", "result",
                                                           "invalid_because", "latency_ns")}
                                        for r in runs],
                             "result": "VALID" if best is not None else chosen["result"]}
        else:
            # LoadGen issues expected_qps x duration samples: a low guess ends the run early
            target = 2 * cal["offline_jets_per_s"] if scenario == "Offline" else None
            out[scenario] = run_scenario(predict, tracks, svs, scenario, s,
                                         expected_latency_s=cal["single_jet_s"],
                                         target_qps=target)
        out[scenario]["calibration"] = cal
    return out


def records_of(config: dict[str, Any], results: dict[str, dict[str, Any]],
               timings: dict[str, float]) -> list[ResultRecord]:
    """One record per scenario; INVALID ones ``failed`` with LoadGen's reasons."""
    from importlib.metadata import version

    records = []
    for scenario, r in results.items():
        cfg = {**config, "scenario": scenario, "loadgen": r["settings"],
               "loadgen_version": version("mlcommons-loadgen")}
        metrics = {k: v for k, v in r.items() if k != "settings"}
        lat = r.get("latency_ns") or {}
        metrics.update({f"{p}_ms": lat[p] / 1e6 for p in ("p50", "p90", "p99") if p in lat})
        rec = ResultRecord(kind=KIND, config=cfg, metrics=metrics, timings=dict(timings),
                           status="ok" if r["result"] == "VALID" else "failed")
        if r["result"] != "VALID":
            why = ", ".join(r.get("invalid_because") or ()) or r["result"]
            rec.skip(str(config["label"]), f"LoadGen: {r['result']} ({why} not satisfied)")
        records.append(rec)
    return records


def _served_models(url: str, client: Any) -> list[str]:
    """The model repository extension's index. Over HTTP it is asked directly: tritonclient
    posts no body, which MLServer refuses (it wants ``{}``)."""
    if url.startswith("http"):
        import json
        import urllib.request

        req = urllib.request.Request(f"{url}/v2/repository/index", b"{}",
                                     {"Content-Type": "application/json"})
        with urllib.request.urlopen(req, timeout=10) as r:
            return [m["name"] for m in json.loads(r.read())]
    return [m.name for m in client.get_model_repository_index().models]


def remote_predict(url: str, model: str | None
                   ) -> tuple[Predict, dict[str, Any], Callable[[], None]]:
    """A scoring function through tritonclient (JSON tensors over HTTP, protobuf over
    gRPC), the target's record config, and what closes the client."""
    scheme, _, where = url.partition("://")
    if scheme not in ("http", "grpc") or not where:
        raise ConfigError(f"--url {url}: give http://HOST:PORT or grpc://HOST:PORT")
    if scheme == "http":
        import tritonclient.http as client_mod
    else:
        import tritonclient.grpc as client_mod
    client = client_mod.InferenceServerClient(where)
    try:
        client.is_server_live()
        names = _served_models(url, client)
    except Exception as exc:
        raise ConfigError(f"--url {url}: no KServe v2 server answers there ({exc})") from None
    if model is not None and model not in names and not names:
        names = [model]  # no repository index (MLServer lists only its folder): ask directly
        if not client.is_model_ready(model):
            raise ConfigError(f"--url {url}: model {model!r} is not served (not ready)")
    if model is None:
        if len(names) != 1:
            raise ConfigError(f"--url {url} serves {len(names)} models ({', '.join(names)}); "
                              "choose one with --model (`fairhep serve` prints its id)")
        model = names[0]
    elif model not in names:
        raise ConfigError(f"--url {url} serves no model {model!r} ({', '.join(names)})")

    meta = client.get_model_metadata(model)
    meta = meta if isinstance(meta, dict) else {"inputs": [{"name": t.name} for t in meta.inputs],
                                                "outputs": [{"name": t.name} for t in meta.outputs]}
    # The model's own tensor names, in its order: (tracks, SVs) in, scores out.
    in_names = [t["name"] for t in meta["inputs"]]
    out_name = meta["outputs"][0]["name"]

    local = threading.local()
    clients = [client]

    def predict(tracks: np.ndarray, svs: np.ndarray) -> np.ndarray:
        # tritonclient's HTTP client runs on gevent, tied to the thread that made it: the
        # LoadGen worker thread gets its own.
        if not hasattr(local, "client"):
            local.client = client_mod.InferenceServerClient(where)
            clients.append(local.client)
        inputs = []
        for name, arr in zip(in_names, (tracks, svs), strict=True):
            i = client_mod.InferInput(name, list(arr.shape), "FP32")
            if scheme == "http":
                i.set_data_from_numpy(arr, binary_data=False)
            else:
                i.set_data_from_numpy(arr)
            inputs.append(i)
        outputs = [client_mod.InferRequestedOutput(out_name, binary_data=False)
                   if scheme == "http" else client_mod.InferRequestedOutput(out_name)]
        scores: np.ndarray = local.client.infer(model, inputs,
                                                outputs=outputs).as_numpy(out_name)
        return scores

    config = {"label": f"kserve-v2-{scheme}", "backend": "kserve-v2", "url": url,
              "model": model, "device": "server", "precision": "fp32"}
    def close() -> None:
        for c in clients:
            with contextlib.suppress(Exception):  # a gevent client of an ended thread
                c.close()

    return predict, config, close


def _print(console: Any, label: str, results: dict[str, dict[str, Any]]) -> None:
    for scenario, r in results.items():
        lat = r.get("latency_ns") or {}
        p = {k: f"{lat[k] / 1e6:.3f}" for k in ("p50", "p90", "p99") if k in lat}
        extra = ""
        if scenario == "Server":
            extra = (f", {r['qps_at_bound']:.0f} QPS with p99 <= {r['latency_bound_ms']:g} ms"
                     if r.get("qps_at_bound") else ", no rate within the bound")
        elif scenario == "Offline" and "Samples per second" in r.get("qps", {}):
            extra = f", {r['qps']['Samples per second']:.0f} jets/s"
        why = f" ({', '.join(r['invalid_because'])})" if r["result"] != "VALID" else ""
        console.print(f"  {label} {scenario}: {r['result']}{why}; latency ms p50/p90/p99 "
                      f"{p.get('p50', '-')}/{p.get('p90', '-')}/{p.get('p99', '-')}{extra}",
                      highlight=False)


def run_loadgen(opts: BenchOptions, data_dir: Path, run_dir: Path | None) -> list[Path]:
    """Every scenario on every target: the records written."""
    from fairhep.bench.console import console as make_console
    from fairhep.bench.workload import load_test_jets

    console = make_console()
    if opts.url:
        from fairhep.data.manifest import manifest_path
        from fairhep.results import write_record

        jets = load_test_jets(data_dir, opts.max_jets)
        predict, config, close = remote_predict(opts.url, opts.model_name)
        console.print(f"[bold]LoadGen[/bold] {', '.join(opts.loadgen)} against {opts.url} "
                      f"({config['model']}) on {len(jets)} jets", highlight=False)
        t0 = time.perf_counter()
        try:
            results = measure_target(predict, jets, opts)
        finally:
            close()
        _print(console, config["label"], results)
        return [write_record(Path(opts.results), rec, manifest_path(data_dir))
                for rec in records_of({**config, "data": str(data_dir)}, results,
                                      {"total_s": time.perf_counter() - t0})]
    assert run_dir is not None
    return _run_backends(opts, data_dir, run_dir, console)


def _run_backends(opts: BenchOptions, data_dir: Path, run_dir: Path, console: Any
                  ) -> list[Path]:
    from fairhep.backends import select_backends
    from fairhep.bench.backend_loop import (
        NotRun,
        Outcome,
        Ran,
        plan_backends,
        require_one_ran,
        run_backends,
    )
    from fairhep.bench.console import print_not_run
    from fairhep.bench.workload import prepare_workload

    s = opts.loadgen_settings
    backends = select_backends(opts.backends, engine=opts.engine_settings)
    work = prepare_workload(opts, data_dir, run_dir, backends, (1, s.max_batch))
    console.print(f"[bold]LoadGen[/bold] {', '.join(opts.loadgen)} on {len(work.jets)} jets "
                  f"from {data_dir}", highlight=False)
    base = {"run": str(run_dir), "data": str(data_dir), "max_jets": opts.max_jets,
            "model": work.model_config}
    written: list[Path] = []

    def write(outcome: Outcome[dict[str, dict[str, Any]]]) -> None:
        if isinstance(outcome, NotRun):
            written.append(outcome.record)
            print_not_run(console, outcome.backend.label, outcome.reason, outcome.status)
        elif isinstance(outcome, Ran):
            _print(console, outcome.backend.label, outcome.result)
            timings = {"prepare_s": outcome.prepare_s, "total_s": outcome.total_s}
            written.extend(work.write(r) for r in records_of(outcome.config, outcome.result,
                                                             timings))

    outcomes = run_backends(
        work, plan_backends(opts, work, backends), kind=KIND,
        config=lambda b: {**b.config(), **base, **work.onnx_config(b)},
        measure=lambda b: measure_target(b.predict, work.jets, opts),
        not_run_metrics=lambda _: {}, on_outcome=write)
    require_one_ran(outcomes, work.results)
    return written
