"""``fairhep bench``: option names here are a contract with site job files and containers."""

from __future__ import annotations

import argparse
from pathlib import Path

from fairhep.cli._engine import add_engine_options
from fairhep.cli._results import add_results_option
from fairhep.cli._values import int_list, positive_float, positive_int


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser(
        "bench",
        help="run the benchmark (embedded default: synthetic data, brief training)",
        description="Without --data/--run: synthesise a small dataset, train the baseline IN "
        "briefly, evaluate, and write result records. --frameworks: parity and time per batch "
        "for every backend (Table 8). --batch-sweep: throughput and GPU utilisation vs batch "
        "size (Figure 4).",
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

    opts = BenchOptions(
        data=args.data, run=args.run, results=args.results, device=args.device,
        seed=args.seed, epochs=args.epochs, max_jets=args.max_jets,
        frameworks=args.frameworks, batch_sweep=args.batch_sweep, backends=args.backends,
        batch_sizes=args.batch_sizes,
        repeats=args.repeats, cache_dir=args.cache_dir, repeat_s=args.repeat_s,
        host_memory=args.host_memory, engine=args.engine,
    )
    written = run(opts)
    if args.report and written:
        write_report(opts.results)
    return 0


def write_report(results: Path) -> Path:
    """A report of everything in the results directory, next to its records, so each bench
    run leaves a readable summary (a new folder each time; records are never touched)."""
    from fairhep.report import build_report
    from fairhep.results.location import new_report_dir

    html = build_report([Path(results)], new_report_dir(Path(results), "bench"))
    print(f"report: {html.parent / 'report.md'}\nreport: {html}")  # plain: never cut
    return html
