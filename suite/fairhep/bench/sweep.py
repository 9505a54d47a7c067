"""``fairhep bench --batch-sweep``: throughput and GPU utilisation vs batch size (Figure 4).

For every backend and batch size, ``--repeats`` repetitions (default 10) each run
``ceil(JETS_PER_REPEAT / batch)`` batches, each timed as in :mod:`fairhep.bench.timing` (host→device
copy, inference, device→host copy); ``--max-jets`` lowers JETS_PER_REPEAT, and with fewer
test jets than that the batches cycle through them. A repetition's throughput is its jets
over its wall time. One untimed warm-up batch precedes each batch size. While it runs,
:class:`GpuSampler` polls NVML at 20 Hz and each point gets the mean GPU utilisation, memory
and power of its interval.

Grids (``--batch-sizes`` overrides, e.g. ``200:2400:200,2600:4200:400`` for the paper's code):

* :data:`GPU_BATCH_SIZES` follows the paper's text (§3.3.1): 100…2300 in steps of 200, then
  2400…4000 in steps of 400, plus 4200 so the range ends where the paper's does. The paper's
  code ran :data:`PAPER_CODE_BATCH_SIZES` (200…2400 step 200, then 2600…4200 step 400); the
  two grids share the 100-2400 / 2400-4200 ranges and step sizes, not every point.
* :data:`CPU_BATCH_SIZES` is the smaller grid a CPU-only node sweeps (a CPU runs the IN at
  hundreds to a few thousand jets/s), where NVML is unavailable and says so.

On a GPU node the CPU backends are left out unless named in ``--backends`` (a CPU sweep over
the GPU grid takes hours); they are recorded as skipped with that reason.

Writes one ``bench.sweep`` record per backend, plus ``sweep.csv`` (every point of every
backend) and ``sweep.png`` (box plots per batch size, GPU utilisation on a second axis) in
``RESULTS/artifacts/sweep/<stamp>/``; records name them relative to the results directory.
"""

from __future__ import annotations

import math
import socket
import time
from collections.abc import Callable, Sequence
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import numpy as np
from rich.console import Console
from rich.table import Table

from fairhep.backends import Backend, select_backends
from fairhep.bench.backend_loop import NotRun, Ran, plan_backends, run_backends
from fairhep.bench.console import console as make_console
from fairhep.bench.console import print_not_run, progress_bar
from fairhep.bench.gpu_sampler import GpuSampler
from fairhep.bench.options import BenchOptions
from fairhep.bench.workload import Workload, prepare_workload
from fairhep.data.load import JetArrays
from fairhep.plots import SweepSeries, sweep_figure, write_sweep_csv
from fairhep.results import ResultRecord, kinds

KIND = kinds.BENCH_SWEEP
GPU_BATCH_SIZES: tuple[int, ...] = (
    tuple(range(100, 2400, 200)) + tuple(range(2400, 4200, 400)) + (4200,)
)
PAPER_CODE_BATCH_SIZES: tuple[int, ...] = tuple(range(200, 2401, 200)) + tuple(
    range(2600, 4201, 400)
)
CPU_BATCH_SIZES: tuple[int, ...] = (16, 32, 64, 128, 256, 512)
# Jets per repetition: enough batches that a repetition lasts well over NVML's sample
# period on a GPU (~0.5-2 s at 10-40k jets/s), and about a second per point on a CPU.
JETS_PER_REPEAT = {"cuda": 20_000, "cpu": 512}
ARTIFACT_DIR = "artifacts/sweep"
Points = list[dict[str, Any]]  # one per (batch size, repetition), in the order swept


def default_grid(device: str) -> tuple[int, ...]:
    return GPU_BATCH_SIZES if device == "cuda" else CPU_BATCH_SIZES


def sweep_batches(jets: JetArrays, batch_size: int, n_jets: int) -> list[tuple[np.ndarray,
                                                                               np.ndarray]]:
    """Contiguous input batches covering ``n_jets`` (whole batches), cycling through the
    test jets when there are fewer; built before timing so slicing is never timed."""
    n_batches = max(1, math.ceil(n_jets / batch_size))
    n = len(jets)
    out = []
    for i in range(n_batches):
        start = (i * batch_size) % n
        if start + batch_size <= n:
            sl = slice(start, start + batch_size)
            out.append((jets.tracks[sl], jets.svs[sl]))
        else:
            idx = (start + np.arange(batch_size)) % n
            out.append((np.ascontiguousarray(jets.tracks[idx]),
                        np.ascontiguousarray(jets.svs[idx])))
    return out


