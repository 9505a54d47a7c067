"""The fast IN engine bound to a network and a device: compiled chunk function on CUDA,
precision, and host-to-host inference with pinned memory and asynchronous copies.

On CUDA the jets go into a few fixed bucket shapes (:data:`fairhep.model.fast.GPU_BUCKETS`),
so that ``torch.compile`` (default mode ``max-autotune``, which captures CUDA graphs) compiles
the chunk function once per shape. :meth:`FastEngine.predict_host` moves host jets in slices
through page-locked staging buffers: the copy of slice i+1 (on a side stream) overlaps the
network on slice i, and scores come back through page-locked memory as well.

Precision: ``fp32`` (default) turns TF32 off for the engine's matmuls; ``tf32`` allows it and
``bf16`` runs the chunk under autocast. Both are approximate (scores move by ~1e-3) and are
recorded as such (:attr:`EngineOptions.approximate`); they need CUDA.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import numpy as np
import numpy.typing as npt
import torch

from fairhep import schema
from fairhep.errors import SettingError
from fairhep.model.fast import plan as fast_plan
from fairhep.model.fast.algebra import masked_chunk
from fairhep.model.fast.forward import ENGINES, EngineOptions, fast_logits
from fairhep.model.fast.settings import EngineSettings
from fairhep.model.network import InteractionNetwork

# Jets per host->device slice: ~7.5 KB each, so 64k jets are ~0.5 GB of pinned memory.
SLICE_JETS = 1 << 16


def check_precision(precision_name: str, device: torch.device | str) -> None:
    """A known precision that ``device`` can run, or a one-line SettingError."""
    EngineOptions(precision=precision_name)  # the known precisions
    if precision_name != "fp32" and torch.device(device).type != "cuda":
        raise SettingError(f"--precision {precision_name} needs a CUDA device (on "
                           f"{torch.device(device)} use fp32)")


def check_engine(engine: str, precision_name: str, device: torch.device | str) -> None:
    """One line (a SettingError) for an engine, precision or device that do not go together:
    before a command writes anything."""
    if engine not in ENGINES:
        raise SettingError(f"unknown engine {engine!r}: choose {' or '.join(ENGINES)}")
    check_precision(precision_name, device)


@contextmanager
def precision(name: str, device: torch.device) -> Iterator[None]:
    """Run the block at ``name`` precision (fp32 | tf32 | bf16) on ``device``."""
    check_precision(name, device)
    if device.type != "cuda":
        yield
        return
    matmul = torch.backends.cuda.matmul
    before = (matmul.allow_tf32, torch.backends.cudnn.allow_tf32)
    matmul.allow_tf32 = torch.backends.cudnn.allow_tf32 = name == "tf32"
    try:
        if name == "bf16":
            with torch.autocast("cuda", dtype=torch.bfloat16):
                yield
        else:
            yield
    finally:
        matmul.allow_tf32, torch.backends.cudnn.allow_tf32 = before


@functools.cache
def compiled_chunk(mode: str) -> Callable[..., torch.Tensor]:
    """The masked chunk function compiled with ``torch.compile(mode=mode)``: one graph per
    fixed (jets, bucket) shape; never recompiled for a new shape's sizes (dynamic=False)."""
    import torch._dynamo

    # One compiled graph per (bucket, chunk size): 14 for GPU_BUCKETS, over dynamo's default
    # of 8 recompilations per function, after which it would silently run eager.
    cfg = torch._dynamo.config
    cfg.cache_size_limit = max(cfg.cache_size_limit, 64)
    fn: Callable[..., torch.Tensor] = torch.compile(masked_chunk, mode=mode, dynamic=False)
    return fn


