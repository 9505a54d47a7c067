"""The IN's forward pass in the literal interaction-matrix form, keeping every layer.

LRP (Eqs. 5 and 6 redistribute through the receiver matrices R_R and R_K) and the relative
neural activity (Eq. 7) need each layer's inputs and activations, so they run this form:
edge inputs ``B_pp = [X R_R; X R_S]`` and ``B_vp = [X R_K; Y R_V]``, each three-layer MLP with
ReLU after every layer, edge outputs summed onto receivers with ``R_Rᵀ`` / ``R_Kᵀ``, f_O per
track, summed over tracks, ``fc_fixed``. Its logits equal the network's (tested against
:func:`fairhep.model.reference_forward`).
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

import torch
from torch import nn

from fairhep.model import InteractionNetwork, interaction_matrices

# The three MLPs, by their names in the paper and the layers of each (checkpoint names).
MLPS: dict[str, tuple[str, str, str]] = {
    "f_R^pp": ("fr1", "fr2", "fr3"),
    "f_R^vp": ("fr1_pv", "fr2_pv", "fr3_pv"),
    "f_O": ("fo1", "fo2", "fo3"),
}


def mlp_layers(net: InteractionNetwork, mlp: str) -> list[nn.Linear]:
    return [getattr(net, name) for name in MLPS[mlp]]


@dataclass(frozen=True)
class Trace:
    """Every tensor of one forward pass. ``acts[mlp]`` is ``[input, a1, a2, a3]``: the MLP's
    input and its three post-ReLU activations, with the objects it runs on (edges or tracks)
    in dimension 1: ``(B, N_pp | N_vp | N_p, width)``."""

    x: torch.Tensor  # (B, P, N_p) the model's track features
    y: torch.Tensor  # (B, S, N_v)
    acts: dict[str, list[torch.Tensor]]
    e_pp: torch.Tensor  # (B, D_E, N_p): Ē_pp, edge outputs summed onto the receiving track
    e_vp: torch.Tensor  # (B, D_E, N_p): Ē_vp
    o_bar: torch.Tensor  # (B, D_O): f_O summed over tracks (Eq. 2)
    logits: torch.Tensor  # (B, 2)
    matrices: dict[str, torch.Tensor]  # R_R, R_S, R_K, R_V


@functools.lru_cache(maxsize=4)
def _matrices(n_tracks: int, n_svs: int, device: torch.device) -> dict[str, torch.Tensor]:
    """R_R, R_S, R_K, R_V on ``device``, built once per shape (a study traces many chunks)."""
    return {k: v.to(device) for k, v in interaction_matrices(n_tracks, n_svs).items()}


def _mlp(layers: list[nn.Linear], inputs: torch.Tensor) -> list[torch.Tensor]:
    acts = [inputs]
    for layer in layers:
        acts.append(torch.relu(layer(acts[-1])))
    return acts


def trace(net: InteractionNetwork, tracks: torch.Tensor, svs: torch.Tensor) -> Trace:
    """Run ``net`` on full schema arrays (B, 30, 60) / (B, 14, 5), keeping every layer."""
    x, y = net.select_inputs(tracks, svs)
    m = _matrices(net.config.n_tracks, net.config.n_svs, x.device)
    pp = _mlp(mlp_layers(net, "f_R^pp"),
              torch.cat([x @ m["R_R"], x @ m["R_S"]], dim=1).transpose(1, 2))
    vp = _mlp(mlp_layers(net, "f_R^vp"),
              torch.cat([x @ m["R_K"], y @ m["R_V"]], dim=1).transpose(1, 2))
    e_pp = pp[-1].transpose(1, 2) @ m["R_R"].T
    e_vp = vp[-1].transpose(1, 2) @ m["R_K"].T
    fo = _mlp(mlp_layers(net, "f_O"), torch.cat([x, e_pp, e_vp], dim=1).transpose(1, 2))
    o_bar = fo[-1].sum(dim=1)
    return Trace(x, y, {"f_R^pp": pp, "f_R^vp": vp, "f_O": fo}, e_pp, e_vp, o_bar,
                 net.fc_fixed(o_bar), m)
