"""A run directory's model: ``model.json`` (the config) beside ``best.pth`` / ``last.pth``;
:func:`import_checkpoint` makes one from a published checkpoint."""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path

import torch

from fairhep.model.checkpoint import CheckpointError, load_state_dict_file, model_from_state_dict
from fairhep.model.config import ModelConfig
from fairhep.model.network import InteractionNetwork

RUN_CONFIG = "model.json"
BEST_WEIGHTS = "best.pth"
LAST_WEIGHTS = "last.pth"


def save_run_model(run_dir: Path, net: InteractionNetwork,
                   extra: Mapping[str, object] = {}) -> None:
    run_dir.mkdir(parents=True, exist_ok=True)
    meta = {"model": net.config.to_dict(), "parameters": net.n_parameters(), **extra}
    tmp = run_dir / (RUN_CONFIG + ".tmp")
    tmp.write_text(json.dumps(meta, indent=2) + "\n")
    tmp.replace(run_dir / RUN_CONFIG)


def load_run_model(run_dir: Path, weights: str = BEST_WEIGHTS) -> InteractionNetwork:
    """The trained model of a run directory, in eval mode on the CPU."""
    cfg_path = run_dir / RUN_CONFIG
    if not cfg_path.is_file():
        raise CheckpointError(
            f"{run_dir}: no {RUN_CONFIG}; not a run directory (make one with `fairhep train` "
            "or `fairhep model import`)"
        )
    config = ModelConfig.from_dict(json.loads(cfg_path.read_text())["model"])
    path = run_dir / weights
    if not path.is_file():
        raise CheckpointError(f"{path}: missing; the run has not finished an epoch yet")
    net = model_from_state_dict(load_state_dict_file(path), config, source=str(path))
    return net.eval()


def import_checkpoint(path: Path, run_dir: Path) -> InteractionNetwork:
    """Make a run directory from a state_dict of the original code (variant inferred from the
    weight shapes, every shape checked); refuses to replace an existing model."""
    path, run_dir = Path(path), Path(run_dir)
    if (run_dir / BEST_WEIGHTS).exists() or (run_dir / RUN_CONFIG).exists():
        raise CheckpointError(f"{run_dir}: already holds a model; choose another --out")
    state = load_state_dict_file(path)
    net = model_from_state_dict(state, source=str(path)).eval()
    run_dir.mkdir(parents=True, exist_ok=True)
    weights = net.state_dict()
    for name in (BEST_WEIGHTS, LAST_WEIGHTS):
        tmp = run_dir / f".{name}.tmp"
        torch.save(weights, tmp)
        tmp.replace(run_dir / name)
    # model.json last: its presence marks a complete run directory.
    save_run_model(run_dir, net, {"imported_from": str(path.resolve())})
    return net
