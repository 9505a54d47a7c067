"""The default mode: evaluate the run on the test set, write a ``bench.default`` record.

Without ``--data``/``--run`` that is the embedded default (:mod:`fairhep.bench.datasource`):
synthetic jets and a briefly trained baseline IN, both cached.
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

from fairhep.bench.datasource import Inputs
from fairhep.bench.options import BenchOptions


def run_default(opts: BenchOptions, inputs: Inputs) -> list[Path]:
    """Evaluate the run on the test set, write a ``bench.default`` record, print a table."""
    from rich.console import Console
    from rich.table import Table

    from fairhep.data.manifest import manifest_path
    from fairhep.evaluate import evaluate
    from fairhep.results import ResultRecord, kinds, write_record
    from fairhep.train import SUMMARY

    data_dir, run_dir = inputs.data_dir, inputs.run_dir
    ev = evaluate(run_dir, data_dir, device=opts.device, max_jets=opts.max_jets,
                  files=inputs.test_files, engine=opts.engine,
                  engine_settings=opts.engine_settings)
    summary_path = Path(run_dir) / SUMMARY
    summary: dict[str, Any] = (json.loads(summary_path.read_text()) if summary_path.is_file()
                               else {})
    timings = {
        "synth_jets_per_s": inputs.synth_jets_per_s,
        "train_jets_per_s": summary.get("train_jets_per_s"),
        "eval_jets_per_s": ev.jets_per_s,
        "train_s": summary.get("train_s"),
        "eval_s": ev.total_s,
        "total_s": time.perf_counter() - inputs.started,
    }
    record = ResultRecord(
        kind=kinds.BENCH_DEFAULT,
        config={
            "data": str(data_dir), "run": str(run_dir), "device": ev.device, "seed": opts.seed,
            "model": ev.config["model"], "parameters": ev.config["parameters"],
            "training": summary.get("config"),
            "default": None if inputs.default is None else dict(inputs.default),
            "cached_data": inputs.cached_data, "cached_run": inputs.cached_run,
            "max_jets": opts.max_jets,
            "test_files": ev.config["files"],
            "engine": ev.config["engine"],
        },
        metrics={
            "accuracy": ev.accuracy, "auc": ev.auc, "loss": ev.loss,
            "n_train_jets": summary.get("n_train_jets"), "n_test_jets": ev.n_jets,
            "roc": ev.roc,
            **({"auc_undefined": ev.auc_undefined} if ev.auc_undefined else {}),
        },
        timings=timings,
    )
    path = write_record(Path(opts.results), record, manifest_path(data_dir))

    def rate(v: float | None) -> str:
        return "-" if v is None else f"{v:,.0f}"

    cached = " (cached)"
    table = Table(title="fairhep bench (default)", show_header=False)
    table.add_row("device", f"{ev.device} ({opts.engine} engine)")
    table.add_row("jets (train / test)",
                  f"{rate(summary.get('n_train_jets'))} / {ev.n_jets:,}")
    table.add_row("AUC", f"{ev.auc:.4f}" if ev.auc is not None else f"n/a ({ev.auc_undefined})")
    table.add_row("accuracy", f"{ev.accuracy:.4f}")
    table.add_row("synth jets/s",
                  rate(inputs.synth_jets_per_s) + (cached if inputs.cached_data else ""))
    table.add_row("train jets/s", rate(summary.get("train_jets_per_s"))
                  + (cached if inputs.cached_run else ""))
    table.add_row("eval jets/s", rate(ev.jets_per_s))
    table.add_row("total time", f"{timings['total_s']:.1f} s")
    Console().print(table)
    # Plain lines, outside the table: a path is never cut to the terminal's width.
    print(f"record: {path}")
    print(f"trained run: {run_dir}" + ("" if opts.run else " (the embedded default's, kept in "
          "the cache)"))
    print(f"  package it: fairhep package --run {run_dir} --out BUNDLE_DIR")
    return [path]
