"""Training the IN with the original recipe (paper §3.1.1), resumable after a kill.

Recipe: Adam (lr 1e-4), batch 128, cross-entropy on the two logits, up to 100 epochs, early
stopping on the validation loss with patience 8, the best-validation-loss weights kept as
``best.pth`` beside ``last.pth``. Data are streamed file by file from HDF5
(:func:`fairhep.data.load.iter_batches`), shuffled at file and jet level like the original.

Reproducibility: the seed fixes the initialisation (``torch.manual_seed`` before the model is
built) and the shuffling (a generator seeded with ``(seed, epoch)``, so any epoch's order can
be rebuilt on resume). Every epoch ends with an atomic checkpoint (model, optimizer, epoch,
position in the epoch, best loss, history); SIGTERM finishes the current batch, checkpoints
mid-epoch and returns ``interrupted=True``. Resuming — from either checkpoint — ends with
weights identical to an uninterrupted run of the same seed on the same machine.

A run directory belongs to one training: an exclusive lock (``train.lock``) refuses a second
writer, and a directory made with other settings (or holding an imported model) is refused
unless ``overwrite``. A finished training always ends with its record: ``train.json`` names
the record's id, and every rerun writes the record from the run directory's state if it is
missing (never a second one), so a kill between the last checkpoint and the record loses
nothing.

Distributed (``cfg.distributed``, :mod:`fairhep.train.distributed`): the same loop on every
rank of an ``srun`` / ``torchrun`` job, the network wrapped in DistributedDataParallel over
either engine, each rank reading its piece of every global batch (:mod:`fairhep.data.shard`);
rank 0 alone locks the run directory, validates, checkpoints and records, and hands every
decision to the others, so a resumed or interrupted job behaves as one process does.
"""

from __future__ import annotations

import itertools
import json
import math
import os
import signal
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import asdict, fields, replace
from pathlib import Path
from types import FrameType
from typing import TYPE_CHECKING

import numpy as np
import torch

from fairhep.data import load, resident
from fairhep.data.shard import ShardBatch, shard_batches
from fairhep.devices import resolve_device, synchronize
from fairhep.errors import ConfigError
from fairhep.evaluate import predict
from fairhep.hostmem import retain_freed_memory
from fairhep.metrics import accuracy, auc
from fairhep.model import BEST_WEIGHTS, LAST_WEIGHTS, InteractionNetwork, save_run_model
from fairhep.model.fast import check_engine, make_forward
from fairhep.results import ensure_record_dirs, kinds
from fairhep.splits import Split, make_split
from fairhep.train.distributed import (
    Comm,
    check_global_batch,
    launch_from_environment,
    process_group,
    rank_device,
)
from fairhep.train.rundir import (
    CHECKPOINT,
    LOCK,
    SUMMARY,
    check_classes,
    claim,
    finish,
    refuse_other_settings,
)
from fairhep.train.state import (
    EpochStats,
    TrainConfig,
    TrainingDiverged,
    TrainResult,
    TrainState,
    should_stop,
)
from fairhep.writable import ensure_writable, exclusive

if TYPE_CHECKING:
    from rich.progress import Progress

VALID_BATCH_SIZE = 1024  # validation needs no gradients: larger batches are faster

__all__ = [
    "CHECKPOINT", "LOCK", "SUMMARY", "VALID_BATCH_SIZE", "EpochStats", "TrainConfig",
    "TrainResult", "TrainState", "TrainingDiverged", "should_stop", "train",
]


# ---- checkpoints ---------------------------------------------------------------------------

def _save_atomic(obj: object, path: Path) -> None:
    tmp = path.with_name(f".{path.name}.tmp")
    with open(tmp, "wb") as fh:
        torch.save(obj, fh)
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(tmp, path)


def _checkpoint(run_dir: Path, net: InteractionNetwork, opt: torch.optim.Optimizer,
                state: TrainState, identity: dict[str, object]) -> None:
    _save_atomic(
        {"model": net.state_dict(), "optimizer": opt.state_dict(), "state": asdict(state),
         "identity": json.dumps(identity, sort_keys=True)},
        run_dir / CHECKPOINT,
    )


