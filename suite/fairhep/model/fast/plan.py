"""How the fast engine cuts a batch into chunks: padded slots found from the data, real tracks
and SVs moved to the front of each jet, jets grouped by real-track count, each group cut into
chunks whose edge tensors fit the memory budget.

Padded slots are those whose (selected) features are all exactly 0, wherever they sit among
the N_p slots: to the network such a slot *is* a padded track, whatever the file said. Real
slots keep their order, so moving a jet's padded slots elsewhere gives the same chunk inputs,
bit for bit.

Two plans:

* exact (CPU inference): one group per real-track count n, jets within it by descending SV
  count (:func:`fairhep.model.fast.algebra.exact_chunk` evaluates only real pairs);
* buckets (GPU): a few fixed sizes N ≥ n; every chunk of a bucket holds one of two numbers
  of jets (the full size, or an eighth of it for the rest of a group), the last one topped
  up with all-zero jets whose outputs are dropped, so the chunk function sees two shapes per
  bucket. CPU training uses finer buckets without fillers: a batch of 128 then makes a few
  large chunks.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch

# The budget covers a chunk's largest temporaries: per track-track edge the first two
# layers' activations (h each) and the edge output with its masked copy (D_E each), fp32.
FLOAT_BYTES = 4
TAIL_FRACTION = 8  # a bucket's last chunks hold 1/8 of its full chunk (few shapes, little waste)


@dataclass(frozen=True)
class Slots:
    """Where each jet's real tracks and SVs are, for a batch of B jets."""

    track_order: torch.Tensor  # (B, N_p) slot indices, real tracks first in their order
    sv_order: torch.Tensor  # (B, N_v)
    n_tracks: torch.Tensor  # (B,) real tracks per jet
    n_svs: torch.Tensor  # (B,) real SVs per jet


@dataclass(frozen=True)
class Chunk:
    """Jets evaluated together: ``jets`` index the batch (-1: an all-zero filler jet)."""

    jets: torch.Tensor  # (J,) int64, on the batch's device
    n: int  # track slots: the exact real-track count, or the bucket size
    n_sv: int  # SV slots kept: the chunk's largest real-SV count (exact), or N_v (buckets)
    sv_prefix: tuple[int, ...]  # exact plans: jets with more than v real SVs, for each v
    fillers: int  # all-zero jets at the end of ``jets`` (buckets only)


def find_slots(xt: torch.Tensor, yt: torch.Tensor) -> Slots:
    """Real slots of tracks ``xt`` (B, N_p, P) and SVs ``yt`` (B, N_v, S): any feature ≠ 0."""
    real_t = (xt != 0).any(dim=2)
    real_v = (yt != 0).any(dim=2)
    # A stable sort of "is padded" keeps the real slots in their original order.
    track_order = torch.sort((~real_t).to(torch.uint8), dim=1, stable=True).indices
    sv_order = torch.sort((~real_v).to(torch.uint8), dim=1, stable=True).indices
    return Slots(track_order, sv_order, real_t.sum(dim=1), real_v.sum(dim=1))


