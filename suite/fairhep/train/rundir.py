"""A training's run directory: who may write it, whose it is, and how it ends.

* ``train.lock``: an exclusive ``flock`` held for the whole training; a second writer is
  refused in one line (the lock dies with its process, so a kill leaves none behind).
* Ownership: a directory that holds a training with other settings (seed, split, model,
  ...) or a model the training did not make (an import) is refused unless ``overwrite``.
* The end: ``train.json`` (the summary) names the id of the training's one record; every run
  of a finished training writes what is missing of the two, never a second record.
"""

from __future__ import annotations

import json
import os
import sys
import uuid
from dataclasses import asdict
from pathlib import Path
from typing import Any

import numpy as np
import torch

from fairhep import schema
from fairhep.data import load
from fairhep.data.manifest import manifest_path
from fairhep.errors import ConfigError, FairhepError
from fairhep.model import (
    BEST_WEIGHTS,
    LAST_WEIGHTS,
    RUN_CONFIG,
    InteractionNetwork,
    ModelConfig,
    read_run_config,
)
from fairhep.model.fast import engine_record
from fairhep.splits import Split
from fairhep.train.state import TrainConfig, TrainResult, TrainState

CHECKPOINT = "checkpoint.pth"  # resume state: model, optimizer, position, history
SUMMARY = "train.json"  # written when training has finished; names the record's id
LOCK = "train.lock"  # held (flock) by the one process that trains into the directory
# What --overwrite removes: everything a training writes into its run directory.
RUN_FILES = (CHECKPOINT, SUMMARY, BEST_WEIGHTS, LAST_WEIGHTS, RUN_CONFIG)


def _normalized(identity: dict[str, Any]) -> dict[str, Any]:
    """An identity in today's form: runs from before the engine option trained with the
    dense fp32 forward, and older model configs lack derived keys."""
    identity = {"engine": "reference", "precision": "fp32", "lr_rule": "fixed", **identity}
    model = identity.get("model")
    if isinstance(model, dict):
        try:
            return {**identity, "model": ModelConfig.from_dict(model).to_dict()}
        except (TypeError, ValueError):
            pass
    return identity


def refuse_other_settings(run_dir: Path, saved: dict[str, Any],
                          identity: dict[str, object]) -> None:
    saved, ours = _normalized(saved), _normalized(dict(identity))
    if saved != ours:
        diff = sorted(k for k in set(saved) | set(ours) if saved.get(k) != ours.get(k))
        raise ConfigError(
            f"{run_dir}: holds a training with different settings ({', '.join(diff)}); "
            "use another --out, the same settings to resume it, or --overwrite to start over"
        )


def claim(run_dir: Path, identity: dict[str, object], overwrite: bool) -> None:
    """Make sure ``run_dir`` is this training's (or empty); with ``overwrite``, empty it."""
    if overwrite:
        for name in RUN_FILES:
            (run_dir / name).unlink(missing_ok=True)
        return
    if (run_dir / CHECKPOINT).is_file():
        return  # compared on resume, with the checkpoint itself
    if not ((run_dir / RUN_CONFIG).is_file() or (run_dir / BEST_WEIGHTS).is_file()):
        return
    try:
        training = read_run_config(run_dir).get("training")
    except FairhepError:
        training = None
    if not isinstance(training, dict):
        raise ConfigError(f"{run_dir}: holds a model that this training did not make (an "
                          f"imported or foreign {RUN_CONFIG}/{BEST_WEIGHTS}); use another "
                          "--out, or --overwrite to replace it")
    refuse_other_settings(run_dir, {k: v for k, v in training.items() if k != "data"},
                          identity)


def check_classes(cfg: TrainConfig, split: Split) -> None:
    """A tagger needs both classes on both sides, or its loss and AUC mean nothing."""
    for part, side in (("training", split.train), ("validation", split.valid)):
        counts = load.label_counts(side.files, side.subsets)
        if (counts == 0).any():
            only = schema.CLASSES[int(np.flatnonzero(counts)[0])] if counts.any() else "none"
            raise ConfigError(
                f"{cfg.data}: the {part} jets of the {cfg.split} split are all {only} "
                f"({int(counts.sum())} jets): a tagger cannot be trained or validated on one "
                "class; use data with both QCD and H->bb jets (`fairhep data check` counts them)"
            )