def _resume(run_dir: Path, net: InteractionNetwork, opt: torch.optim.Optimizer,
            identity: dict[str, object], device: torch.device) -> TrainState | None:
    path = run_dir / CHECKPOINT
    if not path.is_file():
        return None
    try:
        ck = torch.load(path, map_location=device, weights_only=True)
        saved = json.loads(ck["identity"])
    except Exception as exc:  # a truncated or foreign file: torch raises many types
        raise ConfigError(f"{path}: unreadable training checkpoint ({exc}); delete it to start "
                          "over, or use another --out") from None
    refuse_other_settings(run_dir, saved, identity)
    net.load_state_dict(ck["model"])
    opt.load_state_dict(ck["optimizer"])
    return TrainState.from_checkpoint(ck["state"])


# ---- SIGTERM ---------------------------------------------------------------------------------

class _StopFlag:
    """Set by the SIGTERM / SIGINT handler between any two statements of the loop, so read through
    a method (to the type checker, an attribute the loop does not assign stays constant)."""

    def __init__(self) -> None:
        self._set = False
        self.signum: int | None = None

    def set(self, signum: int) -> None:
        self._set, self.signum = True, signum

    def is_set(self) -> bool:
        return self._set


_STOP_SIGNALS = (signal.SIGTERM, signal.SIGUSR1, signal.SIGINT)


@contextmanager
def _sigterm_stops(flag: _StopFlag) -> Iterator[None]:
    """While training, SIGTERM and SIGUSR1 (Slurm's pre-kill signals, ``--signal``) and SIGINT
    (Ctrl-C) ask for a clean stop (the batch finishes, a checkpoint is written) instead of
    killing; the previous handlers are restored afterwards. Only the main thread may install
    signal handlers, so elsewhere this is a no-op."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def handler(signum: int, _frame: FrameType | None) -> None:
        flag.set(signum)

    previous = {s: signal.signal(s, handler) for s in _STOP_SIGNALS}
    try:
        yield
    finally:
        for s, h in previous.items():
            signal.signal(s, h)


# ---- the loop --------------------------------------------------------------------------------

def _progress(enabled: bool) -> Progress:
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        TextColumn,
        TimeRemainingColumn,
    )

    return Progress(
        TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(),
        TextColumn("loss {task.fields[loss]:.4f}"), TextColumn("{task.fields[rate]:,.0f} jets/s"),
        TimeRemainingColumn(), disable=not enabled,
    )


def _split_for(cfg: TrainConfig) -> Split:
    files = load.list_files(cfg.data)
    return make_split(files, cfg.split, cfg.seed, cfg.fold, cfg.fold_files, cfg.max_jets,
                      cfg.valid_fraction)


def train(cfg: TrainConfig) -> TrainResult:
    """Train (or resume) into ``cfg.out``; see the module docstring for the guarantees."""
    cfg.check()
    cfg = replace(cfg, data=Path(cfg.data), out=Path(cfg.out),
                  results=None if cfg.results is None else Path(cfg.results))
    # Inputs, then outputs, before anything is made: a missing dataset leaves no run
    # directory behind, and a read-only folder costs one line now, not a traceback after the
    # last epoch.
    device = resolve_device(cfg.device)
    check_engine(cfg.engine, cfg.precision, device)
    if cfg.distributed:
        return _train_distributed(cfg, device)
    split = _split_for(cfg)
    _preflight(cfg, split)
    with exclusive(cfg.out / LOCK, "run directory",
                   "wait for that training to finish, or use another --out"):
        return _train_locked(cfg, device, split, None)


def _preflight(cfg: TrainConfig, split: Split) -> None:
    if split.n_train == 0 or split.n_valid == 0:
        raise ConfigError(f"{cfg.data}: the {cfg.split} split leaves {split.n_train} training "
                          f"and {split.n_valid} validation jets; use more data")
    check_classes(cfg, split)
    ensure_writable(cfg.out, "run directory", "choose another with --out")
    if cfg.results is not None:
        ensure_record_dirs(cfg.results, kinds.TRAIN)


def _train_distributed(cfg: TrainConfig, device: torch.device) -> TrainResult:
    """This rank's part of one training over all ranks of the job."""
    launch = launch_from_environment()
    check_global_batch(cfg.batch_size, launch.world_size)
    device = rank_device(device, launch)
    with process_group(launch, device, cfg.dist_timeout_s) as comm, ExitStack() as stack:
        split = _split_for(cfg)
        comm.agree("settings and data", {**cfg.identity(), "epochs": cfg.epochs,
                                         "patience": cfg.patience, **split.describe()})

        def lock() -> None:
            _preflight(cfg, split)
            stack.enter_context(exclusive(cfg.out / LOCK, "run directory", "wait for that "
                                          "training to finish, or use another --out"))

        comm.on_root(lock)  # rank 0 alone writes the run directory
        return _train_locked(cfg, device, split, comm)


