"""Set-up shared by the portability modes (``bench --frameworks`` and ``bench --batch-sweep``):
the test jets, the ONNX export the backends build from, and the records of backends that
cannot run here (skipped, with the reason) or broke (failed, with the error).
"""

from __future__ import annotations

import os
import sys
from collections.abc import Sequence
from pathlib import Path

from rich.console import Console

from fairhep.backends import Backend, PreparedModel, select_backends
from fairhep.bench.options import BenchOptions
from fairhep.data.load import JetArrays, load_dataset
from fairhep.data.manifest import manifest_path as manifest_of
from fairhep.errors import FairhepError
from fairhep.results import ResultRecord, write_record

NEEDS_ONNX = ("onnxruntime", "tensorrt")
# Batch-job logs (Slurm, containers) are not terminals: rich would fold the tables to 80
# columns there. COLUMNS still wins when set.
LOG_WIDTH = 150


def console() -> Console:
    width = None if sys.stdout.isatty() or os.environ.get("COLUMNS") else LOG_WIDTH
    return Console(width=width)


def load_test_jets(data_dir: Path, max_jets: int | None) -> JetArrays:
    """The jets the modes run on: the dataset directory as given (what ``evaluate`` reads)."""
    jets = load_dataset(Path(data_dir), max_jets)
    if len(jets) == 0:
        raise FairhepError(f"{data_dir}: no jets to run on")
    return jets


def prepare_model(
    opts: BenchOptions, run_dir: Path, backends: Sequence[Backend], batch_sizes: Sequence[int]
) -> tuple[PreparedModel, str | None]:
    """The run and, when a runnable backend needs one, its ONNX export (cached by weights).

    Returns the export error (one line) instead of raising, so that torch backends still run
    when export breaks, and the ONNX-based ones are recorded as failed with the reason."""
    from fairhep.export import cached_onnx

    cache = opts.cache
    model = PreparedModel(Path(run_dir), None, tuple(sorted(set(batch_sizes))), cache)
    if not any(b.name in NEEDS_ONNX and b.available() is None for b in backends):
        return model, None
    try:
        model.onnx_path = cached_onnx(Path(run_dir), cache / "onnx")
    except FairhepError as exc:
        return model, f"ONNX export: {exc}"
    return model, None


def chosen_backends(opts: BenchOptions) -> list[Backend]:
    return select_backends(opts.backends)


def device_excluded(opts: BenchOptions, backend: Backend) -> str | None:
    """Why ``--device`` leaves this backend out (None: it does not)."""
    if opts.device == "cpu" and backend.device == "cuda":
        return "--device cpu: GPU backends not run"
    if opts.device == "cuda" and backend.device == "cpu" and backend.label != "torch-cpu":
        return "--device cuda: CPU backends not run"
    return None


def not_run_record(
    kind: str, backend: Backend, config: dict[str, object], status: str, reason: str,
    opts: BenchOptions, data_dir: Path, metrics: dict[str, object] | None = None,
) -> Path:
    """The record of a backend that did not produce numbers: ``skipped`` or ``failed``."""
    record = ResultRecord(kind=kind, config=config, metrics=metrics or {}, status=status)
    record.skip(backend.label, reason)
    return write_record(opts.results, record, manifest_of(data_dir))


def print_skipped(console: Console, label: str, reason: str, status: str = "skipped") -> None:
    console.print(f"[yellow]{status}[/yellow] {label}: {reason}", highlight=False)
