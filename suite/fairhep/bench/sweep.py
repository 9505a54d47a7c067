"""``fairhep bench --batch-sweep``: throughput and GPU utilisation vs batch size (Figure 4).

For every backend and batch size, ``--repeats`` repetitions (default 10) each run whole
batches, cycling through a set of input batches built beforehand (:func:`sweep_batches`, in the
backend's host memory: pinned on a GPU), until the repetition has lasted ``--repeat-seconds``
(:data:`REPEAT_SECONDS`: 2 s on a GPU). Repetitions are sized by time, not by a jet count,
because NVML's utilisation counter covers the last 1/6-1 s: a repetition a fast GPU finishes
in a fraction of a second would get one or two samples inherited from its neighbours. Each
batch is timed as in :mod:`fairhep.bench.timing` (host→device copy, inference, device→host
copy); a repetition's throughput is its jets over its wall time. One untimed warm-up batch
precedes each batch size. While it runs, :class:`GpuSampler` polls NVML at 20 Hz and each
point gets the mean GPU utilisation, memory and power of its interval, and how many samples
that mean is over (``nvml_samples``).

Grids (``--batch-sizes`` overrides, e.g. ``200:2400:200,2600:4200:400`` for the paper's code):

* :data:`GPU_BATCH_SIZES` follows the paper's text (§3.3.1): 100…2300 in steps of 200, then
  2400…4000 in steps of 400, plus 4200 so the range ends where the paper's does. The paper's
  code ran :data:`PAPER_CODE_BATCH_SIZES` (200…2400 step 200, then 2600…4200 step 400); the
  two grids share the 100-2400 / 2400-4200 ranges and step sizes, not every point.
* :data:`CPU_BATCH_SIZES` is the smaller grid a CPU-only node sweeps (a CPU runs the IN at
  hundreds to a few thousand jets/s), where NVML is unavailable and says so.

On a GPU node the CPU backends are left out unless named in ``--backends`` (a CPU sweep over
the GPU grid takes hours); they are recorded as skipped with that reason.

Each backend's ``bench.sweep`` record is written as soon as it is swept, with ``sweep.csv``
(every point of every backend swept so far) and ``sweep.png`` (box plots per batch size, GPU
utilisation on a second axis) rewritten before it in ``RESULTS/artifacts/sweep/<session>/``;
records name them relative to the results directory. A killed sweep loses only the backend
it was in: the same command continues the session (:mod:`fairhep.bench.session`). A backend
that breaks part-way (out of memory at a large batch) keeps the points it measured, in a
``failed`` record that says where it stopped; nothing falls back to the CPU under its label.
"""

from __future__ import annotations

import math
import socket
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
from rich.console import Console
from rich.table import Table

from fairhep.backends import Backend, select_backends
from fairhep.bench.backend_loop import (
    OK,
    NotRun,
    Outcome,
    PartialResult,
    Resumed,
    plan_backends,
    require_one_ran,
    run_backends,
)
from fairhep.bench.console import console as make_console
from fairhep.bench.console import print_not_run, progress_bar
from fairhep.bench.gpu_sampler import GpuSampler
from fairhep.bench.options import BenchOptions
from fairhep.bench.session import CONFIG_KEY, Session, open_session, settings_of
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
# Seconds of work per repetition: two of NVML's longest utilisation periods (1 s) and ~40
# samples at 20 Hz on a GPU; on a CPU (no NVML) enough for a stable rate.
REPEAT_SECONDS = {"cuda": 2.0, "cpu": 0.5}
# Jets of the input batches built before timing, cycled through by every repetition: a few
# batches at the largest sizes, bounded host (pinned) memory.
BATCH_SET_JETS = {"cuda": 20_000, "cpu": 2048}
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
    repeat_s: float, sampler: GpuSampler, advance: Callable[[], None] | None = None,
    batch_set_jets: int = BATCH_SET_JETS["cpu"],
) -> Points:
    """Every (batch size, repetition) point of one prepared backend; raises PartialResult
    with the points measured so far when the backend breaks."""
    points: Points = []
    clock = time.perf_counter
    for b in batch_sizes:
        try:
            batches = [backend.host_arrays(t, s)
                       for t, s in sweep_batches(jets, b, min(batch_set_jets, len(jets)))]
            backend.predict(*batches[0])  # warm-up: shape-specific set-up is not throughput
            for r in range(repeats):
                done, t0 = 0, clock()
                while True:  # whole batches until the repetition has lasted repeat_s
                    backend.predict(*batches[done % len(batches)])
                    done += 1
                    t1 = clock()
                    if t1 - t0 >= repeat_s:
                        break
                n = done * b
                points.append({"batch_size": b, "repeat": r, "n_batches": done, "n_jets": n,
                               "time_s": t1 - t0, "jets_per_s": n / (t1 - t0),
                               **sampler.window(t0, t1)})
                if advance is not None:
                    advance()
        except Exception as exc:
            if not points:
                raise  # nothing measured: the loop records it as any other broken backend
            # Keep what was measured; the record says where it broke.
            raise PartialResult(points, f"{type(exc).__name__} at batch size {b}: {exc}"
                                ) from exc
    return points


