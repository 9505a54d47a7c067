"""What every backend of a portability mode (``--frameworks``, ``--batch-sweep``) runs on:
the same test jets and the same model, exported to ONNX once when a runnable backend needs it.

Both are checked before any backend starts: the run's weights must load (an unreadable
``best.pth`` is one line, not a failed record per backend) and the jets must be finite (NaN or
inf would make every backend "fail" its parity): one line naming the file, the jets and the
feature.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from fairhep.backends import Backend, PreparedModel
from fairhep.bench.options import BenchOptions
from fairhep.data.load import JetArrays, load_dataset
from fairhep.data.manifest import manifest_path, sha256_file
from fairhep.errors import FairhepError
from fairhep.results import ResultRecord, write_record


@dataclass(frozen=True)
class Workload:
    """The jets and the model of one mode, and where its records go."""

    data_dir: Path
    run_dir: Path
    jets: JetArrays
    model: PreparedModel
    # One line when the ONNX export broke: backends that need it are recorded as failed
    # with it, and the torch backends still run.
    export_error: str | None
    results: Path
    # ModelConfig.to_dict() of the run: every record says which features the model reads.
    model_config: Mapping[str, Any] | None = None
    onnx_sha256: str | None = None  # of model.onnx_path, hashed once it was verified

    def onnx_config(self, backend: Backend) -> dict[str, str | None]:
        """The ONNX file a backend ran (path and sha256), for its record: None for those
        that run the weights (torch) or when there is no export."""
        ran = backend.needs_onnx and self.model.onnx_path is not None
        return {"onnx": str(self.model.onnx_path) if ran else None,
                "onnx_sha256": self.onnx_sha256 if ran else None}

    def write(self, record: ResultRecord) -> Path:
        """Write one record of this mode, with the test set's manifest in its provenance."""
        return write_record(self.results, record, manifest_path(self.data_dir))


def load_test_jets(data_dir: Path, max_jets: int | None) -> JetArrays:
    """The jets the modes run on: the dataset directory as given (what ``evaluate`` reads)."""
    jets = load_dataset(Path(data_dir), max_jets)
    if len(jets) == 0:
        raise FairhepError(f"{data_dir}: no jets to run on")
    return jets  # the loader already refused NaN/inf, naming the file, jets and feature


def run_model_config(run_dir: Path) -> dict[str, Any]:
    """The run's model config, its weights loaded once: a run that cannot be read stops the
    mode here in one line (CheckpointError), before any backend is tried."""
    from fairhep.model import load_run_model

    return dict(load_run_model(Path(run_dir)).config.to_dict())


def prepare_workload(
    opts: BenchOptions, data_dir: Path, run_dir: Path, backends: Sequence[Backend],
    batch_sizes: Sequence[int],
) -> Workload:
    """Load the jets and, when a runnable backend needs one, export the run to ONNX (cached
    by weights in the cache directory). An export error is kept, not raised (see Workload).
    Each backend is told which host memory to use (``--host-memory``)."""
    from fairhep.export import cached_onnx

    cache = opts.cache
    model_config = run_model_config(run_dir)
    jets = load_test_jets(data_dir, opts.max_jets)
    for b in backends:
        b.use_host_memory(opts.host_memory)
    sizes = tuple(sorted(set(batch_sizes)))
    onnx_path: Path | None = None
    export_error: str | None = None
    if any(b.needs_onnx and b.available() is None for b in backends):
        try:
            # Verified against the run (weights, configuration, graph) or exported again.
            onnx_path = cached_onnx(Path(run_dir), cache / "onnx")
        except FairhepError as exc:
            export_error = f"ONNX export: {exc}"
    model = PreparedModel(Path(run_dir), onnx_path, sizes, cache)
    return Workload(Path(data_dir), Path(run_dir), jets, model, export_error,
                    Path(opts.results), model_config,
                    None if onnx_path is None else sha256_file(onnx_path))
