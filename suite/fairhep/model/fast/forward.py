"""The fast forward (:func:`fast_logits`): the published network, exactly, at the cost of its
real tracks.

The IN has no masking: padded tracks (and SVs) are ordinary all-zero nodes, and the dense
forward pays N_p(N_p − 1) = 3,540 edge-MLP evaluations per jet however few tracks are real.
Because a padded node's half of the first edge layer is exactly zero, every edge that touches
one has a closed form (:mod:`fairhep.model.fast.algebra`), and the work drops to n(n − 1) + O(n)
for n real tracks, with no approximation beyond the order of float additions.

:func:`fast_logits` is differentiable (training uses it) and batched: padded slots are found
from the data wherever they are (:mod:`fairhep.model.fast.plan`), jets are grouped by
real-track count (exact counts for CPU inference, coarse buckets for CPU training, a few fixed
bucket sizes on the GPU, so that ``torch.compile`` and CUDA graphs apply), each group is cut
into chunks that fit a memory budget, the chunks run side by side on the CPU's threads
(:mod:`fairhep.model.fast.parallel`), and the logits are put back in the batch's order.
There is a Python loop over chunks, never over jets.

``reference`` names the factored dense forward (:class:`InteractionNetwork`), which export,
ONNX Runtime and TensorRT run: Table 8 keeps comparing the paper's network. The literal
interaction-matrix form (:func:`fairhep.model.reference_forward`) is the truth in tests.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Any

import numpy as np
import numpy.typing as npt
import torch

from fairhep import schema
from fairhep.errors import SettingError
from fairhep.model.fast import plan as fast_plan
from fairhep.model.fast.algebra import exact_chunk, masked_chunk
from fairhep.model.fast.linear import onednn_available
from fairhep.model.fast.parallel import map_chunks
from fairhep.model.fast.settings import EAGER, EngineSettings, check_buckets, check_budget
from fairhep.model.network import InteractionNetwork

ENGINES = ("fast", "reference")
DEFAULT_ENGINE = "fast"
PRECISIONS = ("fp32", "tf32", "bf16")  # tf32 and bf16 are approximate (recorded as such)
# GPU buckets: a few fixed sizes (upper bounds on real tracks); the last is N_p.
GPU_BUCKETS = (8, 16, 24, 32, 40, 48, 60)
CPU_TRAIN_BUCKETS = (8, 12, 16, 20, 24, 28, 32, 40, 48, 60)
DEFAULT_BUDGET_MB = 64
GPU_BUDGET_MB = 512
# Jets a command reads at a time for the fast engine (~120 MB of inputs): with the engine's
# budget, this bounds evaluation memory whatever --batch-size says.
FAST_READ_JETS = 16_384
# Edges per block of the track-track MLP on the CPU: the block's edge tensors then stay in a
# core's L2 cache between the layers.
BLOCK_EDGES = 4096


@dataclass(frozen=True)
class EngineOptions:
    """How the engine runs; none of it changes what it computes (beyond float rounding).

    ``memory_budget_mb`` bounds a chunk's temporaries (inference memory does not grow with
    the batch); ``buckets`` None groups jets by exact real-track count (the CPU default),
    a tuple uses those fixed sizes (the GPU default :data:`GPU_BUCKETS`; its last entry must
    be ≥ N_p). ``compile`` is a ``torch.compile`` mode for the chunk function (None: eager).
    ``onednn``: the edge MLPs through oneDNN's fused linear + ReLU (CPU float32 only).
    """

    memory_budget_mb: float = DEFAULT_BUDGET_MB
    buckets: tuple[int, ...] | None = None
    compile: str | None = None
    precision: str = "fp32"
    block_edges: int | None = BLOCK_EDGES
    fill_chunks: bool = True  # buckets: top chunks up to fixed sizes (for compilation)
    # Exact groups after all when a batch has at most this many real-track counts (CPU
    # training: a few large exact groups beat masked buckets).
    exact_up_to: int = 0
    onednn: bool = False

    def __post_init__(self) -> None:
        try:
            check_budget(self.memory_budget_mb)
        except ValueError:
            raise SettingError(f"memory budget must be positive, got {self.memory_budget_mb} MB"
                               ) from None
        if self.precision not in PRECISIONS:
            raise SettingError(f"precision must be one of {', '.join(PRECISIONS)}, "
                               f"not {self.precision!r}")
        if self.buckets is not None:
            try:
                object.__setattr__(self, "buckets", check_buckets(self.buckets))
            except ValueError as exc:
                raise SettingError(f"buckets {self.buckets}: {exc}") from None

    @property
    def approximate(self) -> bool:
        """tf32 / bf16 matmuls change scores beyond fp32 rounding (~1e-3)."""
        return self.precision != "fp32"

    @classmethod
    def for_device(cls, device: torch.device | str, training: bool = False,
                   settings: EngineSettings | None = None, **overrides: Any) -> EngineOptions:
        """CPU: exact groups, eager. CUDA: fixed buckets, compiled (``max-autotune`` with CUDA
        graphs for inference; ``default`` for training, whose forward and backward graphs
        would otherwise autotune for many minutes). ``settings`` (the commands'
        ``--engine-*`` and ``--onednn``) replace these defaults: another ``torch.compile``
        mode or ``none`` for eager and other bucket sizes on CUDA, the memory budget of a
        chunk, oneDNN on the CPU; ``overrides`` replace any field last."""
        user = settings or EngineSettings()
        dev = torch.device(device)
        if dev.type != "cuda":
            # Training on the CPU: coarse buckets, so that a batch of 128 makes a few large
            # chunks (autograd and OpenMP cost per operation, and backward has no pool).
            base = (cls(buckets=CPU_TRAIN_BUCKETS, fill_chunks=False, block_edges=None,
                        exact_up_to=len(CPU_TRAIN_BUCKETS)) if training else cls())
            if user.onednn and not onednn_available():
                raise SettingError("--onednn: this torch has no working oneDNN fused linear "
                                   "(torch.ops.mkldnn._linear_pointwise); leave --onednn out")
            base = replace(base, onednn=user.onednn)
        else:
            mode = user.compile or ("default" if training else "max-autotune")
            base = cls(buckets=user.buckets or GPU_BUCKETS,
                       compile=None if mode == EAGER else mode, memory_budget_mb=GPU_BUDGET_MB)
        if user.memory_budget_mb is not None:
            base = replace(base, memory_budget_mb=user.memory_budget_mb)
        return replace(base, **overrides)

    def to_dict(self) -> dict[str, object]:
        return {"memory_budget_mb": self.memory_budget_mb,
                "buckets": None if self.buckets is None else list(self.buckets),
                "compile": self.compile, "precision": self.precision,
                "fill_chunks": self.fill_chunks, "block_edges": self.block_edges,
                "exact_up_to": self.exact_up_to, "onednn": self.onednn,
                "approximate": self.approximate}


def fast_logits(net: InteractionNetwork, tracks: torch.Tensor, svs: torch.Tensor,
                options: EngineOptions | None = None,
                chunk_fn: Callable[..., torch.Tensor] | None = None) -> torch.Tensor:
    """The IN's (B, 2) logits for the full schema arrays tracks (B, 30, N_p) and SVs
    (B, 14, N_v), equal to ``net(tracks, svs)`` up to float summation order; differentiable
    with respect to the network's parameters. ``chunk_fn`` replaces the chunk function (a
    compiled one: :class:`FastEngine`); without ``options``, the device's defaults, eager."""
    opts = options or EngineOptions.for_device(tracks.device, compile=None)
    cfg = net.config
    if tracks.dim() != 3 or tracks.shape[2] != cfg.n_tracks or svs.shape[2] != cfg.n_svs:
        raise ValueError(f"tracks (B, {schema.N_TRACK_FEATURES}, {cfg.n_tracks}) and SVs "
                         f"(B, {schema.N_SV_FEATURES}, {cfg.n_svs}) expected, got "
                         f"{tuple(tracks.shape)} and {tuple(svs.shape)}")
    batch = tracks.shape[0]
    x, y = net.select_inputs(tracks, svs)
    xt, yt = x.transpose(1, 2), y.transpose(1, 2)  # (B, N_p, P), (B, N_v, S)
    if batch == 0:
        return net.fc_fixed.bias.new_zeros((0, len(schema.CLASSES)))
    slots = fast_plan.find_slots(xt, yt)
    budget = int(opts.memory_budget_mb * (1 << 20))
    max_edges = fast_plan.edges_per_chunk(budget, cfg.hidden, cfg.de)
    buckets = opts.buckets
    exact = buckets is None or (
        opts.exact_up_to > 0 and len(torch.unique(slots.n_tracks)) <= opts.exact_up_to)
    if exact or buckets is None:  # (the second test is for the type checker)
        order, chunks = fast_plan.exact_plan(slots, cfg.n_svs, max_edges)
    else:
        # No bucket wider than the network's slots; the last one holds a full jet.
        sizes = tuple(sorted({min(b, cfg.n_tracks) for b in (*buckets, cfg.n_tracks)}))
        order, chunks = fast_plan.bucket_plan(slots, sizes, cfg.n_svs, max_edges,
                                              opts.fill_chunks)

    def run(chunk: fast_plan.Chunk) -> torch.Tensor:
        cx, cy, m, mv = fast_plan.gather_chunk(xt, yt, slots, chunk)
        if exact:
            out = exact_chunk(net, cx, cy, m, mv, chunk.sv_prefix, opts.block_edges,
                              fused=opts.onednn)
        else:
            tmask, smask = fast_plan.masks(m, mv, chunk.n, cfg.n_tracks, cfg.n_svs)
            out = (chunk_fn or masked_chunk)(net, cx, cy, m, mv, tmask, smask,
                                            fused=opts.onednn)
            if chunk_fn is not None:
                out = out.clone()  # a CUDA graph's output is overwritten by its next replay
        return out[: len(chunk.jets) - chunk.fillers]

    # Rows in the order of ``order``.
    in_order = torch.cat(map_chunks(run, chunks, xt.device, list(net.parameters())))
    inverse = torch.empty_like(order)
    inverse[order] = torch.arange(batch, device=order.device)
    return in_order[inverse]


def scores(net: InteractionNetwork, tracks: npt.ArrayLike | torch.Tensor,
           svs: npt.ArrayLike | torch.Tensor, options: EngineOptions | None = None
           ) -> npt.NDArray[np.float32]:
    """Softmax scores (B, 2) on the host for host or device inputs, on the network's device:
    the simple entry point for masking studies and other repeated inference."""
    device = next(net.parameters()).device
    t = torch.as_tensor(tracks, dtype=torch.float32, device=device)
    s = torch.as_tensor(svs, dtype=torch.float32, device=device)
    with torch.inference_mode():
        out = torch.softmax(fast_logits(net, t, s, options), dim=1)
    return np.asarray(out.cpu().numpy(), np.float32)
