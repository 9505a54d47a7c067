"""The interaction network (IN) of Moreno et al. as made FAIR (paper §2.4.1, Table 3).

Two graphs per jet: a fully connected directed track-track graph (N_p(N_p-1) edges,
edge input ``[x_receiver; x_sender]``) and a track-SV graph (N_p N_v edges, edge input
``[x_track; y_sv]``). Three-layer MLPs with ReLU after every layer (f_R^pp, f_R^vp, f_O),
edge outputs summed onto the receiving track, f_O summed over tracks, a final linear layer
to two logits. Layer names are those of the published checkpoints (``fr1 … fc_fixed``), so a
published state_dict loads as is.

:class:`InteractionNetwork` factors the first edge layer into receiver and sender parts and
broadcasts them, which is algebraically identical to the interaction-matrix products of
the original code but needs no dense (N_p × N_pp) matrices. :func:`reference_forward`
keeps the literal interaction-matrix formulation for tests.

Inputs are always the full schema arrays (tracks ``(B, 30, 60)``, SVs ``(B, 14, 5)``); a
model trained without some features selects its columns itself, so every model variant and
every exported file is fed the same way.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any, TypedDict

import torch
from torch import nn

from fairhep import schema
from fairhep.errors import FairhepError

STATE_DICT_KEYS: tuple[str, ...] = (
    "fr1", "fr2", "fr3", "fr1_pv", "fr2_pv", "fr3_pv", "fo1", "fo2", "fo3", "fc_fixed",
)


class ModelDict(TypedDict):
    """:meth:`ModelConfig.to_dict`: the config as JSON (run directories, records, ONNX)."""

    hidden: int
    de: int
    do: int
    track_features: list[str]
    sv_features: list[str]
    n_tracks: int
    n_svs: int


@dataclass(frozen=True)
class ModelConfig:
    """Hyperparameters of one IN variant. Defaults are the paper's baseline (Table 3)."""

    hidden: int = 60
    de: int = 20
    do: int = 24
    track_features: tuple[str, ...] = field(default=schema.TRACK_FEATURES)
    sv_features: tuple[str, ...] = field(default=schema.SV_FEATURES)
    n_tracks: int = schema.N_TRACKS
    n_svs: int = schema.N_SVS

    def __post_init__(self) -> None:
        object.__setattr__(self, "track_features", tuple(self.track_features))
        object.__setattr__(self, "sv_features", tuple(self.sv_features))
        for name, known in (("track", schema.TRACK_FEATURES), ("sv", schema.SV_FEATURES)):
            chosen = getattr(self, f"{name}_features")
            unknown = [f for f in chosen if f not in known]
            if unknown:
                raise ValueError(f"unknown {name} feature(s) {unknown}")
        for name in ("hidden", "de", "do"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be positive, got {getattr(self, name)}")

    @property
    def p(self) -> int:
        return len(self.track_features)

    @property
    def s(self) -> int:
        return len(self.sv_features)

    @classmethod
    def ablated(
        cls,
        drop_track_features: int = 0,
        drop_sv_features: int = 0,
        **kwargs: int,
    ) -> ModelConfig:
        """A config without the first N of the paper's least important features (Table 10)."""
        tracks = schema.ABLATION_DROPPED_TRACK_FEATURES
        svs = schema.ABLATION_DROPPED_SV_FEATURES
        if drop_track_features > len(tracks) or drop_sv_features > len(svs):
            raise ValueError(
                f"the paper's ablation drops at most {len(tracks)} track and {len(svs)} SV "
                "features"
            )
        return cls(
            track_features=schema.kept_features(
                schema.TRACK_FEATURES, tracks[:drop_track_features]
            ),
            sv_features=schema.kept_features(schema.SV_FEATURES, svs[:drop_sv_features]),
            **kwargs,
        )

    def to_dict(self) -> ModelDict:
        return ModelDict(  # in field order, as the JSON files have it
            hidden=self.hidden, de=self.de, do=self.do,
            track_features=list(self.track_features), sv_features=list(self.sv_features),
            n_tracks=self.n_tracks, n_svs=self.n_svs,
        )

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> ModelConfig:
        known = {f.name for f in fields(cls)}
        unknown = set(d) - known
        if unknown:
            raise ValueError(f"unknown model config key(s) {sorted(unknown)}")
        return cls(**dict(d))


def _mlp(n_in: int, hidden: int, n_out: int) -> tuple[nn.Linear, nn.Linear, nn.Linear]:
    return nn.Linear(n_in, hidden), nn.Linear(hidden, hidden), nn.Linear(hidden, n_out)


def _edges(recv: torch.Tensor, send: torch.Tensor, n_recv: int,
           first: nn.Linear, second: nn.Linear, third: nn.Linear) -> torch.Tensor:
    """f_R on every (receiver, sender) pair: (B, N_r, n_recv) and (B, N_s, F_s) give
    (B, N_r, N_s, D_E). The first layer on ``[x_r; x_s]`` is ``W_r x_r + W_s x_s + b``, its two
    halves computed once per object and broadcast over the pairs. ``n_recv`` is a Python int
    so that an exported graph slices the weight by a constant."""
    w = first.weight
    r = recv @ w[:, :n_recv].T + first.bias  # (B, N_r, h)
    s = send @ w[:, n_recv:].T  # (B, N_s, h)
    e = torch.relu(r.unsqueeze(2) + s.unsqueeze(1))  # (B, r, s, h)
    e = torch.relu(second(e))
    return torch.relu(third(e))


class InteractionNetwork(nn.Module):
    """The IN; ``forward`` returns the two class logits (softmax them for scores)."""

    def __init__(self, config: ModelConfig | None = None) -> None:
        super().__init__()
        self.config = config or ModelConfig()
        c = self.config
        self.fr1, self.fr2, self.fr3 = _mlp(2 * c.p, c.hidden, c.de)
        self.fr1_pv, self.fr2_pv, self.fr3_pv = _mlp(c.p + c.s, c.hidden, c.de)
        self.fo1, self.fo2, self.fo3 = _mlp(c.p + 2 * c.de, c.hidden, c.do)
        self.fc_fixed = nn.Linear(c.do, len(schema.CLASSES))
        track_idx = schema.feature_indices(schema.TRACK_FEATURES, c.track_features)
        sv_idx = schema.feature_indices(schema.SV_FEATURES, c.sv_features)
        # None when nothing is dropped, so the baseline pays no gather.
        self._track_idx = None if c.p == schema.N_TRACK_FEATURES else track_idx
        self._sv_idx = None if c.s == schema.N_SV_FEATURES else sv_idx
        self.register_buffer(
            "self_loop_mask", 1.0 - torch.eye(c.n_tracks), persistent=False
        )

    def select_inputs(
        self, tracks: torch.Tensor, svs: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Pick this model's feature rows out of the full schema arrays."""
        if self._track_idx is not None:
            tracks = tracks[:, self._track_idx, :]
        if self._sv_idx is not None:
            svs = svs[:, self._sv_idx, :]
        return tracks, svs

    def forward(self, tracks: torch.Tensor, svs: torch.Tensor) -> torch.Tensor:
        x, y = self.select_inputs(tracks, svs)
        p = self.config.p
        xt = x.transpose(1, 2)  # (B, N_p, P)
        yt = y.transpose(1, 2)  # (B, N_v, S)

        # Track-track edges, summed onto receivers, leaving out the r == s pairs that are not
        # edges.
        e = _edges(xt, xt, p, self.fr1, self.fr2, self.fr3)  # (B, r, s, D_E)
        e_pp = torch.einsum("brsd,rs->brd", e, self.self_loop_mask)
        # Track-SV edges, summed onto the track.
        e_vp = _edges(xt, yt, p, self.fr1_pv, self.fr2_pv, self.fr3_pv).sum(dim=2)  # (B, N_p, D_E)

        o = torch.cat([xt, e_pp, e_vp], dim=2)
        o = torch.relu(self.fo1(o))
        o = torch.relu(self.fo2(o))
        o = torch.relu(self.fo3(o)).sum(dim=1)  # (B, D_O)
        logits: torch.Tensor = self.fc_fixed(o)
        return logits

    def n_parameters(self) -> int:
        return sum(t.numel() for t in self.parameters())


class ScoreModel(nn.Module):
    """The IN with the softmax inside, as the FAIR ONNX export had it: returns (B, 2) scores."""

    def __init__(self, net: InteractionNetwork) -> None:
        super().__init__()
        self.net = net

    def forward(self, tracks: torch.Tensor, svs: torch.Tensor) -> torch.Tensor:
        return torch.softmax(self.net(tracks, svs), dim=1)


def interaction_matrices(n_tracks: int, n_svs: int) -> dict[str, torch.Tensor]:
    """The literal R_R, R_S (N_p × N_pp) and R_K, R_V (N_p/N_v × N_vp) of the original code."""
    n_pp = n_tracks * (n_tracks - 1)
    r_r = torch.zeros(n_tracks, n_pp)
    r_s = torch.zeros(n_tracks, n_pp)
    pairs = [(r, s) for r in range(n_tracks) for s in range(n_tracks) if r != s]
    for k, (r, s) in enumerate(pairs):
        r_r[r, k] = 1.0
        r_s[s, k] = 1.0
    n_vp = n_tracks * n_svs
    r_k = torch.zeros(n_tracks, n_vp)
    r_v = torch.zeros(n_svs, n_vp)
    for k in range(n_vp):
        r_k[k // n_svs, k] = 1.0
        r_v[k % n_svs, k] = 1.0
    return {"R_R": r_r, "R_S": r_s, "R_K": r_k, "R_V": r_v}


def reference_forward(
    net: InteractionNetwork, tracks: torch.Tensor, svs: torch.Tensor
) -> torch.Tensor:
    """The interaction-matrix formulation, literally (slow; for tests only)."""
    x, y = net.select_inputs(tracks, svs)
    m = interaction_matrices(net.config.n_tracks, net.config.n_svs)
    b_pp = torch.cat([x @ m["R_R"], x @ m["R_S"]], dim=1)  # (B, 2P, N_pp)
    e = b_pp.transpose(1, 2)
    for layer in (net.fr1, net.fr2, net.fr3):
        e = torch.relu(layer(e))
    e_pp = e.transpose(1, 2) @ m["R_R"].T  # (B, D_E, N_p)
    b_vp = torch.cat([x @ m["R_K"], y @ m["R_V"]], dim=1)  # (B, P+S, N_vp)
    f = b_vp.transpose(1, 2)
    for layer in (net.fr1_pv, net.fr2_pv, net.fr3_pv):
        f = torch.relu(layer(f))
    e_vp = f.transpose(1, 2) @ m["R_K"].T  # (B, D_E, N_p)
    c = torch.cat([x, e_pp, e_vp], dim=1).transpose(1, 2)
    for layer in (net.fo1, net.fo2, net.fo3):
        c = torch.relu(layer(c))
    logits: torch.Tensor = net.fc_fixed(c.sum(dim=1))
    return logits


# ---- checkpoints -------------------------------------------------------------------------

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
