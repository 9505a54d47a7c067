"""What a training is (:class:`TrainConfig`), where it stands (:class:`TrainState`, saved in
every checkpoint) and what it gave (:class:`EpochStats`, :class:`TrainResult`)."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from fairhep.errors import ConfigError, FairhepError
from fairhep.model import ModelConfig
from fairhep.model.fast import DEFAULT_ENGINE, EngineSettings
from fairhep.splits import DEFAULT_VALID_FRACTION

# Adam's first step is lr / (1 - beta1), 10 lr (a hair more in floating point), applied to
# float32 weights: a learning rate much above this bound cannot even be represented in that
# step (torch fails with "value cannot be converted to type float without overflow"); float32's
# largest value is 3.4e38.
MAX_LR = 1e37
# The paper's batch: the learning-rate rules scale --lr from a global batch of this size.
REFERENCE_BATCH = 128
LR_RULES = ("fixed", "linear", "sqrt")


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
    overwrite: bool = False  # replace a run directory made with other settings
    engine: str = DEFAULT_ENGINE  # fast | reference (fairhep.model.fast)
    precision: str = "fp32"  # tf32 / bf16 on CUDA: approximate
    # One training over several processes (srun / torchrun): batch_size is the global batch.
    distributed: bool = False
    lr_rule: str = "fixed"  # fixed | linear | sqrt in global batch / REFERENCE_BATCH
    dist_timeout_s: float = 1800.0  # how long a rank waits for the others
    # How the fast engine runs (--engine-compile, ...; None: the device's defaults). Not part
    # of identity(): a run resumes under other settings, as it did when they were variables.
    engine_settings: EngineSettings | None = None

    def effective_lr(self) -> float:
        """The learning rate Adam uses: ``lr`` scaled by the rule from the paper's batch."""
        ratio = self.batch_size / REFERENCE_BATCH
        return self.lr * {"fixed": 1.0, "linear": ratio, "sqrt": math.sqrt(ratio)}[self.lr_rule]

    def check(self) -> None:
        """Refuse, in one line, what no training can run (before any file is touched)."""
        if self.epochs < 1 or self.patience < 1 or self.batch_size < 1:
            raise ConfigError("epochs, patience and batch size must be positive (got "
                              f"{self.epochs}, {self.patience}, {self.batch_size})")
        if not (math.isfinite(self.lr) and 0 < self.lr <= MAX_LR):
            raise ConfigError(f"--lr must be a finite number above 0 and at most {MAX_LR:.1e} "
                              f"(Adam's first step, 10 lr, must fit float32 weights), got "
                              f"{self.lr}")
        if self.lr_rule not in LR_RULES:
            raise ConfigError(f"--lr-rule must be one of {', '.join(LR_RULES)}, got "
                              f"{self.lr_rule!r}")
        if not (math.isfinite(self.effective_lr()) and self.effective_lr() <= MAX_LR):
            raise ConfigError(f"--lr {self.lr:g} scaled by --lr-rule {self.lr_rule} for batch "
                              f"{self.batch_size} gives {self.effective_lr():g}, above {MAX_LR:.1e}"
                              "; choose a smaller --lr")
        if not (math.isfinite(self.dist_timeout_s) and self.dist_timeout_s > 0):
            raise ConfigError(f"--dist-timeout must be a positive number of seconds, got "
                              f"{self.dist_timeout_s}")

    def identity(self) -> dict[str, object]:
        """What must not change between a run and its resumption (epochs and patience may)."""
        return {
            "seed": self.seed, "split": self.split, "fold": self.fold,
            "fold_files": self.fold_files, "batch_size": self.batch_size, "lr": self.lr,
            "model": self.model.to_dict(), "max_jets": self.max_jets,
            "valid_fraction": self.valid_fraction,
            # Bit-exact resumption needs the same engine: their float sums differ in order.
            "engine": self.engine, "precision": self.precision,
            # The world size may change between a run and its resumption: same global batch,
            # same order, same weights. The rule may not: it changes the learning rate.
            "lr_rule": self.lr_rule,
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
    stop_signal: int | None = None  # what interrupted it (SIGTERM, SIGINT)


class TrainingDiverged(FairhepError):
    """The loss or the weights became NaN or inf: the learning rate is too high for them.
    Nothing of the diverged weights is saved; the run directory keeps what it had."""

    @classmethod
    def during(cls, cfg: TrainConfig, state: TrainState, what: str,
               checkpointed: bool) -> TrainingDiverged:
        kept = ("its last good checkpoint is kept" if checkpointed
                else "no epoch finished, so it holds no checkpoint")
        return cls(f"{cfg.out}: training diverged in epoch {state.epoch + 1}: {what}; the "
                   f"learning rate {cfg.lr:g} is too high; {kept}; train again with a lower "
                   "--lr (with --overwrite, or another --out)")


def should_stop(val_losses: Sequence[float], patience: int) -> bool:
    """The original code's rule: after epoch m > patience, stop when each of the last
    ``patience`` validation losses is worse than the best loss before them."""
    m = len(val_losses)
    if m <= patience:
        return False
    best_before = min(val_losses[: m - patience])
    return all(v > best_before for v in val_losses[m - patience:])


@dataclass
class TrainState:
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
    def from_checkpoint(cls, saved: dict[str, Any]) -> TrainState:
        """The state from its ``asdict`` form in a checkpoint."""
        history = [EpochStats(**h) for h in saved["history"]]
        return cls(**{**saved, "history": history})

    def mean_loss(self) -> float:
        """Mean training loss of the current epoch so far (for the progress bar)."""
        return self.loss_sum / self.jets_seen if self.jets_seen else float("nan")

    def result(self, run_dir: Path, finished: bool, interrupted: bool) -> TrainResult:
        history = list(self.history)
        best = next((h for h in history if h.epoch == self.best_epoch), None)
        train_s = sum(h.train_s for h in history)
        return TrainResult(
            run_dir=run_dir,
            epochs=self.epoch,
            best_epoch=self.best_epoch,
            best_val_loss=self.best_loss,
            val_accuracy=best.val_accuracy if best else float("nan"),
            val_auc=best.val_auc if best else float("nan"),
            stopped_early=self.stopped_early,
            interrupted=interrupted,
            history=history,
            train_jets_per_s=(sum(h.train_jets for h in history) / train_s if train_s
                              else float("nan")),
            total_s=sum(h.train_s + h.valid_s for h in history),
            finished=finished,
        )