def sweep_backend(
    backend: Backend, jets: JetArrays, batch_sizes: Sequence[int], repeats: int,
    jets_per_repeat: int, sampler: GpuSampler, advance: Callable[[], None] | None = None,
) -> Points:
    """Every (batch size, repetition) point of one prepared backend."""
    points: Points = []
    clock = time.perf_counter
    for b in batch_sizes:
        batches = sweep_batches(jets, b, jets_per_repeat)
        backend.predict(*batches[0])  # warm-up: shape-specific set-up is not throughput
        n = sum(len(t) for t, _ in batches)
        for r in range(repeats):
            t0 = clock()
            for tracks, svs in batches:
                backend.predict(tracks, svs)
            t1 = clock()
            points.append({"batch_size": b, "repeat": r, "n_batches": len(batches),
                           "n_jets": n, "time_s": t1 - t0, "jets_per_s": n / (t1 - t0),
                           **sampler.window(t0, t1)})
            if advance is not None:
                advance()
    return points


def summarise(points: Points) -> dict[str, Any]:
    """Median throughput and GPU utilisation per batch size; the peak of the medians."""
    by_size: dict[int, list[dict[str, Any]]] = {}
    for p in points:
        by_size.setdefault(p["batch_size"], []).append(p)
    medians = {b: float(np.median([p["jets_per_s"] for p in ps])) for b, ps in by_size.items()}
    util: dict[int, float | None] = {}
    for b, ps in by_size.items():
        vals = [p["gpu_util_pct"] for p in ps if p["gpu_util_pct"] is not None]
        util[b] = float(np.median(vals)) if vals else None
    peak = max(medians, key=lambda b: medians[b])
    return {
        "median_jets_per_s": {str(b): v for b, v in medians.items()},
        "median_gpu_util_pct": {str(b): v for b, v in util.items()},
        "peak_jets_per_s": medians[peak],
        "peak_batch_size": int(peak),
    }


def backend_grid(opts: BenchOptions, backend: Backend) -> tuple[int, ...]:
    """The batch sizes this backend is swept over: --batch-sizes, else its device's grid."""
    return tuple(opts.batch_sizes) if opts.batch_sizes else default_grid(backend.device)


def jets_per_repeat(opts: BenchOptions, backend: Backend) -> int:
    per_repeat = JETS_PER_REPEAT[backend.device]
    return min(per_repeat, opts.max_jets) if opts.max_jets else per_repeat


def run_sweep(opts: BenchOptions, data_dir: Path, run_dir: Path) -> list[Path]:
    """Sweep every selected backend over its grid; records, CSV and PNG; returns records."""
    if opts.repeats < 1:
        raise ValueError("--repeats must be at least 1")
    console = make_console()
    backends = select_backends(opts.backends)
    gpu_node = any(b.device == "cuda" and b.available() is None for b in backends)
    work = prepare_workload(opts, data_dir, run_dir, backends,
                            sorted({s for b in backends for s in backend_grid(opts, b)}))
    plan = plan_backends(opts, work, backends, _not_swept(opts, gpu_node))
    stamp = datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%SZ")
    rel_dir = Path(ARTIFACT_DIR) / f"{stamp}_{socket.gethostname()}"

    sampler = GpuSampler()
    at_start = _nvml_block(sampler.status())
    console.print(f"[bold]Batch-size sweep[/bold] on {len(work.jets)} jets from {data_dir}, "
                  f"{opts.repeats} repetitions per batch size", highlight=False)
    if not sampler.available:
        console.print(f"GPU utilisation: {_nvml_why(sampler.reason)}", highlight=False)

    def config(b: Backend) -> dict[str, Any]:
        cfg = {**b.config(), "batch_sizes": list(backend_grid(opts, b)),
               "repeats": opts.repeats, "jets_per_repeat": jets_per_repeat(opts, b),
               "run": str(run_dir), "data": str(data_dir), "max_jets": opts.max_jets}
        cfg.pop("reference", None)
        return cfg

    def print_if_not_run(outcome: Ran[Points] | NotRun) -> None:
        if isinstance(outcome, NotRun):
            print_not_run(console, outcome.backend.label, outcome.reason, outcome.status)

    total = sum(len(backend_grid(opts, p.backend)) * opts.repeats for p in plan if p.runnable)
    progress = progress_bar(console)
    with progress, sampler:
        task = progress.add_task("sweep", total=total)

        def measure(b: Backend) -> Points:
            progress.update(task, description=f"sweep {b.label}")
            return sweep_backend(b, work.jets, backend_grid(opts, b), opts.repeats,
                                 jets_per_repeat(opts, b), sampler,
                                 lambda: progress.advance(task))

        outcomes = run_backends(work, plan, kind=KIND, config=config, measure=measure,
                                not_run_metrics=lambda _: {"nvml": at_start},
                                on_outcome=print_if_not_run)

    written = [o.record for o in outcomes if isinstance(o, NotRun)]
    ran = [o for o in outcomes if isinstance(o, Ran)]
    if ran:
        written += _write_swept(work, ran, sampler, rel_dir, console)
    return written


