"""The IN of one chunk of jets in closed form: padded tracks and SVs cost one MLP evaluation
each per jet instead of one per edge (issue 12's algebra; exact up to float summation order).

A padded track or SV has all (selected) features exactly 0, so its half of the first edge
layer is 0:

* track-track, real receiver r: ``Σ_{real s≠r} f_R(a_r + c_s) + m·f_R(a_r)``;
* track-track, every padded receiver: ``Σ_{real s} f_R(b + c_s) + (m−1)·f_R(b)``;
* track-SV, real track k: ``Σ_{real v} g(p_k + q_v) + m_v·g(p_k)``;
  padded track: ``Σ_{real v} g(b' + q_v) + m_v·g(b')``;
* f_O: every padded track has the same input ``[0; E_pp,pad; E_vp,pad]``, so its output is
  computed once and added m times,

with ``a = W_r x + b`` and ``c = W_s x`` the receiver and sender halves of ``fr1``, ``p`` and
``q`` those of ``fr1_pv``, ``m`` / ``m_v`` the numbers of padded tracks / SVs among the
network's N_p / N_v slots, and ``f_R(z) = relu(fr3(relu(fr2(relu(z)))))`` on the first
layer's pre-activation ``z`` (``g`` the same with the ``_pv`` layers).

A chunk holds J jets whose real tracks and SVs were moved to the first slots
(:mod:`fairhep.model.fast.plan`). Two forms of the same sums:

* :func:`exact_chunk` (CPU): every jet of the chunk has exactly N real tracks, so no track
  mask is needed; jets are sorted by descending SV count, so the jets that have a v-th real
  SV are a prefix of the chunk and only real (track, SV) pairs are evaluated.
* :func:`masked_chunk` (GPU, fixed shapes): N is a bucket size ≥ every jet's real tracks and
  all N_v SV slots are kept; masks drop the slots that are not real. Every tensor's shape
  depends only on (J, N), so ``torch.compile`` and CUDA graphs see a few fixed shapes.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn
from torch.nn import functional as nnf

from fairhep.model.fast.linear import linear_relu
from fairhep.model.network import InteractionNetwork


def _tail(z: torch.Tensor, second: nn.Linear, third: nn.Linear, fused: bool = False
          ) -> torch.Tensor:
    """``relu(third(relu(second(relu(z)))))`` on first-layer pre-activations ``z`` (a fresh
    tensor, overwritten: an addition's backward does not need its output), any leading dims;
    ``fused``: the linears through oneDNN (:func:`fairhep.model.fast.linear.linear_relu`)."""
    lead = z.shape[:-1]
    z = nnf.relu(z, inplace=True).reshape(-1, z.shape[-1])
    out = linear_relu(linear_relu(z, second, fused), third, fused)
    return out.view(*lead, out.shape[-1])


def _halves(first: nn.Linear, recv: torch.Tensor, send: torch.Tensor
            ) -> tuple[torch.Tensor, torch.Tensor]:
    """Receiver half with the bias (``W_r x + b``) and sender half (``W_s y``) of a first edge
    layer on the edge input ``[x_receiver; y_sender]``."""
    w, n_recv = first.weight, recv.shape[-1]
    return nnf.linear(recv, w[:, :n_recv], first.bias), nnf.linear(send, w[:, n_recv:])


def _offdiag(n: int, like: torch.Tensor) -> torch.Tensor:
    """(n, n) with 0 on the diagonal: r == s is not an edge."""
    return 1.0 - torch.eye(n, dtype=like.dtype, device=like.device)


def _readout(net: InteractionNetwork, x: torch.Tensor, e_pp: torch.Tensor, e_vp: torch.Tensor,
             e_pp_pad: torch.Tensor, e_vp_pad: torch.Tensor, m: torch.Tensor,
             tmask: torch.Tensor | None, fused: bool = False) -> torch.Tensor:
    """f_O over the real tracks (masked by ``tmask`` when given) plus m times f_O of the
    padded track, summed, then the final linear layer: (J, 2) logits."""
    j, n, p = x.shape
    real_in = torch.cat([x, e_pp, e_vp], dim=2).reshape(j * n, p + 2 * net.config.de)
    pad_in = torch.cat([x.new_zeros(j, p), e_pp_pad, e_vp_pad], dim=1)
    o = linear_relu(linear_relu(linear_relu(torch.cat([real_in, pad_in]), net.fo1, fused),
                                net.fo2, fused), net.fo3, fused)
    o_real, o_pad = torch.split(o, [j * n, j])
    o_real = o_real.view(j, n, net.config.do)
    if tmask is not None:
        o_real = o_real * tmask.unsqueeze(2)
    logits: torch.Tensor = net.fc_fixed(o_real.sum(dim=1) + m.unsqueeze(1) * o_pad)
    return logits


def _pair_sums(a: torch.Tensor, c: torch.Tensor, send: torch.Tensor, second: nn.Linear,
               third: nn.Linear, block_edges: int | None, fused: bool = False) -> torch.Tensor:
    """``Σ_s send[r, s] · f_R(a_r + c_s)``: (J, N, D_E), over blocks of jets of about
    ``block_edges`` edges (None: one block), so that each block's edge tensors stay in the
    CPU's cache between the layers."""
    j, n, _ = a.shape
    step = j if block_edges is None else block_edges // max(n * n, 1)
    if step <= 1:  # a jet alone fills the cache: one block, never a loop over jets
        step = j
    sums = []
    for lo in range(0, j, step):
        hi = min(j, lo + step)
        pairs = _tail(a[lo:hi].unsqueeze(2) + c[lo:hi].unsqueeze(1), second, third, fused)
        mask = send[lo:hi] if send.shape[0] > 1 else send
        sums.append((pairs * mask.unsqueeze(3)).sum(dim=2))
    if len(sums) == 1:
        return sums[0]
    return torch.cat(sums) if sums else a.new_zeros(0, n, third.out_features)


def _track_track(net: InteractionNetwork, x: torch.Tensor, m: torch.Tensor,
                 tmask: torch.Tensor | None, block_edges: int | None = None,
                 fused: bool = False) -> tuple[torch.Tensor, torch.Tensor]:
    """Track-track sums: (J, N, D_E) onto each slot's track and (J, D_E) onto a padded one."""
    j, n, _ = x.shape
    a, c = _halves(net.fr1, x, x)  # (J, N, h) each
    h = a.shape[2]
    send = _offdiag(n, x).unsqueeze(0)
    if tmask is not None:
        send = send * tmask.unsqueeze(1)  # only real senders
    e_rr = _pair_sums(a, c, send, net.fr2, net.fr3, block_edges, fused)
    # Padded senders give f_R(a_r) to every receiver; padded receivers get f_R(b + c_s) from
    # each real sender and f_R(b) from each other padded one.
    rows = torch.cat([a.reshape(j * n, h), (c + net.fr1.bias).reshape(j * n, h),
                      net.fr1.bias.unsqueeze(0)])
    f_a, f_bc, f_b = torch.split(_tail(rows, net.fr2, net.fr3, fused), [j * n, j * n, 1])
    f_bc = f_bc.view(j, n, net.config.de)
    if tmask is not None:
        f_bc = f_bc * tmask.unsqueeze(2)
    e_pp = e_rr + m.view(j, 1, 1) * f_a.view(j, n, net.config.de)
    e_pad = f_bc.sum(dim=1) + (m - 1).unsqueeze(1) * f_b
    return e_pp, e_pad


def _track_sv_prefix(net: InteractionNetwork, x: torch.Tensor, y: torch.Tensor,
                     mv: torch.Tensor, prefix: Sequence[int], fused: bool = False
                     ) -> tuple[torch.Tensor, torch.Tensor]:
    """Track-SV sums when jet i has a v-th real SV iff i < prefix[v]: only real pairs."""
    j, n, _ = x.shape
    p, q = _halves(net.fr1_pv, x, y)  # p: (J, N, h) with the bias, q: (J, V, h)
    bias = net.fr1_pv.bias
    h = p.shape[2]
    pair_rows = [(p[:jv] + q[:jv, v].unsqueeze(1)).reshape(jv * n, h)
                 for v, jv in enumerate(prefix)]
    sv_rows = [q[:jv, v] + bias for v, jv in enumerate(prefix)]
    sizes = [r.shape[0] for r in pair_rows] + [j * n] + [r.shape[0] for r in sv_rows] + [1]
    out = _tail(torch.cat([*pair_rows, p.reshape(j * n, h), *sv_rows, bias.unsqueeze(0)]),
                net.fr2_pv, net.fr3_pv, fused)
    parts = torch.split(out, sizes)
    k = len(prefix)
    g_p, g_b = parts[k], parts[-1]
    d = g_b.shape[1]
    e_vp = mv.view(j, 1, 1) * g_p.view(j, n, d)
    e_pad = mv.unsqueeze(1) * g_b
    for v, jv in enumerate(prefix):  # every jv >= 1: a prefix counts jets with a v-th SV
        # Padding keeps the sums out of place (autograd) and in SV order (determinism).
        if n:  # no real tracks: nothing to add (and torch < 2.2 cannot pad a 0-wide axis)
            e_vp = e_vp + nnf.pad(parts[v].view(jv, n, d), (0, 0, 0, 0, 0, j - jv))
        e_pad = e_pad + nnf.pad(parts[k + 1 + v], (0, 0, 0, j - jv))
    return e_vp, e_pad


def _track_sv_masked(net: InteractionNetwork, x: torch.Tensor, y: torch.Tensor,
                     mv: torch.Tensor, smask: torch.Tensor, fused: bool = False
                     ) -> tuple[torch.Tensor, torch.Tensor]:
    """Track-SV sums over all SV slots, the padded ones masked out (fixed shapes)."""
    j, n, _ = x.shape
    nv = y.shape[1]
    p, q = _halves(net.fr1_pv, x, y)
    bias = net.fr1_pv.bias
    h = p.shape[2]
    pairs = _tail(p.unsqueeze(2) + q.unsqueeze(1), net.fr2_pv, net.fr3_pv, fused)  # (J,N,V,D_E)
    e_tv = (pairs * smask.view(j, 1, nv, 1)).sum(dim=2)
    rows = torch.cat([p.reshape(j * n, h), (q + bias).reshape(j * nv, h), bias.unsqueeze(0)])
    g_p, g_bq, g_b = torch.split(_tail(rows, net.fr2_pv, net.fr3_pv, fused),
                                 [j * n, j * nv, 1])
    e_vp = e_tv + mv.view(j, 1, 1) * g_p.view(j, n, net.config.de)
    e_sv = (g_bq.view(j, nv, net.config.de) * smask.unsqueeze(2)).sum(dim=1)
    e_pad = e_sv + mv.unsqueeze(1) * g_b
    return e_vp, e_pad


def exact_chunk(net: InteractionNetwork, x: torch.Tensor, y: torch.Tensor, m: torch.Tensor,
                mv: torch.Tensor, sv_prefix: Sequence[int], block_edges: int | None = None,
                fused: bool = False) -> torch.Tensor:
    """Logits (J, 2) of J jets with exactly N real tracks each.

    x: (J, N, P) the real tracks; y: (J, V, S) SVs, real ones first, jets by descending SV
    count (``sv_prefix[v]`` = jets with more than v real SVs); m, mv: (J,) padded track and
    SV counts among the network's slots; ``fused``: the MLPs' linears through oneDNN."""
    e_pp, e_pp_pad = _track_track(net, x, m, None, block_edges, fused)
    e_vp, e_vp_pad = _track_sv_prefix(net, x, y, mv, sv_prefix, fused)
    return _readout(net, x, e_pp, e_vp, e_pp_pad, e_vp_pad, m, None, fused)


def masked_chunk(net: InteractionNetwork, x: torch.Tensor, y: torch.Tensor, m: torch.Tensor,
                 mv: torch.Tensor, tmask: torch.Tensor, smask: torch.Tensor,
                 fused: bool = False) -> torch.Tensor:
    """Logits (J, 2) of J jets with at most N real tracks (fixed shapes for compilation).

    x: (J, N, P), real tracks first and zeros after; y: (J, N_v, S), real SVs first;
    tmask (J, N), smask (J, N_v): 1 on real slots; m, mv: padded counts among the network's
    slots (the bucket's zero slots are padded tracks too)."""
    e_pp, e_pp_pad = _track_track(net, x, m, tmask, fused=fused)
    e_vp, e_vp_pad = _track_sv_masked(net, x, y, mv, smask, fused)
    return _readout(net, x, e_pp, e_vp, e_pp_pad, e_vp_pad, m, tmask, fused)
