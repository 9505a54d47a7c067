"""``fairhep bench --frameworks``: parity and time per batch across backends (paper Table 8).

The same test jets go through every backend. For each one we record

* accuracy (``score[:, 0] >= 0.5`` against the QCD label, the paper's definition) and AUC
  (scikit-learn) on all jets at batch 128, and on the first jets at batch 1 (``partial``, the
  paper's "partial test data" block);
* per-jet ``max_abs_dscore`` / ``mean_abs_dscore`` against PyTorch CPU fp32, judged against a
  stated per-precision tolerance (:data:`fairhep.backends.TOLERANCE`): the paper's
  reproducibility definition (§2.4) asks aggregates to be statistically consistent and single
  inferences to agree within a tolerance, so both the aggregate deltas and the per-jet maximum
  are in the record. One definition for both numbers (:data:`DSCORE_DEFINITION`): every jet
  of both passes (batch 128 and batch 1) against the reference, PyTorch CPU fp32 at batch 128;
  the torch-cpu row is its own reference at batch 128, so its deltas are those of batch 1;
* time per batch including host→device and device→host copies (see :mod:`fairhep.bench.timing`):
  batch 1 over the first :data:`BATCH1_JETS` jets (10k on a GPU as in the paper, fewer on a
  CPU, at most ``--max-jets``) and batch 128 over all jets, full batches only (the jets cycle
  to fill the last one); warm-up excluded; median, p5, p95.

One ``bench.frameworks`` record per backend, written as it finishes, with the run's model
config; backends that cannot run here get a ``skipped`` record with the reason, and one that
breaks a ``failed`` record with the error. A rerun after a kill continues the session
(:mod:`fairhep.bench.session`); when every backend failed the command exits non-zero.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
from rich.console import Console
from rich.progress import Progress
from rich.table import Table

from fairhep import schema
from fairhep.backends import Backend, PreparedModel, select_backends
from fairhep.backends.torch_backend import TorchBackend
from fairhep.bench.backend_loop import (
    OK,
    NotRun,
    Outcome,
    Ran,
    Resumed,
    plan_backends,
    require_one_ran,
    run_backends,
)
from fairhep.bench.console import console as make_console
from fairhep.bench.console import print_not_run, progress_bar
from fairhep.bench.options import BenchOptions
from fairhep.bench.session import CONFIG_KEY, open_session, settings_of
from fairhep.bench.timing import BatchTimes, time_batches
from fairhep.bench.workload import Workload, prepare_workload
from fairhep.data.load import JetArrays
from fairhep.results import ResultRecord, kinds

KIND = kinds.BENCH_FRAMEWORKS
TIMED_BATCH_SIZES = (1, 128)
# Jets timed at batch 1: the paper's first 10k on a GPU; a CPU does ~300-1000 single-jet
# inferences a second, so 1k keeps the mode to seconds there.
BATCH1_JETS = {"cuda": 10_000, "cpu": 1_000}
WARMUP_BATCHES = {1: 20, 128: 3}
REFERENCE_BATCH = 128  # the reference is torch-cpu's own batch-128 pass (computed alike)
DSCORE_DEFINITION = ("per-jet |score - reference| over every jet of the batch-128 and "
                     "batch-1 passes; reference: PyTorch CPU fp32 at batch 128")


def scores_metrics(scores: np.ndarray, labels: np.ndarray) -> dict[str, Any]:
    """Accuracy and AUC as `fairhep evaluate` defines them (AUC None when one class is absent)."""
    from fairhep.metrics import accuracy, auc

    area = auc(scores, labels)
    return {"accuracy": accuracy(scores, labels), "auc": None if np.isnan(area) else area,
            "n_jets": len(labels)}


def parity_metrics(
    backend: Backend, full: BatchTimes, single: BatchTimes, reference: np.ndarray,
    labels: np.ndarray,
) -> dict[str, Any]:
    """Per-jet |Δscore| against the reference (max and mean over the same deltas: every jet
    of both passes, :data:`DSCORE_DEFINITION`), per pass too, and the aggregate deltas."""
    d_full = np.abs(full.scores - reference)
    d_single = np.abs(single.scores - reference[: single.n_jets])
    every = np.concatenate([d_full.ravel(), d_single.ravel()])
    max_abs = float(every.max())
    ref_qcd = reference[:, schema.QCD] >= 0.5
    ref_metrics = scores_metrics(reference, labels)
    m = scores_metrics(full.scores, labels)
    return {
        **m,
        "max_abs_dscore": max_abs,
        "mean_abs_dscore": float(every.mean()),
        "dscore_definition": DSCORE_DEFINITION,
        "dscore_by_batch": {str(t.batch_size): {"max": float(d.max()), "mean": float(d.mean())}
                            for t, d in ((full, d_full), (single, d_single))},
        "tolerance": backend.tolerance,
        "parity_ok": bool(max_abs <= backend.tolerance),
        "accuracy_delta": m["accuracy"] - ref_metrics["accuracy"],
        "auc_delta": (None if m["auc"] is None or ref_metrics["auc"] is None
                      else m["auc"] - ref_metrics["auc"]),
        "n_decisions_changed": int(np.sum((full.scores[:, schema.QCD] >= 0.5) != ref_qcd)),
        "partial": scores_metrics(single.scores, labels[: single.n_jets]),
    }


def _reference_scores(model: PreparedModel, jets: JetArrays) -> np.ndarray:
    """PyTorch CPU fp32 scores for every jet (untimed), when torch-cpu is not among those run."""
    ref = TorchBackend("cpu")
    ref.prepare(model)
    try:
        return time_batches(ref, jets.tracks, jets.svs, REFERENCE_BATCH, warmup=0).scores
    finally:
        ref.close()


def run_frameworks(opts: BenchOptions, data_dir: Path, run_dir: Path) -> list[Path]:
    """Run every selected backend on the same jets; one record per backend; print Table 8."""
    console = make_console()
    backends = select_backends(opts.backends, engine=opts.engine_settings)
    work = prepare_workload(opts, data_dir, run_dir, backends, TIMED_BATCH_SIZES)
    settings = settings_of(opts, data_dir, run_dir, batch_sizes=list(TIMED_BATCH_SIZES))
    session = open_session(work.results, KIND, settings, [b.label for b in backends])
    base_config = {"run": str(run_dir), "data": str(data_dir), "batch_sizes":
                   list(TIMED_BATCH_SIZES), "max_jets": opts.max_jets,
                   "model": work.model_config, CONFIG_KEY: session.tag()}
    console.print(f"[bold]Framework parity and time per batch[/bold] on {len(work.jets)} jets "
                  f"from {data_dir} (reference: PyTorch CPU fp32)", highlight=False)
    if session.resumed:
        console.print(f"continuing {session.id}: {', '.join(session.done)} already recorded",
                      highlight=False)
    measure = _Measure(work, console)
    written: list[Path] = []

    def write(outcome: Outcome[dict[str, Any]]) -> None:
        # Each backend's record is written before the next backend starts.
        if isinstance(outcome, NotRun):
            written.append(outcome.record)
        elif isinstance(outcome, Resumed):
            written.append(outcome.path)
        else:
            written.append(work.write(ResultRecord(
                kind=KIND, config=outcome.config, metrics=outcome.result,
                timings={"prepare_s": outcome.prepare_s, "total_s": outcome.total_s},
            )))

    outcomes = run_backends(
        work, plan_backends(opts, work, backends), kind=KIND,
        config=lambda b: {**b.config(), **base_config, **work.onnx_config(b)}, measure=measure,
        not_run_metrics=lambda b: {"tolerance": b.tolerance}, on_outcome=write,
        done=session.done,
    )
    console.print(results_table(outcomes))
    for o in outcomes:
        if isinstance(o, NotRun | Resumed) and o.status != OK:
            print_not_run(console, o.backend.label, o.reason, o.status)
    require_one_ran(outcomes, work.results)
    return written


class _Measure:
    """Time one prepared backend at batch 1 and 128 and judge its scores against the
    reference (PyTorch CPU fp32: torch-cpu's own scores when it ran first, else computed
    once, untimed)."""

    def __init__(self, work: Workload, console: Console) -> None:
        self.work = work
        self.console = console
        self.reference: np.ndarray | None = None

    def __call__(self, backend: Backend) -> dict[str, Any]:
        jets = self.work.jets
        n1 = min(len(jets), BATCH1_JETS[backend.device])
        with progress_bar(self.console) as progress:
            full = time_batches(backend, jets.tracks, jets.svs, 128, WARMUP_BATCHES[128],
                                _advance(progress, f"{backend.label} batch 128", len(jets)))
            single = time_batches(backend, jets.tracks[:n1], jets.svs[:n1], 1,
                                  WARMUP_BATCHES[1],
                                  _advance(progress, f"{backend.label} batch 1", n1))
        if self.reference is None:
            self.reference = (full.scores if backend.label == "torch-cpu"
                              else _reference_scores(self.work.model, jets))
        metrics = parity_metrics(backend, full, single, self.reference, jets.labels)
        metrics["time_per_batch"] = {"1": single.summary(), "128": full.summary()}
        return metrics


def _advance(progress: Progress, description: str, total: int) -> Callable[[int], None]:
    """A new task on ``progress``, advanced by the jets of each batch."""
    task = progress.add_task(description, total=total)
    return lambda n: progress.advance(task, n)


def _ms(entry: dict[str, Any]) -> str:
    return (f"{entry['median_s'] * 1e3:.3f} "
            f"\\[{entry['p5_s'] * 1e3:.3f}, {entry['p95_s'] * 1e3:.3f}]")


def results_table(outcomes: Sequence[Outcome[dict[str, Any]]]) -> Table:
    """The printed Table 8: one row per backend that ran, in this run or earlier in its
    session (the others are listed after it)."""
    table = Table(title="Inference across frameworks (cf. paper Table 8); time/batch in ms: "
                  "median \\[p5, p95], full batches, incl. host<->device copies")
    for col in ("Backend", "Prec.", "Status", "Accuracy", "AUC", "|Δscore| max/mean",
                "ms/batch @1", "ms/batch @128", "Jets @1/@128"):
        table.add_column(col, overflow="fold")
    for o in outcomes:
        if isinstance(o, Ran) and o.status == OK:
            cfg, m = o.config, o.result
        elif isinstance(o, Resumed) and o.status == OK:
            cfg, m = o.record.config, o.record.metrics
        else:
            continue
        name = "\n".join([cfg["label"], *([f"({cfg['provider']})"] if cfg.get("provider") else []),
                          f"{cfg.get('host_memory', '?')} host memory"])
        t = m["time_per_batch"]
        parity = "[green]ok[/green]" if m["parity_ok"] else "[red]PARITY FAIL[/red]"
        table.add_row(
            name, str(cfg["precision"]), f"{parity} (tol {m['tolerance']:.0e})",
            f"{m['accuracy']:.5f}", "n/a" if m["auc"] is None else f"{m['auc']:.5f}",
            f"{m['max_abs_dscore']:.1e}\n{m['mean_abs_dscore']:.1e}", _ms(t["1"]),
            _ms(t["128"]), f"{t['1']['n_jets']}/{t['128']['n_jets']}",
        )
    return table