def _write_swept(work: Workload, ran: Sequence[Ran[Points]], sampler: GpuSampler,
                 rel_dir: Path, console: Console) -> list[Path]:
    """The CSV and PNG of every backend swept, then one record each naming them; the table."""
    nvml = {**sampler.status(), "available": sampler.available}
    out_dir = work.results / rel_dir
    out_dir.mkdir(parents=True, exist_ok=True)
    series = [SweepSeries(o.backend.label, o.backend.device, o.backend.provider,
                          o.backend.precision, o.result) for o in ran]
    write_sweep_csv(out_dir / "sweep.csv", series)
    where = nvml.get("device") or socket.gethostname()
    sweep_figure(out_dir / "sweep.png", series,
                 f"Throughput and GPU utilisation vs batch size on {where} (cf. paper Figure 4)",
                 note=None if nvml["available"] else
                 f"GPU utilisation: {_nvml_why(nvml.get('reason'))}")
    artifacts = {"csv": str(rel_dir / "sweep.csv"), "png": str(rel_dir / "sweep.png")}
    written = []
    for o in ran:
        metrics = {"points": o.result, **summarise(o.result), "nvml": _nvml_block(nvml)}
        written.append(work.write(ResultRecord(
            kind=KIND, config=o.config, metrics=metrics, timings={"total_s": o.total_s},
            artifacts=dict(artifacts))))
    console.print(summary_table(ran, nvml))
    console.print(f"CSV: {out_dir / 'sweep.csv'}\nPNG: {out_dir / 'sweep.png'}",
                  highlight=False)
    return written


def _not_swept(opts: BenchOptions, gpu_node: bool) -> Callable[[Backend], str | None]:
    """The sweep's own reasons to leave a CPU backend out (a CPU sweep over the GPU grid
    takes hours)."""
    explicit = set(opts.backends)

    def reason(b: Backend) -> str | None:
        if b.device != "cpu":
            return None
        if opts.device == "cuda":
            return "--device cuda: CPU backends not swept"
        if gpu_node and opts.device == "auto" and not explicit & {b.name, b.label}:
            return ("CPU backend not swept on a GPU node by default (name it in --backends "
                    "to include it)")
        return None

    return reason


def _nvml_why(reason: str | None) -> str:
    """'NVML unavailable (<why>)', whatever prefix the reason already carries."""
    why = (reason or "no samples taken").removeprefix("NVML unavailable: ")
    return f"NVML unavailable ({why})"


def _nvml_block(status: dict[str, Any]) -> dict[str, Any]:
    return {"available": bool(status["available"]), "reason": status["reason"],
            "hz": status["hz"], "device": status["device"], "n_samples": status["n_samples"]}


def summary_table(ran: Sequence[Ran[Points]], nvml: dict[str, Any]) -> Table:
    table = Table(title="Sweep: median jets/s (GPU util.)",
                  caption=None if nvml["available"] else
                  f"GPU utilisation: {_nvml_why(nvml.get('reason'))}")
    table.add_column("Batch", justify="right")
    summaries = [(o.backend, summarise(o.result)) for o in ran]
    for b, _ in summaries:
        table.add_column(b.label, justify="right")
    sizes = sorted({int(s) for _, s in summaries for s in s["median_jets_per_s"]})
    for size in sizes:
        cells = []
        for _, s in summaries:
            v = s["median_jets_per_s"].get(str(size))
            u = s["median_gpu_util_pct"].get(str(size))
            cells.append("" if v is None else f"{v:,.0f}" + ("" if u is None else f" ({u:.0f}%)"))
        table.add_row(str(size), *cells)
    table.add_row("peak", *[f"{s['peak_jets_per_s']:,.0f} @ {s['peak_batch_size']}"
                            for _, s in summaries])
    return table
