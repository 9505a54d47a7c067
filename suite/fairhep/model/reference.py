"""The literal interaction-matrix formulation of the original code (R_R, R_S, R_K, R_V): slow,
and the truth every faster form of the IN is tested against."""

from __future__ import annotations

import torch

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