def _on_root(comm: Comm | None, fn: Callable[[], TrainResult]) -> TrainResult:
    return fn() if comm is None else comm.on_root(fn)


def _to_cpu(obj: object) -> object:
    """A state dict with every tensor on the CPU, to hand to ranks on other devices."""
    if isinstance(obj, torch.Tensor):
        return obj.detach().cpu()
    if isinstance(obj, dict):
        return {k: _to_cpu(v) for k, v in obj.items()}
    if isinstance(obj, list):
        return [_to_cpu(v) for v in obj]
    return obj


def _start(cfg: TrainConfig, net: InteractionNetwork, opt: torch.optim.Optimizer,
           device: torch.device, comm: Comm | None) -> TrainState | None:
    """Claim the run directory and resume from its checkpoint (rank 0), then hand the
    resumed weights, optimizer and position to every rank."""
    identity = cfg.identity()

    def root() -> tuple[object, object, dict[str, object]] | None:
        claim(cfg.out, identity, cfg.overwrite)
        state = _resume(cfg.out, net, opt, identity, device)
        save_run_model(cfg.out, net, {"training": {**identity, "data": str(cfg.data)}})
        if state is None or comm is None:
            return None if state is None else ((), (), asdict(state))
        return _to_cpu(net.state_dict()), _to_cpu(opt.state_dict()), asdict(state)

    saved = root() if comm is None else comm.on_root(root)
    if saved is None:
        return None
    if comm is not None and not comm.is_root:
        net.load_state_dict(saved[0])  # type: ignore[arg-type]
        opt.load_state_dict(saved[1])  # type: ignore[arg-type]
    return TrainState.from_checkpoint(saved[2])


def _train_locked(cfg: TrainConfig, device: torch.device, split: Split,
                  comm: Comm | None) -> TrainResult:
    retain_freed_memory()
    run_dir = cfg.out
    identity = cfg.identity()
    torch.manual_seed(cfg.seed)  # the initialisation is the only random draw torch makes
    net = InteractionNetwork(cfg.model).to(device)
    opt = torch.optim.Adam(net.parameters(), lr=cfg.effective_lr())
    state = _start(cfg, net, opt, device, comm)
    resumed = state is not None
    state = state or TrainState()
    info = None if comm is None else comm.record()

    if state.stopped_early or state.epoch >= cfg.epochs:
        # Finished before: nothing to train; write what a kill may have left unwritten.
        done = state
        return _on_root(comm, lambda: finish(cfg, split, device, done, resumed, None, info))

    raw = _StopFlag()
    flag = raw if comm is None else _StopFlag()  # distributed: set when all ranks agree
    started = time.perf_counter()
    shown = cfg.progress and (comm is None or comm.is_root)
    with _sigterm_stops(raw), _progress(shown) as progress:
        while state.epoch < cfg.epochs and not state.stopped_early and not flag.is_set():
            _train_epoch(cfg, split, net, opt, state, device, progress, flag, identity, comm,
                         raw)
            if flag.is_set() and state.batch > 0:
                break  # checkpointed mid-epoch
            _end_epoch(cfg, split, net, opt, state, device, progress, identity, comm)
    if flag.is_set() and not (state.stopped_early or state.epoch >= cfg.epochs):
        where = (f"in epoch {state.epoch + 1} after batch {state.batch}" if state.batch
                 else f"after epoch {state.epoch}")
        if comm is None or comm.is_root:
            print(f"signal {flag.signum}: stopped {where}; checkpoint saved in {run_dir}, "
                  "rerun the same command to resume", flush=True)
        return replace(state.result(run_dir, finished=False, interrupted=True),
                       stop_signal=flag.signum)
    wall_s, end = time.perf_counter() - started, state
    return _on_root(comm, lambda: finish(cfg, split, device, end, resumed, wall_s, info))


