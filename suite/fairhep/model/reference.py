"""The literal interaction-matrix formulation of the original code (R_R, R_S, R_K, R_V): slow,
the truth every faster form of the IN is tested against, and the forward pass that keeps
every layer for the interpretability studies.

LRP (Eqs. 5 and 6 redistribute through the receiver matrices R_R and R_K) and the relative
neural activity (Eq. 7) need each layer's inputs and activations: :func:`trace` runs edge
inputs ``B_pp = [X R_R; X R_S]`` and ``B_vp = [X R_K; Y R_V]`` through each three-layer MLP
with ReLU after every layer, sums edge outputs onto receivers with ``R_Rᵀ`` / ``R_Kᵀ``, runs
f_O per track, sums over tracks and applies ``fc_fixed``; :func:`reference_forward` is its
logits.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

import torch
from torch import nn

from fairhep.model.network import InteractionNetwork


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


def reference_forward(
    net: InteractionNetwork, tracks: torch.Tensor, svs: torch.Tensor
) -> torch.Tensor:
    """The interaction-matrix formulation, literally (slow; for tests and the studies)."""
    return trace(net, tracks, svs).logits
