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
"""

from __future__ import annotations

import itertools
import json
import math
import os
import signal
import threading
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from types import FrameType
from typing import TYPE_CHECKING, Any

import numpy as np
import torch

from fairhep.data import load, resident
from fairhep.data.manifest import manifest_path
from fairhep.devices import resolve_device, synchronize
from fairhep.errors import ConfigError
from fairhep.evaluate import predict
from fairhep.hostmem import retain_freed_memory
from fairhep.metrics import accuracy, auc
from fairhep.model import (
    BEST_WEIGHTS,
    LAST_WEIGHTS,
    InteractionNetwork,
    ModelConfig,
    save_run_model,
)
from fairhep.model.fast import DEFAULT_ENGINE
from fairhep.model.fast_engine import engine_record, make_forward
from fairhep.splits import DEFAULT_VALID_FRACTION, Split, make_split

if TYPE_CHECKING:
    from rich.progress import Progress

CHECKPOINT = "checkpoint.pth"  # resume state: model, optimizer, position, history
SUMMARY = "train.json"  # written when training has finished
VALID_BATCH_SIZE = 1024  # validation needs no gradients: larger batches are faster


@dataclass(frozen=True)
class TrainConfig:
    data: Path
    out: Path
    seed: int = 0
    split: str = "kfold"  # kfold | files | points
    fold: int = 0
    epochs: int = 100
    patience: int = 8
    batch_size: int = 128
    lr: float = 1e-4
    device: str = "auto"
    model: ModelConfig = field(default_factory=ModelConfig)
    max_jets: int | None = None
    fold_files: int = 5
    results: Path | None = None
    progress: bool = True
    valid_fraction: float = DEFAULT_VALID_FRACTION  # for split="points"
    engine: str = DEFAULT_ENGINE  # fast | reference (fairhep.model.fast)
    precision: str = "fp32"  # tf32 / bf16 on CUDA: approximate

    def identity(self) -> dict[str, object]:
        """What must not change between a run and its resumption (epochs and patience may)."""
        return {
            "seed": self.seed, "split": self.split, "fold": self.fold,
            "fold_files": self.fold_files, "batch_size": self.batch_size, "lr": self.lr,
            "model": self.model.to_dict(), "max_jets": self.max_jets,
            "valid_fraction": self.valid_fraction,
            # Bit-exact resumption needs the same engine: their float sums differ in order.
            "engine": self.engine, "precision": self.precision,
        }


@dataclass(frozen=True)
class EpochStats:
    epoch: int  # 1-based
    train_loss: float
    val_loss: float
    val_accuracy: float
    val_auc: float
    train_s: float
    valid_s: float
    train_jets: int


@dataclass
class TrainResult:
    run_dir: Path
    epochs: int  # epochs completed
    best_epoch: int
    best_val_loss: float
    val_accuracy: float  # at the best epoch (the kept model)
    val_auc: float
    stopped_early: bool
    interrupted: bool
    history: list[EpochStats]
    train_jets_per_s: float
    total_s: float
    finished: bool
    record: Path | None = None


def should_stop(val_losses: Sequence[float], patience: int) -> bool:
    """The original code's rule: after epoch m > patience, stop when each of the last
    ``patience`` validation losses is worse than the best loss before them."""
    m = len(val_losses)
    if m <= patience:
        return False
    best_before = min(val_losses[: m - patience])
    return all(v > best_before for v in val_losses[m - patience:])


# ---- checkpoints ---------------------------------------------------------------------------

def _save_atomic(obj: object, path: Path) -> None:
    tmp = path.with_name(f".{path.name}.tmp")
    with open(tmp, "wb") as fh:
        torch.save(obj, fh)
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(tmp, path)


@dataclass
class _State:
    """Everything a resumed run needs besides the model and optimizer (plain types only, so
    that the checkpoint loads with ``weights_only=True``)."""

    epoch: int = 0  # epochs completed
    batch: int = 0  # batches done in the current epoch
    best_loss: float = math.inf
    best_epoch: int = 0
    history: list[EpochStats] = field(default_factory=list)  # saved as plain dicts
    stopped_early: bool = False
    # Partial-epoch accumulators, so an interrupted epoch reports the same loss and time.
    loss_sum: float = 0.0
    jets_seen: int = 0
    train_s: float = 0.0

    @classmethod
    def from_checkpoint(cls, saved: dict[str, Any]) -> _State:
        """The state from its ``asdict`` form in a checkpoint."""
        history = [EpochStats(**h) for h in saved["history"]]
        return cls(**{**saved, "history": history})


def _checkpoint(run_dir: Path, net: InteractionNetwork, opt: torch.optim.Optimizer,
                state: _State, identity: dict[str, object]) -> None:
    _save_atomic(
        {"model": net.state_dict(), "optimizer": opt.state_dict(), "state": asdict(state),
         "identity": json.dumps(identity, sort_keys=True)},
        run_dir / CHECKPOINT,
    )


def _resume(run_dir: Path, net: InteractionNetwork, opt: torch.optim.Optimizer,
            identity: dict[str, object], device: torch.device) -> _State | None:
    path = run_dir / CHECKPOINT
    if not path.is_file():
        return None
    try:
        ck = torch.load(path, map_location=device, weights_only=True)
        saved = json.loads(ck["identity"])
    except Exception as exc:  # a truncated or foreign file: torch raises many types
        raise ConfigError(f"{path}: unreadable training checkpoint ({exc}); delete it to start "
                          "over, or use another --out") from None
    if saved != identity:
        diff = sorted(k for k in set(saved) | set(identity) if saved.get(k) != identity.get(k))
        raise ConfigError(
            f"{run_dir}: holds a training with different settings ({', '.join(diff)}); "
            "use another --out, or the same settings to resume it"
        )
    net.load_state_dict(ck["model"])
    opt.load_state_dict(ck["optimizer"])
    return _State.from_checkpoint(ck["state"])


# ---- SIGTERM ---------------------------------------------------------------------------------

class _StopFlag:
    """Set by the SIGTERM handler between any two statements of the loop, so read through
    a method (to the type checker, an attribute the loop does not assign stays constant)."""

    def __init__(self) -> None:
        self._set = False
        self.signum: int | None = None

    def set(self, signum: int) -> None:
        self._set, self.signum = True, signum

    def is_set(self) -> bool:
        return self._set


@contextmanager
def _sigterm_stops(flag: _StopFlag) -> Iterator[None]:
    """While training, SIGTERM (Slurm's pre-kill signal) asks for a clean stop instead of
    killing; the previous handler is restored afterwards. Only the main thread may install
    signal handlers, so elsewhere this is a no-op."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def handler(signum: int, _frame: FrameType | None) -> None:
        flag.set(signum)

    previous = signal.signal(signal.SIGTERM, handler)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


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
    if cfg.epochs < 1 or cfg.patience < 1 or cfg.batch_size < 1 or cfg.lr <= 0:
        raise ConfigError("epochs, patience and batch size must be positive and lr > 0 "
                          f"(got {cfg.epochs}, {cfg.patience}, {cfg.batch_size}, {cfg.lr})")
    cfg = replace(cfg, data=Path(cfg.data), out=Path(cfg.out))
    device = resolve_device(cfg.device)
    retain_freed_memory()
    split = _split_for(cfg)
    if split.n_train == 0 or split.n_valid == 0:
        raise ConfigError(f"{cfg.data}: the {cfg.split} split leaves {split.n_train} training "
                          f"and {split.n_valid} validation jets; use more data")
    run_dir = cfg.out
    run_dir.mkdir(parents=True, exist_ok=True)
    identity = cfg.identity()

    torch.manual_seed(cfg.seed)  # the initialisation is the only random draw torch makes
    net = InteractionNetwork(cfg.model).to(device)
    opt = torch.optim.Adam(net.parameters(), lr=cfg.lr)
    state = _resume(run_dir, net, opt, identity, device)
    resumed = state is not None
    state = state or _State()
    save_run_model(run_dir, net, {"training": {**identity, "data": str(cfg.data)}})

    if state.stopped_early or state.epoch >= cfg.epochs:
        # A finished run: nothing to train, and no second record of the same training.
        return _result(run_dir, state, finished=True, interrupted=False)

    flag = _StopFlag()
    started = time.perf_counter()
    with _sigterm_stops(flag), _progress(cfg.progress) as progress:
        while state.epoch < cfg.epochs and not state.stopped_early and not flag.is_set():
            _train_epoch(cfg, split, net, opt, state, device, progress, flag, identity)
            if flag.is_set() and state.batch > 0:
                break  # checkpointed mid-epoch
            _finish_epoch(cfg, split, net, opt, state, device, progress, identity)
    interrupted = flag.is_set() and not (state.stopped_early or state.epoch >= cfg.epochs)
    if interrupted:
        where = (f"in epoch {state.epoch + 1} after batch {state.batch}" if state.batch
                 else f"after epoch {state.epoch}")
        print(f"signal {flag.signum}: stopped {where}; checkpoint saved in {run_dir}, rerun "
              "the same command to resume", flush=True)
    result = _result(run_dir, state, finished=not interrupted, interrupted=interrupted)
    if not interrupted:
        summary = {
            "finished": True, "epochs": state.epoch, "best_epoch": state.best_epoch,
            "stopped_early": state.stopped_early, "best_val_loss": state.best_loss,
            "val_accuracy": result.val_accuracy, "val_auc": result.val_auc,
            "train_jets_per_s": result.train_jets_per_s,
            "train_s": sum(h.train_s for h in result.history), "total_s": result.total_s,
            "n_train_jets": split.n_train, "n_valid_jets": split.n_valid, "resumed": resumed,
            "config": {**identity, "epochs_max": cfg.epochs, "patience": cfg.patience,
                       "data": str(cfg.data), "device": str(device)},
        }
        tmp = run_dir / f".{SUMMARY}.tmp"
        tmp.write_text(json.dumps(summary, indent=2) + "\n")
        tmp.replace(run_dir / SUMMARY)
        if cfg.results is not None:
            result.record = _write_record(cfg, cfg.results, split, device, result, resumed,
                                          time.perf_counter() - started)
    return result


def _train_epoch(cfg: TrainConfig, split: Split, net: InteractionNetwork,
                 opt: torch.optim.Optimizer, state: _State, device: torch.device,
                 progress: Progress, flag: _StopFlag, identity: dict[str, object]) -> None:
    epoch = state.epoch
    rng = np.random.default_rng([cfg.seed, epoch])
    batches = resident.train_batches(split.train.files, cfg.batch_size, rng, device,
                                     split.train.subsets, n_jets=split.n_train)
    # The same generator rebuilds the same order; skip what a resumed epoch already did.
    batches = itertools.islice(batches, state.batch, None)
    task = progress.add_task(f"epoch {epoch + 1}/{cfg.epochs}", total=split.n_train,
                             completed=state.jets_seen, loss=_mean(state), rate=0.0)
    net.train()
    t0 = time.perf_counter()
    base_s = state.train_s
    forward = make_forward(cfg.engine, net, cfg.precision, training=True)
    for jets in batches:
        x, y, lab = resident.on_device(jets, device)
        loss = torch.nn.functional.cross_entropy(forward(x, y), lab)
        opt.zero_grad(set_to_none=True)
        torch.autograd.backward(loss)  # loss.backward(), which has no type hints
        opt.step()
        state.loss_sum += float(loss.detach()) * len(jets)
        state.jets_seen += len(jets)
        state.batch += 1
        state.train_s = base_s + time.perf_counter() - t0
        progress.update(task, completed=state.jets_seen, loss=_mean(state),
                        rate=state.jets_seen / max(state.train_s, 1e-9))
        if flag.is_set():
            _checkpoint(cfg.out, net, opt, state, identity)
            break
    synchronize(device)
    state.train_s = base_s + time.perf_counter() - t0
    progress.remove_task(task)


def _finish_epoch(cfg: TrainConfig, split: Split, net: InteractionNetwork,
                  opt: torch.optim.Optimizer, state: _State, device: torch.device,
                  progress: Progress, identity: dict[str, object]) -> None:
    t0 = time.perf_counter()
    batches = load.iter_batches(split.valid.files, VALID_BATCH_SIZE, subsets=split.valid.subsets)
    pred = predict(net, batches, device, cfg.engine, cfg.precision)
    valid_s = time.perf_counter() - t0
    stats = EpochStats(
        epoch=state.epoch + 1, train_loss=_mean(state), val_loss=pred.loss,
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


def _mean(state: _State) -> float:
    return state.loss_sum / state.jets_seen if state.jets_seen else float("nan")


def _result(run_dir: Path, state: _State, finished: bool, interrupted: bool) -> TrainResult:
    history = list(state.history)
    best = next((h for h in history if h.epoch == state.best_epoch), None)
    train_s = sum(h.train_s for h in history)
    return TrainResult(
        run_dir=run_dir,
        epochs=state.epoch,
        best_epoch=state.best_epoch,
        best_val_loss=state.best_loss,
        val_accuracy=best.val_accuracy if best else float("nan"),
        val_auc=best.val_auc if best else float("nan"),
        stopped_early=state.stopped_early,
        interrupted=interrupted,
        history=history,
        train_jets_per_s=sum(h.train_jets for h in history) / train_s if train_s else float("nan"),
        total_s=sum(h.train_s + h.valid_s for h in history),
        finished=finished,
    )


def _write_record(cfg: TrainConfig, results: Path, split: Split, device: torch.device,
                  result: TrainResult, resumed: bool, wall_s: float) -> Path:
    from fairhep.results import ResultRecord, kinds, write_record

    n = max(len(result.history), 1)
    record = ResultRecord(
        kind=kinds.TRAIN,
        config={
            "seed": cfg.seed, "split": cfg.split, "fold": cfg.fold, "epochs_max": cfg.epochs,
            "patience": cfg.patience, "batch_size": cfg.batch_size, "lr": cfg.lr,
            "model": cfg.model.to_dict(),
            "parameters": InteractionNetwork(cfg.model).n_parameters(),
            "data": str(cfg.data), "device": str(device), "fold_files": cfg.fold_files,
            "max_jets": cfg.max_jets, "valid_fraction": cfg.valid_fraction,
            "run": str(result.run_dir), "resumed": resumed, "split_detail": split.describe(),
            **engine_record(cfg.engine, device, cfg.precision, training=True),
        },
        metrics={
            "val_accuracy": result.val_accuracy, "val_auc": result.val_auc,
            "val_loss": result.best_val_loss, "epochs": result.epochs,
            "best_epoch": result.best_epoch, "stopped_early": result.stopped_early,
            "history": [asdict(h) for h in result.history],
        },
        timings={
            "train_s_per_epoch": sum(h.train_s for h in result.history) / n,
            "valid_s_per_epoch": sum(h.valid_s for h in result.history) / n,
            "total_s": result.total_s,
            "train_jets_per_s": result.train_jets_per_s,
            "wall_s_this_invocation": wall_s,
        },
    )
    return write_record(Path(results), record, manifest_path(Path(cfg.data)))
