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

import torch
from torch import nn

from fairhep import schema
from fairhep.model.config import ModelConfig


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
