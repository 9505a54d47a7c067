"""Training jets kept on the GPU when they fit, in the same batches as the streamed ones.

Streaming a file at a time (:func:`fairhep.data.load.iter_batches`) bounds host memory, but
on a GPU the host→device copies and HDF5 reads become the training's bottleneck once the
network is fast. The paper's 5.2 M training jets take ~39 GB: on a large GPU they are read
once per training and stay there. :func:`train_batches` then draws each epoch's order with the
same NumPy generator calls as ``iter_batches`` (file order, then jets within each file) and
gathers each batch on the device, so the batches — and the weights at the end — are those of
the streamed path, and a resumed epoch skips to the same place.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from fairhep import schema
from fairhep.data import load
from fairhep.data.arrays import IntArray
from fairhep.data.load import JetArrays

if TYPE_CHECKING:
    import torch

# Share of the GPU's free memory the resident jets may take (the rest: network, Adam,
# activations, the CUDA context).
DEVICE_FRACTION = 0.6
JET_BYTES = 4 * (int(np.prod(schema.TRACK_SHAPE)) + int(np.prod(schema.SV_SHAPE))) + 8


@dataclass(frozen=True)
class DeviceBatch:
    """A batch already on the device: tracks (B, 30, 60), SVs (B, 14, 5), labels (B,)."""

    tracks: torch.Tensor
    svs: torch.Tensor
    labels: torch.Tensor

    def __len__(self) -> int:
        return int(self.labels.shape[0])


Batch = JetArrays | DeviceBatch


def fits_on_device(n_jets: int, device: torch.device) -> bool:
    """Whether ``n_jets`` training jets fit in DEVICE_FRACTION of the GPU's free memory."""
    import torch

    if device.type != "cuda":
        return False
    free, _total = torch.cuda.mem_get_info(device)
    return n_jets * JET_BYTES <= DEVICE_FRACTION * free


def _subset_rows(f: Path, subsets: Mapping[Path, IntArray] | None) -> IntArray | None:
    return None if subsets is None else subsets.get(f)


class ResidentJets:
    """The jets of ``files`` (restricted to ``subsets``, as ``iter_batches`` reads them) on
    ``device``, file after file."""

    def __init__(self, files: Sequence[Path], device: torch.device,
                 subsets: Mapping[Path, IntArray] | None = None) -> None:
        import torch

        self.files = list(files)
        self.device = device
        sizes = []
        for f in self.files:
            subset = _subset_rows(f, subsets)
            sizes.append(load.n_jets(f) if subset is None else len(subset))
        total = sum(sizes)
        # Allocated once at full size: concatenating per-file tensors would need twice that.
        self.tracks = torch.empty((total, *schema.TRACK_SHAPE), device=device)
        self.svs = torch.empty((total, *schema.SV_SHAPE), device=device)
        self.labels = torch.empty(total, dtype=torch.int64, device=device)
        self.parts: list[tuple[int, int]] = []  # (offset, jets) per file
        offset = 0
        for f, n in zip(self.files, sizes, strict=True):
            jets = load.read_subset(f, _subset_rows(f, subsets))
            # A file at a time (pinned on a GPU): host memory stays bounded by one file.
            for dst, src in ((self.tracks, jets.tracks), (self.svs, jets.svs),
                             (self.labels, jets.labels)):
                host = torch.from_numpy(src)
                dst[offset:offset + n].copy_(host.pin_memory() if device.type == "cuda"
                                             else host)
            self.parts.append((offset, n))
            offset += n

    def __len__(self) -> int:
        return int(self.labels.shape[0])

    def batches(self, batch_size: int, rng: np.random.Generator) -> Iterator[DeviceBatch]:
        """The batches ``iter_batches(files, batch_size, shuffle=True, rng=rng)`` yields, in
        its order, gathered on the device."""
        import torch

        for i in rng.permutation(len(self.files)):
            offset, n = self.parts[int(i)]
            idx = rng.permutation(n)
            for start in range(0, n, batch_size):
                rows = torch.from_numpy(idx[start:start + batch_size] + offset).to(self.device)
                yield DeviceBatch(self.tracks.index_select(0, rows),
                                  self.svs.index_select(0, rows),
                                  self.labels.index_select(0, rows))


_cache: dict[tuple[object, ...], ResidentJets] = {}


def _key(files: Sequence[Path], device: torch.device,
         subsets: Mapping[Path, IntArray] | None) -> tuple[object, ...]:
    stats = tuple((str(f), f.stat().st_mtime_ns, f.stat().st_size) for f in files)
    subs = tuple(sorted((str(k), v.tobytes()) for k, v in (subsets or {}).items()))
    return (stats, subs, str(device))


def train_batches(files: Sequence[Path], batch_size: int, rng: np.random.Generator,
                  device: torch.device, subsets: Mapping[Path, IntArray] | None = None,
                  n_jets: int | None = None) -> Iterator[Batch]:
    """One epoch's shuffled training batches: resident on the GPU when the ``n_jets`` fit
    (loaded once, kept for the next epochs), streamed from the files otherwise."""
    key = _key(files, device, subsets)
    # Once resident, always: the free memory the next epoch sees excludes these jets.
    if key not in _cache and (n_jets is None or not fits_on_device(n_jets, device)):
        yield from load.iter_batches(files, batch_size, shuffle=True, rng=rng, subsets=subsets)
        return
    if key not in _cache:
        _cache.clear()  # one training's jets at a time
        _cache[key] = ResidentJets(files, device, subsets)
    yield from _cache[key].batches(batch_size, rng)


def on_device(batch: Batch, device: torch.device
              ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Tracks, SVs and labels of a batch as tensors on ``device`` (no copy when resident)."""
    import torch

    if isinstance(batch, DeviceBatch):
        return batch.tracks, batch.svs, batch.labels
    return (torch.from_numpy(batch.tracks).to(device, non_blocking=True),
            torch.from_numpy(batch.svs).to(device, non_blocking=True),
            torch.from_numpy(batch.labels).to(device, non_blocking=True))
