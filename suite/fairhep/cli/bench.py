"""``fairhep bench``: option names here are a contract with site job files and containers."""

from __future__ import annotations

import argparse
from pathlib import Path

from fairhep.cli._engine import add_engine_options, engine_settings
from fairhep.cli._results import add_results_option
from fairhep.cli._values import int_list, positive_float, positive_int


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser(
        "bench",
        help="run the benchmark (embedded default: synthetic data, brief training)",
        description="Without --data/--run: synthesise a small dataset, train the baseline IN "
        "briefly, evaluate, and write result records. --frameworks: parity and time per batch "
        "for every backend (Table 8). --batch-sweep: throughput and GPU utilisation vs batch "
        "size (Figure 4). --loadgen: latency percentiles, QPS at a latency bound and throughput "
        "by MLPerf LoadGen's rules, on every backend or a served model (--url).",
    )
    p.add_argument("--data", type=Path,
                   help="existing dataset directory (HDF5 or NumPy test layout)")
    p.add_argument("--run", type=Path, help="existing trained run directory")
    add_results_option(p, "result records (and the report of them, in RESULTS/reports/)")
    p.add_argument("--device", choices=["auto", "cpu", "cuda"], default="auto")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--epochs", type=positive_int,
                   help="epochs for training the embedded default")
    p.add_argument("--max-jets", type=positive_int, help="use at most this many test jets")
    p.add_argument("--frameworks", action="store_true",
                   help="framework parity and time per batch (paper Table 8)")
    p.add_argument("--batch-sweep", action="store_true",
                   help="throughput / GPU-utilisation sweep over batch sizes (paper Figure 4)")
    p.add_argument("--loadgen", type=_scenarios, default=(), metavar="SCENARIO[,...]",
                   help="latency under load with MLPerf LoadGen: SingleStream, MultiStream, "
                   "Server, Offline (e.g. SingleStream,Server,Offline), on every backend or "
                   "with --url on a KServe v2 server")
    p.add_argument("--concurrency-sweep", action="store_true",
                   help="with --url: throughput and p50/p90/p95/p99 latency at 1, 2, 4, ... "
                   "concurrent clients until throughput stops rising (as perf_analyzer)")
    p.add_argument("--concurrency-seconds", type=positive_float, default=2.0,
                   help="measured seconds per concurrency level (default 2)")
    p.add_argument("--concurrency-max", type=positive_int, default=64,
                   help="most concurrent clients (default 64)")
    p.add_argument("--concurrency-batch", type=positive_int, default=1,
                   help="jets per request of the concurrency sweep (default 1)")
    p.add_argument("--metrics-url", help="with --concurrency-sweep: the server's Prometheus "
                   "metrics (`fairhep serve --metrics-port P`: http://HOST:P/metrics) for "
                   "the server-side time of a request")
    p.add_argument("--url", help="with --loadgen or --concurrency-sweep: a KServe v2 server, "
                   "http://HOST:PORT or grpc://HOST:PORT (e.g. `fairhep serve`), measured "
                   "through tritonclient")
    p.add_argument("--model", dest="model_name", help="with --url: the served model (default: "
                   "the server's only model)")
    p.add_argument("--loadgen-seconds", type=positive_float, default=10.0,
                   help="LoadGen minimum duration per run (default 10; MLPerf: 600, "
                   "--mlperf-conformant)")
    p.add_argument("--loadgen-queries", type=positive_int, default=64,
                   help="LoadGen minimum query count (default 64)")
    p.add_argument("--latency-bound-ms", type=positive_float, default=10.0,
                   help="Server scenario: p99 latency bound of one jet (default 10 ms)")
    p.add_argument("--loadgen-batch", type=positive_int, default=128,
                   help="most jets scored at once (Offline; queued Server queries)")
    p.add_argument("--server-trials", type=positive_int, default=5,
                   help="LoadGen runs of the Server scenario's search for its highest rate")
    p.add_argument("--mlperf-conformant", action="store_true",
                   help="MLPerf Inference's minimum durations and query counts")
    p.add_argument("--backends", type=lambda s: tuple(x for x in s.split(",") if x),
                   default=(), help="comma-separated backends (default: all; absent ones are "
                   "reported as skipped)")
    p.add_argument("--batch-sizes", type=int_list,
                   help="batch sizes, e.g. 100:2400:200,2800:4200:400 (each size once)")
    p.add_argument("--repeats", type=positive_int, default=10,
                   help="repetitions per batch size")
    p.add_argument("--repeat-seconds", type=positive_float, dest="repeat_s",
                   help="seconds of work per sweep repetition (default: 2 on a GPU, enough "
                   "for NVML's utilisation counter; 0.5 on a CPU)")
    p.add_argument("--host-memory", choices=["auto", "pinned", "pageable"], default="auto",
                   help="host buffers of GPU backends (default auto: pinned on GPU "
                   "backends, as the paper timed them); recorded in every record")
    p.add_argument("--no-report", dest="report", action="store_false",
                   help="do not write a report at the end")
    p.add_argument("--cache-dir", type=Path, help="where the embedded default is kept "
                   "(default: $FAIRHEP_CACHE or ~/.cache/fairhep)")
    add_engine_options(p, precision=False)  # the embedded default's training and evaluation
    p.set_defaults(func=_run, on_interrupt=INTERRUPTED)


# What a Ctrl-C of `fairhep bench` leaves: records of the backends that finished, a training
# checkpoint, a session that a rerun of the same command continues (fairhep.bench.session).
INTERRUPTED = ("run the same command again to continue: what is already recorded is kept and "
               "not measured again, and a training resumes from its last checkpoint")


def _run(args: argparse.Namespace) -> int:
    from fairhep.bench import BenchOptions, run
    from fairhep.bench.loadgen_driver import LoadgenSettings
    from fairhep.bench.options import ConcurrencySettings

    opts = BenchOptions(
        data=args.data, run=args.run, results=args.results, device=args.device,
        seed=args.seed, epochs=args.epochs, max_jets=args.max_jets,
        frameworks=args.frameworks, batch_sweep=args.batch_sweep, backends=args.backends,
        batch_sizes=args.batch_sizes,
        repeats=args.repeats, cache_dir=args.cache_dir, repeat_s=args.repeat_s,
        host_memory=args.host_memory, engine=args.engine, engine_settings=engine_settings(args),
        loadgen=args.loadgen, url=args.url, model_name=args.model_name,
        loadgen_settings=LoadgenSettings(
            min_duration_s=args.loadgen_seconds, min_queries=args.loadgen_queries,
            latency_bound_ms=args.latency_bound_ms, max_batch=args.loadgen_batch,
            server_trials=args.server_trials, conformant=args.mlperf_conformant),
        concurrency_sweep=args.concurrency_sweep, metrics_url=args.metrics_url,
        concurrency=ConcurrencySettings(seconds=args.concurrency_seconds,
                                        batch=args.concurrency_batch,
                                        max_concurrency=args.concurrency_max),
    )
    written = run(opts)
    if args.report and written:
        write_report(opts.results)
    return 0


def _scenarios(text: str) -> tuple[str, ...]:
    from fairhep.bench.loadgen_driver import parse_scenarios

    return parse_scenarios(text)


def write_report(results: Path) -> Path:
    """A report of everything in the results directory, next to its records, so each bench
    run leaves a readable summary (a new folder each time; records are never touched)."""
    from fairhep.report import build_report
    from fairhep.results.location import new_report_dir

    html = build_report([Path(results)], new_report_dir(Path(results), "bench"))
    print(f"report: {html.parent / 'report.md'}\nreport: {html}")  # plain: never cut
    return html
