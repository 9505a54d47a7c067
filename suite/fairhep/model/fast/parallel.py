"""Chunks side by side on the CPU, one per torch thread, each single-threaded.

Chunks are independent, and a busy shared node makes OpenMP's barriers inside every small
operation very slow (seen here: a tiny IN 30x slower with two threads than with one, and CPU
training with the engine slower than the dense forward). So the engine never splits an
operation across threads on the CPU: it gives each thread whole chunks.

Inference maps chunks over a thread pool. Training does the same in both directions through
:class:`_Parallel`: its forward runs each chunk with autograd in a worker, its backward asks
each chunk's graph for the parameters' gradients in a worker and adds them in chunk order, so
the result does not depend on which thread finished first (deterministic, like the serial
path; the sum is the gradient of the sum).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from typing import Any, TypeVar

import torch

T = TypeVar("T")
R = TypeVar("R")


@contextmanager
def _pool(workers: int) -> Iterator[ThreadPoolExecutor]:
    threads = torch.get_num_threads()
    try:
        with ThreadPoolExecutor(workers, initializer=torch.set_num_threads,
                                initargs=(1,)) as pool:
            yield pool
    finally:
        torch.set_num_threads(threads)  # the workers' setting is also the process default


def _map(fn: Callable[[T], R], items: Sequence[T], workers: int) -> list[R]:
    with _pool(workers) as pool:
        return list(pool.map(fn, items))


class _Parallel(torch.autograd.Function):
    """logits of every chunk (concatenated, in chunk order), differentiable in ``params``."""

    @staticmethod
    def forward(ctx: Any, job: tuple[Callable[[Any], torch.Tensor], Sequence[Any], int],
                *params: torch.Tensor) -> torch.Tensor:
        run, chunks, workers = job

        def forward_one(chunk: Any) -> torch.Tensor:
            with torch.enable_grad():
                return run(chunk)

        outs = _map(forward_one, chunks, workers)
        ctx.outs, ctx.params, ctx.workers = outs, params, workers
        return torch.cat([o.detach() for o in outs])

    @staticmethod
    def backward(ctx: Any, *grads: torch.Tensor) -> tuple[torch.Tensor | None, ...]:
        outs: list[torch.Tensor] = ctx.outs
        params: tuple[torch.Tensor, ...] = ctx.params
        pieces = torch.split(grads[0], [len(o) for o in outs])

        def backward_one(i: int) -> tuple[torch.Tensor | None, ...]:
            return torch.autograd.grad(outs[i], params, pieces[i], allow_unused=True)

        per_chunk = _map(backward_one, range(len(outs)), ctx.workers)
        ctx.outs = None  # free the chunks' graphs
        total: list[torch.Tensor | None] = []
        for k, p in enumerate(params):
            parts = [gk for g in per_chunk if (gk := g[k]) is not None]
            total.append(torch.stack(parts).sum(dim=0) if parts else torch.zeros_like(p))
        return (None, *total)


def map_chunks(run: Callable[[Any], torch.Tensor], chunks: Sequence[Any], device: torch.device,
               params: Sequence[torch.Tensor]) -> list[torch.Tensor]:
    """``run`` on every chunk, in order: serially off the CPU or with one torch thread;
    otherwise side by side (inference), or side by side with autograd (training)."""
    workers = min(torch.get_num_threads(), len(chunks))
    if device.type != "cpu" or workers <= 1:
        return [run(c) for c in chunks]
    if torch.is_grad_enabled() and any(p.requires_grad for p in params):
        trainable = [p for p in params if p.requires_grad]
        out: torch.Tensor = _Parallel.apply((run, chunks, workers), *trainable)  # type: ignore[no-untyped-call]
        return [out]
    inference = torch.is_inference_mode_enabled()  # grad modes are per thread

    def in_worker(chunk: Any) -> torch.Tensor:
        with torch.inference_mode(inference), torch.no_grad():
            return run(chunk)

    return _map(in_worker, chunks, workers)