def _end_epoch(cfg: TrainConfig, split: Split, net: InteractionNetwork,
               opt: torch.optim.Optimizer, state: TrainState, device: torch.device,
               progress: Progress, identity: dict[str, object], comm: Comm | None) -> None:
    """Validation, early stopping and checkpoints: decided on rank 0, seen by every rank."""
    if comm is None:
        _finish_epoch(cfg, split, net, opt, state, device, progress, identity)
        return

    def root() -> dict[str, object]:
        _finish_epoch(cfg, split, net, opt, state, device, progress, identity)
        return asdict(state)

    decided = TrainState.from_checkpoint(comm.on_root(root))
    for f in fields(state):
        setattr(state, f.name, getattr(decided, f.name))


def _train_epoch(cfg: TrainConfig, split: Split, net: InteractionNetwork,
                 opt: torch.optim.Optimizer, state: TrainState, device: torch.device,
                 progress: Progress, flag: _StopFlag, identity: dict[str, object],
                 comm: Comm | None = None, raw: _StopFlag | None = None) -> None:
    """One epoch (or its rest). Distributed, ``raw`` is what this rank's signal handler set
    and ``flag`` what all ranks agreed on."""
    epoch = state.epoch
    rng = np.random.default_rng([cfg.seed, epoch])
    batches: Iterator[resident.Batch | ShardBatch]
    if comm is None:
        batches = resident.train_batches(split.train.files, cfg.batch_size, rng, device,
                                         split.train.subsets, n_jets=split.n_train)
    else:  # this rank's piece of each global batch, in the one-process order
        batches = shard_batches(split.train.files, cfg.batch_size, rng, comm.rank,
                                comm.world_size, split.train.subsets)
    # The same generator rebuilds the same order; skip what a resumed epoch already did.
    batches = itertools.islice(batches, state.batch, None)
    task = progress.add_task(f"epoch {epoch + 1}/{cfg.epochs}", total=split.n_train,
                             completed=state.jets_seen, loss=state.mean_loss(), rate=0.0)
    net.train()
    t0 = time.perf_counter()
    base_s = state.train_s
    forward = make_forward(cfg.engine, net, cfg.precision, training=True,
                           settings=cfg.engine_settings)
    if comm is not None:
        forward = comm.data_parallel(net, forward)
    for jets in batches:
        x, y, lab = resident.on_device(jets.jets if isinstance(jets, ShardBatch) else jets,
                                       device)
        if isinstance(jets, ShardBatch) and comm is not None:
            # Summed and scaled so that DDP's mean over ranks is the global batch's mean.
            summed = torch.nn.functional.cross_entropy(forward(x, y), lab,
                                                       reduction="sum") * jets.weight
            loss = summed * (comm.world_size / jets.global_size)
        else:
            loss = torch.nn.functional.cross_entropy(forward(x, y), lab)
        opt.zero_grad(set_to_none=True)
        torch.autograd.backward(loss)  # loss.backward(), which has no type hints
        opt.step()
        if isinstance(jets, ShardBatch) and comm is not None:
            # The loss over all ranks, and whether any rank was signalled: every rank stops
            # after the same batch, so none waits for a step the others never take.
            votes = [float(raw is not None and raw.signum == s) for s in _STOP_SIGNALS]
            total, *counts = comm.sum([float(summed.detach()), *votes])
            value, n = total / jets.global_size, jets.global_size
            stop = next((s for s, c in zip(_STOP_SIGNALS, counts, strict=True) if c), None)
            if stop is not None:
                flag.set(stop)
        else:
            value, n = float(loss.detach()), len(jets)  # the batch's one wait, as before
        if not math.isfinite(value):  # this step's weights are never saved
            raise _diverged(cfg, state, f"the training loss of batch {state.batch + 1} is "
                            f"{value}")
        state.loss_sum += value * n
        state.jets_seen += n
        state.batch += 1
        state.train_s = base_s + time.perf_counter() - t0
        progress.update(task, completed=state.jets_seen, loss=state.mean_loss(),
                        rate=state.jets_seen / max(state.train_s, 1e-9))
        if flag.is_set():
            _require_finite_weights(cfg, net, state)
            if comm is None or comm.is_root:
                _checkpoint(cfg.out, net, opt, state, identity)
            break
    synchronize(device)
    state.train_s = base_s + time.perf_counter() - t0
    progress.remove_task(task)


