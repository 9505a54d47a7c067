"""Hadron decays into charged pions with four-momentum conserved (generator v2).

In the hadron's rest frame the charged pions get isotropic directions and Gamma-shared
momenta; where the decay has a neutral part (pi0s, neutrinos, K0L) one massless neutral
system recoils against them. All momenta are then scaled so that the energies add up to
exactly the hadron's mass, and the products are boosted along its flight. Hence the charged
products' invariant mass - what a secondary vertex of them can weigh - never exceeds the
hadron's mass, and a two-body decay without a neutral part (K0S -> pi+ pi-) has exactly the
two-body momentum. The numbers (masses, the share shape) come from the caller, which reads
them from :mod:`fairhep.data.jetphysics`.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

from fairhep.data import jagged

F = npt.NDArray[np.float64]
Ix = npt.NDArray[np.int64]

_BISECTIONS = 50  # halvings of the momentum scale: far below float64 resolution of the mass


def _group_sum(values: F, group: Ix, n: int) -> F:
    return np.bincount(group, weights=values, minlength=n).astype(np.float64)


def decay_in_flight(g: np.random.Generator, p_had: F, mass: float, nch: Ix, neutral: bool,
                    pion_mass: float, share_shape: float) -> tuple[Ix, F, F, F]:
    """Charged products of hadrons with momenta ``p_had`` (one row per hadron, ``nch`` pions
    each, at most as many as the mass allows). Returns, per product, its hadron's row, its
    momentum, its angle to the hadron's flight and its azimuth around it."""
    nh = len(p_had)
    nch = np.minimum(nch, int(mass / pion_mass) - 1)  # phase space closes beyond that many
    h, _ = jagged.positions(nch)
    m = len(h)
    cos_t = 2 * g.random(m) - 1
    az = 2 * np.pi * g.random(m)
    sin_t = np.sqrt(1 - cos_t ** 2)
    v = g.gamma(share_shape, 1.0, m) * np.stack(
        [sin_t * np.cos(az), sin_t * np.sin(az), cos_t])
    tot = np.stack([_group_sum(c, h, nh) for c in v])
    if neutral:
        recoil = np.sqrt((tot ** 2).sum(axis=0))
    else:  # the charged products alone balance: back to back for two bodies
        v = v - tot[:, h] / nch[h]
        recoil = np.zeros(nh)
    q = np.sqrt((v ** 2).sum(axis=0))
    # Scale the rest-frame momenta by lam so that the energies add up to the hadron mass:
    # sum_i sqrt(lam^2 q_i^2 + m_pi^2) + lam |recoil| = M, increasing in lam (bisection).
    lo, hi = np.zeros(nh), mass / np.maximum(_group_sum(q, h, nh) + recoil, 1e-12)
    for _ in range(_BISECTIONS):
        mid = 0.5 * (lo + hi)
        e_sum = _group_sum(np.sqrt((mid[h] * q) ** 2 + pion_mass ** 2), h, nh) + mid * recoil
        below = e_sum < mass
        lo, hi = np.where(below, mid, lo), np.where(below, hi, mid)
    ps = 0.5 * (lo + hi)[h] * v
    e_star = np.sqrt((ps ** 2).sum(axis=0) + pion_mass ** 2)
    gamma, beta_gamma = np.sqrt(p_had ** 2 + mass ** 2) / mass, p_had / mass
    p_par = gamma[h] * ps[2] + beta_gamma[h] * e_star  # along the hadron's flight
    p_perp = np.hypot(ps[0], ps[1])
    return (h, np.hypot(p_par, p_perp), np.arctan2(p_perp, p_par),
            np.arctan2(ps[1], ps[0]))