def edges_per_chunk(budget_bytes: int, hidden: int, de: int) -> int:
    """Track-track edges a chunk may hold within ``budget_bytes``."""
    return max(1, budget_bytes // (FLOAT_BYTES * (2 * hidden + 2 * de)))


def _chunk_cost(n: int, n_sv: int) -> int:
    """Edge-sized rows of one jet with n track slots: track pairs and their pad terms
    (n² + 2n + 1), track-SV pairs and theirs (n·n_sv + n + n_sv + 1), and the readout's n + 1
    (a jet without tracks still costs its pad rows)."""
    return n * n + 3 * n + n * n_sv + n_sv + 3


def exact_plan(slots: Slots, n_svs_max: int, max_edges: int) -> tuple[torch.Tensor, list[Chunk]]:
    """Jets sorted by (real tracks ascending, real SVs descending), cut into chunks of one
    real-track count. Returns the order (B,) and the chunks (their ``jets`` are slices of it)."""
    n = slots.n_tracks.cpu().numpy()
    nv = slots.n_svs.cpu().numpy()
    key = n * (n_svs_max + 1) + (n_svs_max - nv)
    order_np = np.argsort(key, kind="stable")
    order = torch.from_numpy(order_np).to(slots.n_tracks.device)
    n_sorted, nv_sorted = n[order_np], nv[order_np]
    chunks: list[Chunk] = []
    starts = np.flatnonzero(np.diff(n_sorted, prepend=-1)) if len(n_sorted) else np.array([], int)
    ends = [*starts[1:].tolist(), len(n_sorted)]
    for start, end in zip(starts.tolist(), ends, strict=True):
        count = int(n_sorted[start])
        per_chunk = _even(end - start, max(1, max_edges // _chunk_cost(count, n_svs_max)))
        for lo in range(start, end, per_chunk):
            hi = min(end, lo + per_chunk)
            sv = nv_sorted[lo:hi]
            n_sv = int(sv[0])  # descending within the group
            prefix = tuple(int(np.count_nonzero(sv > v)) for v in range(n_sv))
            chunks.append(Chunk(order[lo:hi], count, n_sv, prefix, 0))
    return order, chunks


def _even(jets: int, most: int) -> int:
    """Jets per chunk when ``jets`` are cut into as few chunks of at most ``most`` as
    possible, all of about the same size (chunks run side by side: no straggler)."""
    return -(-jets // -(-jets // most)) if jets else most


def bucket_for(n: int, buckets: tuple[int, ...]) -> int:
    """The smallest bucket size ≥ n (buckets ascending, the last one = N_p)."""
    for size in buckets:
        if n <= size:
            return size
    raise ValueError(f"{n} real tracks exceed the largest bucket {buckets[-1]}")


def full_chunk_jets(size: int, n_svs_max: int, max_edges: int) -> int:
    """Jets in a full chunk of a bucket: a power of two, a multiple of TAIL_FRACTION."""
    fit = max(1, max_edges // _chunk_cost(size, n_svs_max))
    return max(TAIL_FRACTION, 1 << int(math.log2(fit)))


def bucket_plan(slots: Slots, buckets: tuple[int, ...], n_svs_max: int, max_edges: int,
                fill: bool = True) -> tuple[torch.Tensor, list[Chunk]]:
    """Jets sorted by bucket, cut into chunks of two sizes per bucket (full, and a
    TAIL_FRACTION of full for the rest), the last topped up with filler jets (index -1);
    without ``fill``, chunks of at most the full size and no fillers (shapes then vary)."""
    n = slots.n_tracks.cpu().numpy()
    bucket_index = np.searchsorted(np.asarray(buckets), n, side="left")
    if len(n) and int(bucket_index.max()) >= len(buckets):
        raise ValueError(f"{int(n.max())} real tracks exceed the largest bucket {buckets[-1]}")
    order_np = np.argsort(bucket_index, kind="stable")
    device = slots.n_tracks.device
    order = torch.from_numpy(order_np).to(device)
    sorted_b = bucket_index[order_np]
    chunks: list[Chunk] = []
    for b, size in enumerate(buckets):
        lo, hi = np.searchsorted(sorted_b, [b, b + 1], side="left").tolist()
        full = full_chunk_jets(size, n_svs_max, max_edges)
        small = full // TAIL_FRACTION
        start = lo
        while start < hi:
            left = hi - start
            take = (full if left >= full else small) if fill else _even(hi - lo, full)
            real = min(take, left)
            jets = order[start:start + real]
            if take > real:
                jets = torch.cat([jets, jets.new_full((take - real,), -1)])
            chunks.append(Chunk(jets, size, n_svs_max, (), take - real))
            start += real
    return order, chunks


def gather_chunk(xt: torch.Tensor, yt: torch.Tensor, slots: Slots, chunk: Chunk
                 ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    """A chunk's inputs: tracks (J, n, P) and SVs (J, n_sv, S), real slots first, and the
    padded track and SV counts (J,) among the network's N_p / N_v slots, as floats."""
    jets = chunk.jets.clamp(min=0) if chunk.fillers else chunk.jets
    rows = jets.unsqueeze(1)
    x = xt[rows, slots.track_order[jets, :chunk.n]]
    y = yt[rows, slots.sv_order[jets, :chunk.n_sv]]
    m = (xt.shape[1] - slots.n_tracks[jets]).to(xt.dtype)
    mv = (yt.shape[1] - slots.n_svs[jets]).to(yt.dtype)
    if chunk.fillers:
        keep = (chunk.jets >= 0).to(xt.dtype)
        x, y = x * keep.view(-1, 1, 1), y * keep.view(-1, 1, 1)
        m = torch.where(chunk.jets >= 0, m, float(xt.shape[1]))
        mv = torch.where(chunk.jets >= 0, mv, float(yt.shape[1]))
    return x, y, m, mv


def masks(m: torch.Tensor, mv: torch.Tensor, n: int, n_slots: int, n_sv: int
          ) -> tuple[torch.Tensor, torch.Tensor]:
    """Real-slot masks (J, n) and (J, n_sv) of a bucket chunk, from the padded counts."""
    real_t = (n_slots - m).unsqueeze(1)
    real_v = (n_sv - mv).unsqueeze(1)
    tmask = (torch.arange(n, device=m.device, dtype=m.dtype).unsqueeze(0) < real_t).to(m.dtype)
    smask = (torch.arange(n_sv, device=m.device, dtype=m.dtype).unsqueeze(0) < real_v)
    return tmask, smask.to(m.dtype)
