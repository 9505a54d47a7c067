"""What every backend of a portability mode (``--frameworks``, ``--batch-sweep``) runs on:
the same test jets and the same model, exported to ONNX once when a runnable backend needs it.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from fairhep.backends import Backend, PreparedModel
from fairhep.bench.options import BenchOptions
from fairhep.data.load import JetArrays, load_dataset
from fairhep.data.manifest import manifest_path
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

    def write(self, record: ResultRecord) -> Path:
        """Write one record of this mode, with the test set's manifest in its provenance."""
        return write_record(self.results, record, manifest_path(self.data_dir))


def load_test_jets(data_dir: Path, max_jets: int | None) -> JetArrays:
    """The jets the modes run on: the dataset directory as given (what ``evaluate`` reads)."""
    jets = load_dataset(Path(data_dir), max_jets)
    if len(jets) == 0:
        raise FairhepError(f"{data_dir}: no jets to run on")
    return jets


def prepare_workload(
    opts: BenchOptions, data_dir: Path, run_dir: Path, backends: Sequence[Backend],
    batch_sizes: Sequence[int],
) -> Workload:
    """Load the jets and, when a runnable backend needs one, export the run to ONNX (cached
    by weights in the cache directory). An export error is kept, not raised (see Workload)."""
    from fairhep.export import cached_onnx

    cache = opts.cache
    jets = load_test_jets(data_dir, opts.max_jets)
    sizes = tuple(sorted(set(batch_sizes)))
    onnx_path: Path | None = None
    export_error: str | None = None
    if any(b.needs_onnx and b.available() is None for b in backends):
        try:
            onnx_path = cached_onnx(Path(run_dir), cache / "onnx")
        except FairhepError as exc:
            export_error = f"ONNX export: {exc}"
    model = PreparedModel(Path(run_dir), onnx_path, sizes, cache)
    return Workload(Path(data_dir), Path(run_dir), jets, model, export_error, Path(opts.results))