class FastEngine:
    """The fast engine for one network on one device (the network's)."""

    def __init__(self, net: InteractionNetwork, options: EngineOptions | None = None) -> None:
        self.net = net
        self.device = next(net.parameters()).device
        self.options = options or EngineOptions.for_device(self.device)
        if self.options.compile is not None and self.options.buckets is None:
            raise ValueError("compiling the engine needs fixed bucket shapes (set buckets)")
        self._chunk: Callable[..., torch.Tensor] | None = (
            None if self.options.compile is None else compiled_chunk(self.options.compile))
        self._staging: dict[str, torch.Tensor] = {}

    def config(self) -> dict[str, Any]:
        """What a record says about the engine."""
        return {"engine": "fast", "device": str(self.device), **self.options.to_dict()}

    def warm_up(self) -> None:
        """Run every fixed chunk shape once on generated jets, so that compilation (and CUDA
        graph capture) happens here and not in a timed batch."""
        buckets = self.options.buckets
        if buckets is None:
            return
        cfg = self.net.config
        budget = int(self.options.memory_budget_mb * (1 << 20))
        max_edges = fast_plan.edges_per_chunk(budget, cfg.hidden, cfg.de)
        g = torch.Generator(device=self.device).manual_seed(0)
        for size in {min(b, cfg.n_tracks) for b in (*buckets, cfg.n_tracks)}:
            full = fast_plan.full_chunk_jets(size, cfg.n_svs, max_edges)
            n = full + full // fast_plan.TAIL_FRACTION  # one chunk of each size
            p, s = schema.N_TRACK_FEATURES, schema.N_SV_FEATURES
            tracks = torch.zeros(n, p, cfg.n_tracks, device=self.device)
            tracks[:, :, :size] = torch.randn(n, p, size, generator=g, device=self.device)
            svs = torch.randn(n, s, cfg.n_svs, generator=g, device=self.device)
            self.scores(tracks, svs)

    def logits(self, tracks: torch.Tensor, svs: torch.Tensor) -> torch.Tensor:
        """(B, 2) logits for device tensors; differentiable unless under inference mode."""
        with precision(self.options.precision, self.device):
            out = fast_logits(self.net, tracks, svs, self.options, chunk_fn=self._chunk)
        return out.float()

    def scores(self, tracks: torch.Tensor, svs: torch.Tensor) -> torch.Tensor:
        with torch.inference_mode():
            return torch.softmax(self.logits(tracks, svs), dim=1)

    def predict_host(self, tracks: torch.Tensor | npt.NDArray[np.float32],
                     svs: torch.Tensor | npt.NDArray[np.float32]) -> torch.Tensor:
        """Scores (B, 2) on the host for host jets, copies included (what Table 8 times).
        Pinned inputs are sent as they are; others go through pinned staging buffers."""
        t = torch.as_tensor(tracks, dtype=torch.float32)
        s = torch.as_tensor(svs, dtype=torch.float32)
        if self.device.type != "cuda":
            return self.scores(t.to(self.device), s.to(self.device)).cpu()
        return self._predict_cuda(t, s)

    def _pinned(self, name: str, like: torch.Tensor, rows: int) -> torch.Tensor:
        shape = (rows, *like.shape[1:])
        buf = self._staging.get(name)
        if buf is None or buf.shape[0] < rows or buf.shape[1:] != like.shape[1:]:
            buf = torch.empty(shape, dtype=like.dtype, pin_memory=True)
            self._staging[name] = buf
        return buf[:rows]

    def _predict_cuda(self, t: torch.Tensor, s: torch.Tensor) -> torch.Tensor:
        n = t.shape[0]
        out = self._pinned("out", torch.empty(0, 2), n)
        copy_stream = torch.cuda.Stream(self.device)  # type: ignore[no-untyped-call]
        compute = torch.cuda.current_stream(self.device)
        pinned = t.is_pinned() and s.is_pinned()
        for lo in range(0, n, SLICE_JETS):
            hi = min(n, lo + SLICE_JETS)
            ht, hs = t[lo:hi], s[lo:hi]
            if not pinned:
                # Alternate two staging halves, so a copy still in flight is never overwritten.
                half = (lo // SLICE_JETS) % 2
                bt = self._pinned(f"tracks{half}", t, SLICE_JETS)[: hi - lo]
                bs = self._pinned(f"svs{half}", s, SLICE_JETS)[: hi - lo]
                copy_stream.synchronize()
                bt.copy_(ht)
                bs.copy_(hs)
                ht, hs = bt, bs
            with torch.cuda.stream(copy_stream):
                dt = ht.to(self.device, non_blocking=True)
                ds = hs.to(self.device, non_blocking=True)
            compute.wait_stream(copy_stream)
            dt.record_stream(compute)
            ds.record_stream(compute)
            out[lo:hi].copy_(self.scores(dt, ds), non_blocking=True)
        torch.cuda.synchronize(self.device)
        return out.clone()  # the pinned buffer is reused by the next call


def make_forward(engine: str, net: InteractionNetwork, precision_name: str = "fp32",
                 training: bool = False, settings: EngineSettings | None = None
                 ) -> Callable[[torch.Tensor, torch.Tensor], torch.Tensor]:
    """``logits = forward(tracks, svs)`` of ``net`` on its device with the named engine:
    ``fast`` (:class:`FastEngine`, run as ``settings`` say) or ``reference`` (the factored
    dense forward)."""
    device = next(net.parameters()).device
    check_engine(engine, precision_name, device)
    if engine == "fast":
        options = EngineOptions.for_device(device, training, settings,
                                           precision=precision_name)
        return FastEngine(net, options).logits

    def dense(tracks: torch.Tensor, svs: torch.Tensor) -> torch.Tensor:  # the reference
        with precision(precision_name, device):
            out: torch.Tensor = net(tracks, svs)
        return out.float()

    return dense


def engine_record(engine: str, device: torch.device, precision_name: str = "fp32",
                  training: bool = False, settings: EngineSettings | None = None
                  ) -> dict[str, Any]:
    """What a record's config says about how the network was evaluated (the options
    :func:`make_forward` runs with the same arguments)."""
    out: dict[str, Any] = {"engine": engine, "precision": precision_name,
                           "approximate": precision_name != "fp32"}
    if engine == "fast":
        options = EngineOptions.for_device(device, training, settings,
                                           precision=precision_name)
        out["engine_options"] = options.to_dict()
    return out