def summarise(points: Points) -> dict[str, Any]:
    """Median throughput and GPU utilisation per batch size; the peak of the medians; the
    fewest NVML samples behind any point."""
    by_size: dict[int, list[dict[str, Any]]] = {}
    for p in points:
        by_size.setdefault(p["batch_size"], []).append(p)
    medians = {b: float(np.median([p["jets_per_s"] for p in ps])) for b, ps in by_size.items()}
    util: dict[int, float | None] = {}
    for b, ps in by_size.items():
        vals = [p["gpu_util_pct"] for p in ps if p["gpu_util_pct"] is not None]
        util[b] = float(np.median(vals)) if vals else None
    peak = max(medians, key=lambda b: medians[b]) if medians else None
    sampled = [p["nvml_samples"] for p in points if p.get("gpu_util_pct") is not None]
    return {
        "median_jets_per_s": {str(b): v for b, v in medians.items()},
        "median_gpu_util_pct": {str(b): v for b, v in util.items()},
        "peak_jets_per_s": None if peak is None else medians[peak],
        "peak_batch_size": None if peak is None else int(peak),
        "min_nvml_samples_per_point": min(sampled) if sampled else None,
    }


def backend_grid(opts: BenchOptions, backend: Backend) -> tuple[int, ...]:
    """The batch sizes this backend is swept over: --batch-sizes, else its device's grid."""
    return tuple(opts.batch_sizes) if opts.batch_sizes else default_grid(backend.device)


def repeat_seconds(opts: BenchOptions, backend: Backend) -> float:
    return opts.repeat_s if opts.repeat_s is not None else REPEAT_SECONDS[backend.device]


def session_settings(opts: BenchOptions, data_dir: Path, run_dir: Path) -> dict[str, Any]:
    """What makes two sweeps the same sweep (:mod:`fairhep.bench.session`)."""
    return settings_of(opts, data_dir, run_dir, batch_sizes=opts.batch_sizes,
                       repeats=opts.repeats, repeat_s=opts.repeat_s)


def run_sweep(opts: BenchOptions, data_dir: Path, run_dir: Path) -> list[Path]:
    """Sweep every selected backend over its grid; a record per backend as it finishes
    (with the CSV and PNG of all swept so far); returns the records."""
    console = make_console()
    backends = select_backends(opts.backends, engine=opts.engine_settings)
    gpu_node = any(b.device == "cuda" and b.available() is None for b in backends)
    work = prepare_workload(opts, data_dir, run_dir, backends,
                            sorted({s for b in backends for s in backend_grid(opts, b)}))
    plan = plan_backends(opts, work, backends, _not_swept(opts, gpu_node))
    session = open_session(work.results, KIND, session_settings(opts, data_dir, run_dir),
                           [b.label for b in backends])
    sampler = GpuSampler()
    sweeper = _Sweeper(work, session, sampler, console)

    def config(b: Backend) -> dict[str, Any]:
        cfg = {**b.config(), "batch_sizes": list(backend_grid(opts, b)),
               "repeats": opts.repeats, "repeat_s": repeat_seconds(opts, b),
               "batch_set_jets": min(BATCH_SET_JETS[b.device], len(work.jets)),
               "run": str(run_dir),
               "data": str(data_dir), "max_jets": opts.max_jets, "model": work.model_config,
               **work.onnx_config(b), CONFIG_KEY: session.tag()}
        cfg.pop("reference", None)
        return cfg

    total = sum(len(backend_grid(opts, p.backend)) * opts.repeats for p in plan
                if p.runnable and p.backend.label not in session.done)
    progress = progress_bar(console)
    with sampler:
        sweeper.announce(len(work.jets), opts.repeats)
        with progress:
            task = progress.add_task("sweep", total=total)

            def measure(b: Backend) -> Points:
                progress.update(task, description=f"sweep {b.label}")
                return sweep_backend(b, work.jets, backend_grid(opts, b), opts.repeats,
                                     repeat_seconds(opts, b), sampler,
                                     lambda: progress.advance(task), BATCH_SET_JETS[b.device])

            outcomes = run_backends(work, plan, kind=KIND, config=config, measure=measure,
                                    not_run_metrics=lambda _: {"nvml": sweeper.nvml_block()},
                                    on_outcome=sweeper.on_outcome, done=session.done)
    sweeper.finish()
    require_one_ran(outcomes, work.results)
    return sweeper.written


