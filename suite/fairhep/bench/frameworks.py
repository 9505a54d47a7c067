"""``fairhep bench --frameworks``: parity and time per batch across backends (paper Table 8).

The same test jets go through every backend. For each one we record

* accuracy (``score[:, 0] >= 0.5`` against the QCD label, the paper's definition) and AUC
  (scikit-learn) on all jets at batch 128, and on the first jets at batch 1 (``partial``, the
  paper's "partial test data" block);
* per-jet ``max_abs_dscore`` / ``mean_abs_dscore`` against PyTorch CPU fp32, judged against a
  stated per-precision tolerance (:data:`fairhep.backends.TOLERANCE`): the paper's
  reproducibility definition (§2.4) asks aggregates to be statistically consistent and single
  inferences to agree within a tolerance, so both the aggregate deltas and the per-jet maximum
  are in the record;
* time per batch including host→device and device→host copies (see :mod:`fairhep.bench.timing`):
  batch 1 over the first :data:`BATCH1_JETS` jets (10k on a GPU as in the paper, fewer on a
  CPU, at most ``--max-jets``) and batch 128 over all jets; warm-up excluded; median, p5, p95.

One ``bench.frameworks`` record per backend; backends that cannot run here get a ``skipped``
record with the reason, and one that breaks a ``failed`` record with the error.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import numpy as np
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from fairhep import schema
from fairhep.backends import Backend, PreparedModel
from fairhep.backends.torch_backend import TorchBackend
from fairhep.bench.common import (
    chosen_backends,
    device_excluded,
    load_test_jets,
    manifest_of,
    not_run_record,
    prepare_model,
    print_skipped,
)
from fairhep.bench.common import console as make_console
from fairhep.bench.options import BenchOptions
from fairhep.bench.timing import BatchTimes, time_batches
from fairhep.data.load import JetArrays
from fairhep.errors import BackendUnavailable
from fairhep.results import ResultRecord, kinds, write_record

KIND = kinds.BENCH_FRAMEWORKS
TIMED_BATCH_SIZES = (1, 128)
# Jets timed at batch 1: the paper's first 10k on a GPU; a CPU does ~300-1000 single-jet
# inferences a second, so 1k keeps the mode to seconds there.
BATCH1_JETS = {"cuda": 10_000, "cpu": 1_000}
WARMUP_BATCHES = {1: 20, 128: 3}
REFERENCE_BATCH = 1024


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
    """Per-jet |Δscore| against the reference, over both passes, and the aggregate deltas."""
    d_full = np.abs(full.scores - reference)
    d_single = np.abs(single.scores - reference[: single.n_jets])
    max_abs = float(max(d_full.max(), d_single.max()))
    ref_qcd = reference[:, schema.QCD] >= 0.5
    ref_metrics = scores_metrics(reference, labels)
    m = scores_metrics(full.scores, labels)
    return {
        **m,
        "max_abs_dscore": max_abs,
        "mean_abs_dscore": float(d_full.mean()),
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
    jets = load_test_jets(data_dir, opts.max_jets)
    backends = chosen_backends(opts)
    model, export_error = prepare_model(opts, run_dir, backends, TIMED_BATCH_SIZES)
    manifest = manifest_of(data_dir)
    base_config = {"run": str(run_dir), "data": str(data_dir), "batch_sizes":
                   list(TIMED_BATCH_SIZES), "max_jets": opts.max_jets,
                   "onnx": str(model.onnx_path) if model.onnx_path else None}

    reference: np.ndarray | None = None
    written: list[Path] = []
    rows: list[dict[str, Any]] = []
    console.print(f"[bold]Framework parity and time per batch[/bold] on {len(jets)} jets from "
                  f"{data_dir} (reference: PyTorch CPU fp32)", highlight=False)
    for backend in backends:
        config = {**backend.config(), **base_config}
        # torch-cpu stays with --device cuda: it is the reference every backend is judged by.
        reason = backend.available() or device_excluded(opts, backend)
        if reason is None and backend.name != "torch" and export_error:
            reason = export_error
            status = "failed"
        else:
            status = "skipped"
        if reason:
            metrics = {"tolerance": backend.tolerance}
            written.append(not_run_record(KIND, backend, config, status, reason, opts,
                                          data_dir, metrics))
            rows.append({"backend": backend, "status": status, "reason": reason})
            continue
        t_start = time.perf_counter()
        try:
            backend.prepare(model)
            prepare_s = time.perf_counter() - t_start
            n1 = min(len(jets), BATCH1_JETS[backend.device])
            with _progress(console) as progress:
                task = progress.add_task(f"{backend.label} batch 128", total=len(jets))
                full = time_batches(backend, jets.tracks, jets.svs, 128, WARMUP_BATCHES[128],
                                    lambda k: progress.advance(task, k))
                task = progress.add_task(f"{backend.label} batch 1", total=n1)
                single = time_batches(backend, jets.tracks[:n1], jets.svs[:n1], 1,
                                      WARMUP_BATCHES[1], lambda k: progress.advance(task, k))
            if reference is None:
                reference = (full.scores if backend.label == "torch-cpu"
                             else _reference_scores(model, jets))
            metrics = parity_metrics(backend, full, single, reference, jets.labels)
            metrics["time_per_batch"] = {"1": single.summary(), "128": full.summary()}
        except BackendUnavailable as exc:
            written.append(not_run_record(KIND, backend, config, "skipped", str(exc), opts,
                                          data_dir, {"tolerance": backend.tolerance}))
            rows.append({"backend": backend, "status": "skipped", "reason": str(exc)})
            continue
        except Exception as exc:  # a broken backend must not lose the others' results
            reason = f"{type(exc).__name__}: {exc}"
            written.append(not_run_record(KIND, backend, config, "failed", reason, opts,
                                          data_dir, {"tolerance": backend.tolerance}))
            rows.append({"backend": backend, "status": "failed", "reason": reason})
            continue
        finally:
            backend.close()
        record = ResultRecord(
            kind=KIND, config=config, metrics=metrics,
            timings={"prepare_s": prepare_s, "total_s": time.perf_counter() - t_start},
        )
        written.append(write_record(opts.results, record, manifest))
        rows.append({"backend": backend, "status": "ok", "metrics": metrics})
    console.print(results_table(rows))
    for row in rows:
        if row["status"] != "ok":
            print_skipped(console, row["backend"].label, row["reason"], row["status"])
    return written


def _progress(console: Console) -> Progress:
    return Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
                    TimeElapsedColumn(), console=console, transient=True)


def _ms(entry: dict[str, Any]) -> str:
    return (f"{entry['median_s'] * 1e3:.3f} "
            f"\\[{entry['p5_s'] * 1e3:.3f}, {entry['p95_s'] * 1e3:.3f}]")


def results_table(rows: list[dict[str, Any]]) -> Table:
    """The printed Table 8: one row per backend that ran (the others are listed after it)."""
    table = Table(title="Inference across frameworks (cf. paper Table 8); time/batch in ms: "
                  "median \\[p5, p95], incl. host<->device copies")
    for col in ("Backend", "Prec.", "Status", "Accuracy", "AUC", "max|Δscore|",
                "ms/batch @1", "ms/batch @128", "Jets @1/@128"):
        table.add_column(col, overflow="fold")
    for row in rows:
        b: Backend = row["backend"]
        name = b.label + (f"\n({b.provider})" if b.provider else "")
        if row["status"] != "ok":
            continue
        m = row["metrics"]
        t = m["time_per_batch"]
        parity = "[green]ok[/green]" if m["parity_ok"] else "[red]PARITY FAIL[/red]"
        table.add_row(
            name, b.precision, f"{parity} (tol {m['tolerance']:.0e})",
            f"{m['accuracy']:.5f}", "n/a" if m["auc"] is None else f"{m['auc']:.5f}",
            f"{m['max_abs_dscore']:.2e}", _ms(t["1"]), _ms(t["128"]),
            f"{t['1']['n_jets']}/{t['128']['n_jets']}",
        )
    return table
