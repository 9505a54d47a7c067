"""A run directory's model: ``model.json`` (the config) beside ``best.pth`` / ``last.pth``;
:func:`import_checkpoint` makes one from a published checkpoint."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import torch

from fairhep.model.checkpoint import (
    CheckpointError,
    config_from_state_dict,
    load_state_dict_file,
    model_from_state_dict,
    state_dict_shapes,
)
from fairhep.model.config import ModelConfig
from fairhep.model.metadata import check_metadata, read_fair_metadata
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


def read_run_config(run_dir: Path) -> dict[str, Any]:
    """``model.json`` of a run directory; a missing or corrupt one is a one-line error."""
    cfg_path = Path(run_dir) / RUN_CONFIG
    if not cfg_path.is_file():
        raise CheckpointError(
            f"{run_dir}: no {RUN_CONFIG}; not a run directory (make one with `fairhep train` "
            "or `fairhep model import`)"
        )
    try:
        meta = json.loads(cfg_path.read_text())
        if not isinstance(meta, dict) or not isinstance(meta.get("model"), dict):
            raise ValueError("no \"model\" object")
        ModelConfig.from_dict(meta["model"])
    except (OSError, UnicodeDecodeError, ValueError, TypeError) as exc:
        first = " ".join(str(exc).split())[:200]
        raise CheckpointError(
            f"{cfg_path}: corrupt run configuration ({first}); restore it, or re-create the "
            "run directory with `fairhep train` or `fairhep model import`"
        ) from None
    return meta


def run_model_config(run_dir: Path) -> ModelConfig:
    """The model config of a run directory (sizes, kept and dropped features), without
    loading weights: what a record that names a run embeds as ``config.model``."""
    return ModelConfig.from_dict(read_run_config(run_dir)["model"])


def load_run_model(run_dir: Path, weights: str = BEST_WEIGHTS) -> InteractionNetwork:
    """The trained model of a run directory, in eval mode on the CPU."""
    config = run_model_config(run_dir)
    path = Path(run_dir) / weights
    if not path.is_file():
        raise CheckpointError(f"{path}: missing; the run has not finished an epoch yet")
    net = model_from_state_dict(load_state_dict_file(path), config, source=str(path))
    return net.eval()


def _agree(kind: str, option: Sequence[str] | None, meta: Sequence[str] | None,
           meta_path: Path | None) -> Sequence[str] | None:
    """One dropped list from --metadata and the explicit option; refused when they differ."""
    if option is None or meta is None:
        return option if option is not None else meta
    if tuple(option) != tuple(meta):
        key = "drop_pfeatures" if kind == "track" else "drop_svfeatures"
        raise CheckpointError(
            f"--{kind}-features-dropped names [{', '.join(option)}] but {meta_path} {key!r} "
            f"names [{', '.join(meta)}]; give one of them"
        )
    return option


def import_checkpoint(
    path: Path,
    run_dir: Path,
    metadata: Path | None = None,
    track_dropped: Sequence[str] | None = None,
    sv_dropped: Sequence[str] | None = None,
) -> InteractionNetwork:
    """Make a run directory from a state_dict of the original code, exactly as published.

    Sizes come from the weight shapes (every shape checked); which features a reduced
    checkpoint dropped comes from the FAIR ``metadata`` file and/or the explicit lists
    (names), never from a guess. Refuses to replace an existing model."""
    path, run_dir = Path(path), Path(run_dir)
    if (run_dir / BEST_WEIGHTS).exists() or (run_dir / RUN_CONFIG).exists():
        raise CheckpointError(f"{run_dir}: already holds a model; choose another --out")
    state = load_state_dict_file(path)
    meta = None
    if metadata is not None:
        meta = read_fair_metadata(Path(metadata))
        check_metadata(meta, state_dict_shapes(state, str(path)), path)
    tracks = _agree("track", track_dropped, None if meta is None else meta.track_dropped,
                    metadata)
    svs = _agree("sv", sv_dropped, None if meta is None else meta.sv_dropped, metadata)
    config = config_from_state_dict(state, str(path), tracks, svs)
    net = model_from_state_dict(state, config, source=str(path)).eval()
    run_dir.mkdir(parents=True, exist_ok=True)
    weights = net.state_dict()
    for name in (BEST_WEIGHTS, LAST_WEIGHTS):
        tmp = run_dir / f".{name}.tmp"
        torch.save(weights, tmp)
        tmp.replace(run_dir / name)
    given = [what for what, value in (("metadata", metadata),
                                      ("--track-features-dropped", track_dropped),
                                      ("--sv-features-dropped", sv_dropped)) if value is not None]
    extra: dict[str, object] = {
        "imported_from": str(path.resolve()),
        "features_from": ", ".join(given) if given else "full schema (no feature dropped)",
    }
    if meta is not None:
        extra["fair_metadata"] = {"path": str(Path(metadata or "").resolve()), **meta.raw}
    # model.json last: its presence marks a complete run directory.
    save_run_model(run_dir, net, extra)
    return net
