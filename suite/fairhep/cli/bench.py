"""``fairhep bench``: option names here are a contract with site job files and containers."""

from __future__ import annotations

import argparse
from pathlib import Path

from fairhep.cli._engine import add_engine_options
from fairhep.cli._results import add_results_option
from fairhep.errors import ConfigError


class BatchSizesError(ConfigError, argparse.ArgumentTypeError):
    """A bad --batch-sizes: one line from a command, argparse's usage error as a ``type=``."""


def _range(part: str, text: str) -> range:
    try:
        start, stop, step = (int(x) for x in part.split(":"))
    except ValueError:
        raise BatchSizesError(f"--batch-sizes: {part!r} in {text!r} is not START:STOP:STEP with "
                          "integers (e.g. 200:2400:200)") from None
    if step < 1:
        raise BatchSizesError(f"--batch-sizes: the step of {part!r} must be at least 1")
    if start > stop:
        raise BatchSizesError(f"--batch-sizes: {part!r} is empty: its start {start} is above its "
                          f"stop {stop} (START:STOP:STEP counts up, e.g. {stop}:{start}:{step})")
    return range(start, stop + 1, step)


def int_list(text: str) -> tuple[int, ...]:
    """``100,300,500`` or a range ``100:2400:200`` (stop inclusive), comma-joinable; a
    one-line ConfigError saying what is wrong with the text otherwise."""
    out: list[int] = []
    for part in (p.strip() for p in text.split(",")):
        if ":" in part:
            out.extend(_range(part, text))
        elif part:
            try:
                out.append(int(part))
            except ValueError:
                raise BatchSizesError(f"--batch-sizes: {part!r} is not an integer") from None
    if not out:
        raise BatchSizesError(f"--batch-sizes: {text!r} names no batch size")
    if min(out) < 1:
        raise BatchSizesError(f"--batch-sizes: batch sizes must be at least 1, {text!r} gives "
                          f"{min(out)}")
    return tuple(out)


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
    p.add_argument("--epochs", type=int, help="epochs for training the embedded default")
    p.add_argument("--max-jets", type=int, help="use at most this many test jets")
    p.add_argument("--frameworks", action="store_true",
                   help="framework parity and time per batch (paper Table 8)")
    p.add_argument("--batch-sweep", action="store_true",
                   help="throughput / GPU-utilisation sweep over batch sizes (paper Figure 4)")
    p.add_argument("--backends", type=lambda s: tuple(x for x in s.split(",") if x),
                   default=(), help="comma-separated backends (default: all; absent ones are "
                   "reported as skipped)")
    p.add_argument("--batch-sizes",
                   help="batch sizes, e.g. 100:2400:200,2800:4200:400")
    p.add_argument("--repeats", type=int, default=10, help="repetitions per batch size")
    p.add_argument("--repeat-seconds", type=float, dest="repeat_s",
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
    p.set_defaults(func=_run)


def _run(args: argparse.Namespace) -> int:
    from fairhep.bench import BenchOptions, run

    opts = BenchOptions(
        data=args.data, run=args.run, results=args.results, device=args.device,
        seed=args.seed, epochs=args.epochs, max_jets=args.max_jets,
        frameworks=args.frameworks, batch_sweep=args.batch_sweep, backends=args.backends,
        batch_sizes=None if args.batch_sizes is None else int_list(args.batch_sizes),
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
    from rich.console import Console

    from fairhep.report import build_report
    from fairhep.results.location import new_report_dir

    html = build_report([Path(results)], new_report_dir(Path(results), "bench"))
    Console().print(f"report: {html.parent / 'report.md'}\nreport: {html}")
    return html