def finish(cfg: TrainConfig, split: Split, device: torch.device, state: TrainState,
           resumed: bool, wall_s: float | None,
           distributed: dict[str, Any] | None = None) -> TrainResult:
    """``train.json`` and the record of a finished training, each written once: on the run
    that finished, or on the first rerun after a kill that came before them. ``wall_s`` is
    None when this invocation trained nothing; ``distributed`` describes the job of ranks."""
    run_dir = cfg.out
    result = state.result(run_dir, finished=True, interrupted=False)
    summary = _read_summary(run_dir / SUMMARY)
    if summary is None or summary.get("epochs") != state.epoch or "record_id" not in summary:
        summary = {
            "finished": True, "epochs": state.epoch, "best_epoch": state.best_epoch,
            "stopped_early": state.stopped_early, "best_val_loss": state.best_loss,
            "val_accuracy": result.val_accuracy, "val_auc": result.val_auc,
            "train_jets_per_s": result.train_jets_per_s,
            "train_s": sum(h.train_s for h in result.history), "total_s": result.total_s,
            "n_train_jets": split.n_train, "n_valid_jets": split.n_valid, "resumed": resumed,
            "config": {**cfg.identity(), "epochs_max": cfg.epochs, "patience": cfg.patience,
                       "data": str(cfg.data), "device": str(device)},
            # The id of this training's one record, fixed before the record is written.
            "record_id": uuid.uuid4().hex[:12],
            "wall_s": wall_s,
            "distributed": distributed,
        }
        tmp = run_dir / f".{SUMMARY}.{os.getpid()}.tmp"
        tmp.write_text(json.dumps(summary, indent=2) + "\n")
        tmp.replace(run_dir / SUMMARY)
    if cfg.results is not None:
        from fairhep.results import find_record, kinds

        corrupt: list[str] = []
        result.record = find_record(cfg.results, kinds.TRAIN, str(summary["record_id"]),
                                    corrupt)
        for line in corrupt:  # a truncated record is replaced, never shown as the record
            print(f"{line}; writing the record again from {run_dir}", file=sys.stderr,
                  flush=True)
        if result.record is None:
            result.record = _write_record(cfg, cfg.results, split, device, result, summary,
                                          recorded_on_rerun=wall_s is None)
    return result


def _read_summary(path: Path) -> dict[str, Any] | None:
    try:
        summary = json.loads(path.read_text())
    except (OSError, ValueError):
        return None  # missing or torn: rewritten from the checkpoint's state
    return summary if isinstance(summary, dict) else None


def _write_record(cfg: TrainConfig, results: Path, split: Split, device: torch.device,
                  result: TrainResult, summary: dict[str, Any], recorded_on_rerun: bool) -> Path:
    from fairhep.results import ResultRecord, kinds, write_record

    n = max(len(result.history), 1)
    record = ResultRecord(
        kind=kinds.TRAIN,
        record_id=str(summary["record_id"]),
        config={
            "seed": cfg.seed, "split": cfg.split, "fold": cfg.fold, "epochs_max": cfg.epochs,
            "patience": cfg.patience, "batch_size": cfg.batch_size, "lr": cfg.lr,
            "lr_rule": cfg.lr_rule, "lr_effective": cfg.effective_lr(),
            # world size, nodes, backend of a distributed training (None: one process)
            "distributed": summary.get("distributed"),
            "model": cfg.model.to_dict(),
            "parameters": InteractionNetwork(cfg.model).n_parameters(),
            "data": str(cfg.data), "device": str(device), "fold_files": cfg.fold_files,
            "max_jets": cfg.max_jets, "valid_fraction": cfg.valid_fraction,
            "run": str(result.run_dir), "resumed": bool(summary.get("resumed")),
            "split_detail": split.describe(),
            # True when a rerun wrote the record that a killed run could not.
            "recorded_on_rerun": recorded_on_rerun,
            **engine_record(cfg.engine, device, cfg.precision, training=True,
                            settings=cfg.engine_settings),
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
            # Of the invocation that finished training (None if unknown).
            "wall_s_this_invocation": summary.get("wall_s"),
        },
    )
    return write_record(Path(results), record, manifest_path(Path(cfg.data)))