class _Sweeper:
    """Writes each backend's outcome as it comes: CSV and PNG of every backend swept in the
    session so far, then the backend's record naming them; prints the summary at the end."""

    def __init__(self, work: Workload, session: Session, sampler: GpuSampler,
                 console: Console) -> None:
        self.work, self.sampler, self.console = work, sampler, console
        self.rel_dir = Path(ARTIFACT_DIR) / session.id
        self.session = session
        self.swept: list[SweepSeries] = []
        self.written: list[Path] = []
        self.announced_reason: str | None = None

    def nvml_block(self) -> dict[str, Any]:
        status = self.sampler.status()
        return {"available": bool(status["available"]), "reason": status["reason"],
                "hz": status["hz"], "device": status["device"],
                "n_samples": status["n_samples"]}

    def announce(self, n_jets: int, repeats: int) -> None:
        """The sweep's first lines; the NVML note once (after the sampler found its GPU)."""
        self.console.print(f"[bold]Batch-size sweep[/bold] on {n_jets} jets from "
                           f"{self.work.data_dir}, {repeats} repetitions per batch size",
                           highlight=False)
        if self.session.resumed:
            self.console.print(f"continuing {self.session.id}: "
                               f"{', '.join(self.session.done)} already recorded",
                               highlight=False)
        if not self.sampler.available:
            self.announced_reason = self.sampler.reason
            self.console.print(f"GPU utilisation: {_nvml_why(self.sampler.reason)}",
                               highlight=False)

    def on_outcome(self, outcome: Outcome[Points]) -> None:
        if isinstance(outcome, Resumed):
            self.written.append(outcome.path)
            m, c = outcome.record.metrics, outcome.record.config
            if m.get("points"):
                self.swept.append(SweepSeries(c["label"], c["device"], c.get("provider"),
                                              c["precision"], m["points"]))
            if outcome.status != OK:
                print_not_run(self.console, outcome.backend.label, outcome.reason,
                              outcome.status)
            return
        if isinstance(outcome, NotRun):
            self.written.append(outcome.record)
            print_not_run(self.console, outcome.backend.label, outcome.reason, outcome.status)
            return
        b = outcome.backend
        self.swept.append(SweepSeries(b.label, b.device, b.provider, b.precision,
                                      outcome.result))
        artifacts = self._write_artifacts()
        metrics = {"points": outcome.result, **summarise(outcome.result),
                   "nvml": self.nvml_block()}
        record = ResultRecord(kind=KIND, config=outcome.config, metrics=metrics,
                              timings={"total_s": outcome.total_s}, artifacts=artifacts,
                              status=outcome.status)
        if outcome.error is not None:
            record.skip(b.label, outcome.error)
            print_not_run(self.console, b.label, f"{outcome.error} (its points so far are "
                          "kept)", outcome.status)
        self.written.append(self.work.write(record))

    def _write_artifacts(self) -> dict[str, str]:
        out_dir = self.work.results / self.rel_dir
        out_dir.mkdir(parents=True, exist_ok=True)
        write_sweep_csv(out_dir / "sweep.csv", self.swept)
        nvml = self.nvml_block()
        where = nvml.get("device") or socket.gethostname()
        sweep_figure(out_dir / "sweep.png", self.swept,
                     f"Throughput and GPU utilisation vs batch size on {where} (cf. paper "
                     "Figure 4)", note=None if nvml["available"] else
                     f"GPU utilisation: {_nvml_why(nvml.get('reason'))}")
        return {"csv": str(self.rel_dir / "sweep.csv"), "png": str(self.rel_dir / "sweep.png")}

    def finish(self) -> None:
        if not self.swept:
            return
        nvml = self.nvml_block()
        # The NVML note was printed before the sweep; again only if it changed meanwhile.
        changed = (not nvml["available"] and nvml["reason"] != self.announced_reason)
        self.console.print(summary_table(self.swept, nvml, changed))
        out_dir = self.work.results / self.rel_dir
        self.console.print(f"CSV: {out_dir / 'sweep.csv'}\nPNG: {out_dir / 'sweep.png'}",
                           highlight=False)


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


def summary_table(swept: Sequence[SweepSeries], nvml: dict[str, Any],
                  note: bool = False) -> Table:
    """Median jets/s per batch size for every backend swept (with the GPU utilisation where
    NVML gave one); ``note``: say under it why there is no utilisation."""
    table = Table(title="Sweep: median jets/s" + (" (GPU util.)" if nvml["available"] else ""),
                  caption=f"GPU utilisation: {_nvml_why(nvml.get('reason'))}" if note else None)
    table.add_column("Batch", justify="right")
    summaries = [summarise([dict(p) for p in s.points]) for s in swept]
    for s in swept:
        table.add_column(s.label, justify="right")
    sizes = sorted({int(b) for m in summaries for b in m["median_jets_per_s"]})
    for size in sizes:
        cells = []
        for m in summaries:
            v = m["median_jets_per_s"].get(str(size))
            u = m["median_gpu_util_pct"].get(str(size))
            cells.append("" if v is None else f"{v:,.0f}" + ("" if u is None else f" ({u:.0f}%)"))
        table.add_row(str(size), *cells)
    table.add_row("peak", *["" if m["peak_jets_per_s"] is None else
                            f"{m['peak_jets_per_s']:,.0f} @ {m['peak_batch_size']}"
                            for m in summaries])
    return table