def _diverged(cfg: TrainConfig, state: TrainState, what: str) -> TrainingDiverged:
    return TrainingDiverged.during(cfg, state, what, (cfg.out / CHECKPOINT).is_file())


def _require_finite_weights(cfg: TrainConfig, net: InteractionNetwork,
                            state: TrainState) -> None:
    """Before weights are validated or saved: a NaN or inf among them is divergence (the
    last step's loss was still finite)."""
    params = list(net.parameters())
    finite = torch.stack([torch.isfinite(p).all() for p in params])
    if not bool(finite.all()):  # one wait for the device, once an epoch
        name = next(n for (n, _), ok in zip(net.named_parameters(), finite.tolist(),
                                            strict=True) if not ok)
        raise _diverged(cfg, state, f"weight {name} holds NaN or inf")


def _finish_epoch(cfg: TrainConfig, split: Split, net: InteractionNetwork,
                  opt: torch.optim.Optimizer, state: TrainState, device: torch.device,
                  progress: Progress, identity: dict[str, object]) -> None:
    _require_finite_weights(cfg, net, state)
    t0 = time.perf_counter()
    batches = load.iter_batches(split.valid.files, VALID_BATCH_SIZE, subsets=split.valid.subsets)
    pred = predict(net, batches, device, cfg.engine, cfg.precision, during_training=True,
                   settings=cfg.engine_settings)
    valid_s = time.perf_counter() - t0
    if not (math.isfinite(pred.loss) and np.isfinite(pred.scores).all()):
        # Finite but huge weights overflow the activations: the metrics would be NaN.
        raise _diverged(cfg, state, f"the validation loss is {pred.loss} (scores overflow)")
    stats = EpochStats(
        epoch=state.epoch + 1, train_loss=state.mean_loss(), val_loss=pred.loss,
        val_accuracy=accuracy(pred.scores, pred.labels), val_auc=auc(pred.scores, pred.labels),
        train_s=state.train_s, valid_s=valid_s, train_jets=state.jets_seen,
    )
    state.history.append(stats)
    state.epoch += 1
    state.batch, state.loss_sum, state.jets_seen, state.train_s = 0, 0.0, 0, 0.0
    weights = net.state_dict()
    if stats.val_loss < state.best_loss:
        state.best_loss, state.best_epoch = stats.val_loss, stats.epoch
        _save_atomic(weights, cfg.out / BEST_WEIGHTS)
    _save_atomic(weights, cfg.out / LAST_WEIGHTS)
    state.stopped_early = should_stop([h.val_loss for h in state.history], cfg.patience)
    _checkpoint(cfg.out, net, opt, state, identity)
    progress.console.print(
        f"epoch {stats.epoch:3d}  train loss {stats.train_loss:.4f}  val loss "
        f"{stats.val_loss:.4f}  acc {stats.val_accuracy:.4f}  AUC {stats.val_auc:.4f}  "
        f"{stats.train_jets / max(stats.train_s, 1e-9):,.0f} jets/s"
        + ("  (best)" if state.best_epoch == stats.epoch else "")
        + ("  early stop" if state.stopped_early else ""),
        soft_wrap=True,
    )
