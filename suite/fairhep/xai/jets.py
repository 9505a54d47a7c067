"""The jets an interpretability study reads, and the one place that scores them.

Masking streams the whole test set (the paper's 1.8 M jets do not fit in memory at once);
LRP and neural activity read a fixed sample of each class (30 batches of 128 jets per class
by default, as the paper averaged). Both read HDF5 datasets and the original NumPy test layout.

:func:`hbb_scores` scores with the fast engine (``fairhep.model.fast``: the published network,
exactly, padded tracks and SVs in closed form): everything that only needs scores (masking,
fidelity, AUC) goes through it. LRP and neural activity need every layer and trace the
literal interaction-matrix forward instead (:func:`fairhep.model.reference.trace`).
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from fairhep import schema
from fairhep.data.arrays import Float32Array, Int64Array, IntArray
from fairhep.data.load import JetArrays
from fairhep.data.manifest import Manifest, manifest_path
from fairhep.errors import DataError
from fairhep.evaluate import read_batches
from fairhep.metrics import undefined_auc_reason
from fairhep.model import InteractionNetwork
from fairhep.model.fast import fast_logits

# The paper's LRP sample: 30 batches of 128 jets of each class (§3.4.1, Figure 6).
PAPER_BATCHES = 30
PAPER_BATCH_SIZE = 128


def hbb_scores(net: InteractionNetwork, tracks: torch.Tensor, svs: torch.Tensor) -> torch.Tensor:
    """The H->bb softmax score of each jet (the classifier score ŷ of Eq. 1), from the fast
    engine: masking and fidelity need nothing from the network but this."""
    return torch.softmax(fast_logits(net, tracks, svs), dim=1)[:, schema.HBB]


def is_npy_layout(data_dir: Path) -> bool:
    d = Path(data_dir)
    return d.is_dir() and not any(d.glob(schema.H5_FILE_GLOB)) and any(
        d.glob("test_*_truth_0.npy"))


def stream(data_dir: Path, batch_size: int, max_jets: int | None = None) -> Iterator[JetArrays]:
    """The first ``max_jets`` jets (all when None) in batches, as ``fairhep evaluate`` reads
    them (a batch at a time)."""
    yield from read_batches(Path(data_dir), batch_size, max_jets)


def gathered_labels(data_dir: Path, labels: Sequence[IntArray]) -> Int64Array:
    """The labels of the jets a study scored; no jets, or jets of one class (no AUC to
    compare), are refused in one line before anything is recorded."""
    out = np.concatenate(labels).astype(np.int64) if labels else np.zeros(0, np.int64)
    reason = undefined_auc_reason(out)
    if reason:
        raise DataError(f"{data_dir}: {reason}; the study compares AUCs: use a test set with "
                        "both classes (or a larger --max-jets)")
    return out


def class_sample(data_dir: Path, per_class: int, batch_size: int = 1024) -> JetArrays:
    """The first ``per_class`` jets of each class, QCD first; fewer where the data has fewer
    (the record says how many were used). A dataset with no jet of a class is an error."""
    taken: dict[int, list[JetArrays]] = {schema.QCD: [], schema.HBB: []}
    counts = dict.fromkeys(taken, 0)
    for jets in stream(data_dir, batch_size):
        for cls in taken:
            need = per_class - counts[cls]
            if need > 0:
                idx = np.flatnonzero(jets.labels == cls)[:need]
                taken[cls].append(jets.slice(idx))
                counts[cls] += len(idx)
        if min(counts.values()) >= per_class:
            break
    empty = [schema.CLASSES[c] for c, n in counts.items() if n == 0]
    if empty:
        raise DataError(f"{data_dir}: no {' or '.join(empty)} jets; an interpretability study "
                        "compares both classes: use a test set with both")
    return JetArrays.concat(taken[schema.QCD] + taken[schema.HBB])


@dataclass(frozen=True)
class DataInfo:
    """What a record says about the jets it used: the directory, its origin, their number."""

    data: str
    origin: str  # the manifest's origin ("synthetic", "cms-open-data"), else how it was read
    n_jets: int

    def as_dict(self) -> dict[str, object]:
        return {"data": self.data, "data_origin": self.origin, "n_jets": self.n_jets}


def data_origin(data_dir: Path) -> str:
    if manifest_path(Path(data_dir)) is not None:
        try:
            return Manifest.read(Path(data_dir)).origin
        except DataError:
            return "unknown (unreadable manifest)"
    return "npy test layout" if is_npy_layout(Path(data_dir)) else "unknown (no manifest)"


def to_tensors(jets: JetArrays, device: torch.device) -> tuple[torch.Tensor, torch.Tensor]:
    return torch.from_numpy(jets.tracks).to(device), torch.from_numpy(jets.svs).to(device)


def scores_and_labels(nets: Sequence[InteractionNetwork], data_dir: Path, device: torch.device,
                      batch_size: int = 1024, max_jets: int | None = None
                      ) -> tuple[list[Float32Array], Int64Array]:
    """H->bb scores of each network and the labels of the first ``max_jets`` jets (all when
    None), in one pass over the data."""
    scores: list[list[Float32Array]] = [[] for _ in nets]
    labels: list[Int64Array] = []
    with torch.inference_mode():
        for jets in stream(data_dir, batch_size, max_jets):
            x, y = to_tensors(jets, device)
            for mine, net in zip(scores, nets, strict=True):
                mine.append(hbb_scores(net, x, y).cpu().numpy())
            labels.append(jets.labels)
    return [np.concatenate(s) for s in scores], gathered_labels(data_dir, labels)
