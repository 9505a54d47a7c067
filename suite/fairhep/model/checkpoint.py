"""Published checkpoints: plain state_dicts with the original layer names, read safely
(``weights_only``) and turned into an IN."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

import torch

from fairhep import schema
from fairhep.errors import FairhepError
from fairhep.model.config import STATE_DICT_KEYS, ModelConfig
from fairhep.model.network import InteractionNetwork


class CheckpointError(FairhepError):
    """A state_dict that is not an IN of the published layout."""


def config_from_state_dict(
    state: Mapping[str, torch.Tensor], source: str = "checkpoint"
) -> ModelConfig:
    """Infer the variant from weight shapes (published checkpoints carry no config)."""
    missing = [f"{k}.{t}" for k in STATE_DICT_KEYS for t in ("weight", "bias")
               if f"{k}.{t}" not in state]
    extra = sorted(set(state) - {f"{k}.{t}" for k in STATE_DICT_KEYS
                                 for t in ("weight", "bias")})
    if missing or extra:
        raise CheckpointError(
            f"{source}: not an interaction-network state_dict (missing {missing}, "
            f"unexpected {extra}); expected keys {list(STATE_DICT_KEYS)} with .weight/.bias"
        )
    hidden, two_p = state["fr1.weight"].shape
    if two_p % 2:
        raise CheckpointError(f"{source}: fr1.weight has odd input width {two_p}")
    p = two_p // 2
    s = state["fr1_pv.weight"].shape[1] - p
    de = state["fr3.weight"].shape[0]
    do = state["fo3.weight"].shape[0]
    if p == schema.N_TRACK_FEATURES and s == schema.N_SV_FEATURES:
        config = ModelConfig(hidden=hidden, de=de, do=do)
    else:
        dropped_p = schema.N_TRACK_FEATURES - p
        dropped_s = schema.N_SV_FEATURES - s
        try:
            config = ModelConfig.ablated(dropped_p, dropped_s, hidden=hidden, de=de, do=do)
        except ValueError as exc:
            raise CheckpointError(
                f"{source}: {p} track / {s} SV input features match no known variant: {exc}"
            ) from exc
    expected = InteractionNetwork(config).state_dict()
    for key, tensor in expected.items():
        if tuple(state[key].shape) != tuple(tensor.shape):
            raise CheckpointError(
                f"{source}: {key} has shape {tuple(state[key].shape)}, expected "
                f"{tuple(tensor.shape)} for {config.p} track / {config.s} SV features, "
                f"h={config.hidden}, D_E={config.de}, D_O={config.do}"
            )
    return config


def load_state_dict_file(path: Path) -> dict[str, torch.Tensor]:
    """Load a plain state_dict safely (``weights_only=True``); raise a one-line error."""
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # torch raises many types for a bad file
        first = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
        raise CheckpointError(
            f"{path}: cannot be read as a PyTorch state_dict ({first})"
        ) from exc
    if isinstance(state, Mapping) and "model" in state and isinstance(state["model"], Mapping):
        state = state["model"]
    if not isinstance(state, Mapping):
        raise CheckpointError(f"{path}: holds a {type(state).__name__}, not a state_dict")
    not_tensors = [k for k, v in state.items() if not isinstance(v, torch.Tensor)]
    if not_tensors:
        raise CheckpointError(f"{path}: entries {not_tensors[:5]} are not tensors; expected a "
                              "plain state_dict")
    return dict(state)


def model_from_state_dict(
    state: Mapping[str, torch.Tensor], config: ModelConfig | None = None, source: str = ""
) -> InteractionNetwork:
    inferred = config_from_state_dict(state, source or "checkpoint")
    net = InteractionNetwork(config or inferred)
    net.load_state_dict(dict(state))
    return net


# ---- run directories ----------------------------------------------------------------------
# A run directory holds what evaluate / export / bench need to use a trained model:
#   model.json   {"model": ModelConfig, ...}     best.pth   best-validation state_dict
#   last.pth     weights after the last epoch     (training adds its own resume state)
