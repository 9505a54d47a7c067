"""Generator v1 (`fairhep data synth --generator v1`): the first embedded default, kept so that
earlier records stay reproducible byte for byte.

The generator is a small, vectorised caricature of a boosted AK8 jet, built so that the
features the interaction network sees carry the same *kind* of information as in the CMS
ntuples (all values in the units of :mod:`fairhep.schema`):

* **Two-prong structure.** Each jet has two subjet axes separated by
  ``dR12 = m / (pT sqrt(z (1 - z)))``. H->bb: ``m ~ N(125, 10) GeV`` and a balanced momentum
  share ``z ~ U(0.15, 0.5)``; QCD: a falling mass spectrum and mostly soft splittings
  (``z = 0.5 u^2``), i.e. one dominant prong. Tracks cluster around the subjet they come
  from (spread ~ hadron mass / subjet momentum), 10 % are wide-angle.
* **Displacement.** Every b (c) hadron gives 2 + Poisson(2.5) (1 + Poisson(1.5)) tracks whose
  impact parameter is ~ c*tau (450 um for b, 150 um for c), lifetime-signed, smeared by a
  pT-dependent resolution; prompt tracks have IP = resolution only (with 3 % non-Gaussian
  tails and 2 % long-lived V0/material tracks in both classes). A reconstructed b (c) hadron
  also gives a secondary vertex (efficiency 75 % / 45 %) with boosted flight distance,
  mass up to ~5 GeV, 2-6 tracks and a large fraction of the subjet pT. Both classes get
  Poisson(0.3) fake vertices: light, low-pT, little displaced, poorly pointing.
* **Flavour content.** H->bb: both subjets hold a b hadron. QCD: 82 % light, 6 % charm,
  6 % single b, 6 % g->bb (both subjets b, but with QCD kinematics).
* **Layout.** Tracks sorted by descending 2-D IP significance (the ntupliser's order), SVs by
  descending dxy significance; cut at 60 / 5 and zero-padded; classes balanced (half of
  each in every block of jets, order shuffled).
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

from fairhep import schema
from fairhep.data import jagged
from fairhep.data.arrays import Float32Array
from fairhep.data.load import JetArrays
from fairhep.data.synth_options import DEFAULT_DIFFICULTY

VERSION = "3"  # bump whenever the same seed gives different bytes

# Jet radius (AK8): tracks and vertices live within it.
_JET_R = 0.8
# Proper decay lengths c*tau (cm) and hadron masses (GeV) of b and c hadrons.
_CTAU = {"b": 0.045, "c": 0.015}
_HADRON_MASS = {"b": 5.3, "c": 1.9}

_Shape = int | tuple[int, ...]
# A per-jet (or per-vertex) quantity before stacking into float32: counts are integers.
_Column = npt.NDArray[np.float32 | np.signedinteger]


def _disk(rng: np.random.Generator, shape: _Shape, radius: float
          ) -> tuple[Float32Array, Float32Array]:
    """Points uniform in a disk of ``radius`` around the jet axis."""
    r = radius * np.sqrt(rng.random(shape, dtype=np.float32))
    a = np.float32(2 * np.pi) * rng.random(shape, dtype=np.float32)
    return r * np.cos(a), r * np.sin(a)


def generate_jets(n: int, rng: np.random.Generator,
                  difficulty: float = DEFAULT_DIFFICULTY,
                  buffer: Float32Array | None = None) -> JetArrays:
    """``n`` jets (balanced classes, shuffled) in the network's layout, with spectators (N, 11).

    With ``buffer`` (float32, >= n * 30 * 60 elements) the tracks are written into it, so the
    returned tracks are overwritten by the next call that passes the same buffer.
    """
    f32 = np.float32  # float64 would double the cost of every array

    def normal(size: _Shape) -> Float32Array:
        return rng.standard_normal(size, dtype=f32)

    def expo(size: _Shape) -> Float32Array:
        return rng.standard_exponential(size, dtype=f32)

    def unif(size: _Shape) -> Float32Array:
        return rng.random(size, dtype=f32)

    labels = rng.permutation(np.arange(n) >= n // 2).astype(np.int64)
    higgs = (labels == schema.HBB) ^ (unif(n) < difficulty)  # the physics each jet is made of

    # ---- jet kinematics and the two prongs --------------------------------------------
    pt = f32(300) + f32(200) * expo(n)
    eta = f32(4) * unif(n) - f32(2)
    mass = np.where(higgs, 125 + 10 * normal(n), 15 + 60 * expo(n)).clip(5, 400).astype(f32)
    u = unif(n)
    z = np.where(higgs, 0.15 + 0.35 * u, np.maximum(0.5 * u * u, 0.02)).astype(f32)
    dr12 = np.clip(mass / (pt * np.sqrt(z * (1 - z))), 0.05, 0.75)
    phi12 = f32(2 * np.pi) * unif(n)
    ux, uy = np.cos(phi12), np.sin(phi12)
    sj = np.stack([-z * dr12 * ux, -z * dr12 * uy, (1 - z) * dr12 * ux, (1 - z) * dr12 * uy])
    psub = np.stack([pt * (1 - z), pt * z])  # subjet momenta (GeV)

    # Flavour per subjet: 0 light, 1 charm, 2 bottom.
    cat = unif(n)
    fl1 = np.where(higgs, 2, np.where(cat < 0.06, 1, np.where(cat < 0.18, 2, 0)))
    fl2 = np.where(higgs | ((cat >= 0.12) & (cat < 0.18)), 2, 0)
    flav = np.stack([fl1, fl2])  # (2, n)
    ctau = np.choose(flav, [f32(0), f32(_CTAU["c"]), f32(_CTAU["b"])]).astype(f32)
    hmass = np.choose(flav, [f32(1), f32(_HADRON_MASS["c"]), f32(_HADRON_MASS["b"])]).astype(f32)

    # ---- secondary vertices: slots 0/1 = the subjets' hadrons, 2..5 = fakes ------------
    n_cand = 6
    eff = np.choose(flav, [0.0, 0.45, 0.75])
    n_fake = np.minimum(rng.poisson(0.3, n), n_cand - 2)
    valid_sv = np.concatenate([
        (unif((2, n)) < eff).T,
        np.arange(n_cand - 2)[None, :] < n_fake[:, None],
    ], axis=1)  # (n, 6)
    fake_x, fake_y = _disk(rng, (n, n_cand - 2), 0.6)
    sv_x = np.concatenate([(sj[[0, 2]] + 0.015 * normal((2, n))).T, fake_x], axis=1)
    sv_y = np.concatenate([(sj[[1, 3]] + 0.015 * normal((2, n))).T, fake_y], axis=1)
    is_b = np.concatenate([(flav == 2).T, np.zeros((n, n_cand - 2), bool)], axis=1)
    is_true = np.concatenate([np.ones((n, 2), bool), np.zeros((n, n_cand - 2), bool)], axis=1)
    p_had = (psub * (0.55 + 0.3 * unif((2, n)))).T  # hadron momentum (GeV)
    gamma = p_had / hmass.T
    flight = np.concatenate([gamma * ctau.T * expo((n, 2)),
                             0.05 * expo((n, n_cand - 2))], axis=1)  # 3-D flight (cm)
    cosh_eta = np.cosh(eta)[:, None]
    sv_dxy_true = flight / cosh_eta
    sv_sig_dxy = 0.002 + 0.01 * unif((n, n_cand)) + 0.02 * sv_dxy_true
    sv_dxy = np.abs(sv_dxy_true + sv_sig_dxy * normal((n, n_cand)))
    sv_dxysig = sv_dxy / sv_sig_dxy
    sv_d3d = sv_dxy * cosh_eta
    sv_d3dsig = sv_d3d / (1.3 * sv_sig_dxy * cosh_eta)
    sv_pt = np.concatenate([p_had * (0.4 + 0.4 * unif((n, 2))),
                            2 + 15 * unif((n, n_cand - 2))], axis=1)
    u_m = unif((n, n_cand))
    sv_mass = np.where(is_b, 1.0 + 3.8 * u_m ** 0.8,
                       np.where(is_true, 0.6 + 1.2 * u_m, 0.3 + 0.9 * u_m))
    sv_ntracks = 2 + rng.poisson(np.where(is_b, 1.8, np.where(is_true, 0.6, 0.2)))
    sv_cos = 1 - np.where(is_true, f32(1e-4), f32(2e-2)) * expo((n, n_cand))
    sv_eta_rel, sv_phi_rel = sv_x, sv_y
    sv_dr = np.hypot(sv_x, sv_y)
    sv_ptrel = sv_pt / pt[:, None]
    sv_feats: dict[str, _Column] = {
        "sv_ptrel": sv_ptrel,
        "sv_erel": sv_ptrel * np.cosh(eta[:, None] + sv_eta_rel) / cosh_eta,
        "sv_phirel": sv_phi_rel,
        "sv_etarel": sv_eta_rel,
        "sv_deltaR": sv_dr,
        "sv_pt": sv_pt,
        "sv_mass": sv_mass,
        "sv_ntracks": sv_ntracks,
        "sv_normchi2": 0.5 * rng.standard_gamma(2.0, (n, n_cand), dtype=f32),
        "sv_dxy": sv_dxy,
        "sv_dxysig": sv_dxysig,
        "sv_d3d": sv_d3d,
        "sv_d3dsig": sv_d3dsig,
        "sv_costhetasvpv": sv_cos,
    }
    # Keep the N_SVS most significant valid vertices (the ntupliser's order).
    order = np.argsort(np.where(valid_sv, -sv_dxysig, np.inf), axis=1, kind="stable")
    order = order[:, : schema.N_SVS]
    keep_sv = np.take_along_axis(valid_sv, order, axis=1)
    candidates = np.stack([sv_feats[name] for name in schema.SV_FEATURES], axis=1, dtype=f32)
    svs = np.take_along_axis(candidates, order[:, None, :], axis=2)  # (n, 14, 5)
    svs = np.where(keep_sv[:, None, :], svs, f32(0))  # exact zeros, never -0.0
    kept_x = np.where(keep_sv, np.take_along_axis(sv_x, order, axis=1), np.inf)
    kept_y = np.where(keep_sv, np.take_along_axis(sv_y, order, axis=1), np.inf)

    # ---- tracks, generated flat (one row per track) then sorted and padded --------------
    n_decay = np.where(flav == 2, 2 + rng.poisson(2.5, (2, n)),
                       np.where(flav == 1, 1 + rng.poisson(1.5, (2, n)), 0))
    # b-hadron decay products replace part of the fragmentation: H->bb jets get only a few
    # more tracks than QCD, not twice as many.
    n_prompt = rng.poisson(np.maximum(12 + pt / 100 - 0.6 * n_decay.sum(axis=0), 2))
    n_true = n_decay.sum(axis=0) + n_prompt
    m = int(n_true.sum())
    jet, k = jagged.positions(n_true)
    d1 = k < n_decay[0][jet]
    d2 = ~d1 & (k < (n_decay[0] + n_decay[1])[jet])
    decay = d1 | d2
    r = unif(m)
    zj = z[jet]
    on2 = d2 | (~decay & (r < 0.9 * zj))
    wide = ~decay & (r >= 0.9)
    axis_x = np.where(on2, sj[2][jet], sj[0][jet])
    axis_y = np.where(on2, sj[3][jet], sj[1][jet])
    p_on = np.where(on2, psub[1][jet], psub[0][jet])
    h_on = np.where(on2, hmass[1][jet], hmass[0][jet])
    spread = np.where(decay, np.clip(h_on / p_on, 0.01, 0.3), np.clip(8 / p_on, 0.02, 0.25))
    wx, wy = _disk(rng, m, _JET_R)
    dx = np.where(wide, wx, axis_x + spread * normal(m))
    dy = np.where(wide, wy, axis_y + spread * normal(m))
    dr = np.hypot(dx, dy)
    shrink = np.minimum(1, (_JET_R - 0.01) / np.maximum(dr, 1e-6))
    dx, dy, dr = dx * shrink, dy * shrink, dr * shrink

    # Momentum shared within each (jet, subjet) group; decay products are harder.
    w = expo(m) ** 1.5 * np.where(decay, f32(2.5), f32(1)) * np.where(wide, f32(0.3), f32(1))
    w += f32(1e-3)
    group = 2 * jet + on2
    wsum = np.bincount(group, weights=w, minlength=2 * n).astype(f32)
    share = np.where(on2, zj, 1 - zj)
    ptrel = 0.6 * share * w / wsum[group]
    pt_t = ptrel * pt[jet]
    eta_j = eta[jet]
    cosh_t = np.cosh(eta_j + dx)
    erel = ptrel * cosh_t / np.cosh(eta_j)

    # Impact parameters: lifetime-signed displacement for decay products, resolution for all.
    ct = np.where(d1, ctau[0][jet], np.where(d2, ctau[1][jet], 0))
    v0 = ~decay & (unif(m) < 0.02)
    d0_true = np.where(v0, 0.2 * expo(m), ct * expo(m) * (0.3 + unif(m)))
    life_sign = np.where(decay & (unif(m) < 0.95), 1, np.sign(normal(m)))
    sig_d0 = np.sqrt(0.002 ** 2 + (0.009 / np.maximum(pt_t, 0.3)) ** 2)
    tails = np.where(unif(m) < 0.03, f32(3), f32(1))
    ip2d = life_sign * d0_true + sig_d0 * tails * normal(m)
    geo_sign = np.sign(normal(m))  # the beam-line sign is unrelated to the lifetime sign
    sig_dz = 1.4 * sig_d0 * np.sqrt(cosh_t)
    dz = geo_sign * d0_true * (0.5 + unif(m)) + sig_dz * tails * normal(m)
    sig_3d = np.hypot(sig_d0, sig_dz)
    ip3d = np.sign(ip2d) * np.hypot(ip2d, dz)
    theta = np.maximum(dr, 1e-3)
    rho = 0.6 * unif((3, m)) - 0.3
    sig_pt = pt_t * (0.01 + 0.0005 * pt_t)
    sig_ang = 0.0005 + 0.002 / np.maximum(pt_t, 0.3)

    dr_sv = np.full(m, _JET_R, f32)  # the jet radius when the jet has no vertex
    for j in range(schema.N_SVS):
        has = keep_sv[:, j]
        if has.any():
            dr_sv = np.minimum(dr_sv, np.hypot(dx - kept_x[:, j][jet], dy - kept_y[:, j][jet]))

    track_feats: dict[str, Float32Array] = {
        "track_ptrel": ptrel,
        "track_erel": erel,
        "track_phirel": dy,
        "track_etarel": dx,
        "track_deltaR": dr,
        "track_drminsv": dr_sv,
        "track_drsubjet1": np.hypot(dx - sj[0][jet], dy - sj[1][jet]),
        "track_drsubjet2": np.hypot(dx - sj[2][jet], dy - sj[3][jet]),
        "track_dz": dz,
        "track_dzsig": dz / sig_dz,
        "track_dxy": geo_sign * ip2d,
        "track_dxysig": geo_sign * ip2d / (1.05 * sig_d0),
        "track_normchi2": 0.5 * rng.standard_gamma(2.0, m, dtype=f32),
        # Quality bit mask (1 loose, 2 tight, 4 high purity): mostly high purity.
        "track_quality": np.where(unif(m) < 0.9, f32(7), f32(1)),
        "track_dptdpt": sig_pt ** 2,
        "track_detadeta": sig_ang ** 2,
        "track_dphidphi": sig_ang ** 2,
        "track_dxydxy": sig_d0 ** 2,
        "track_dzdz": sig_dz ** 2,
        "track_dxydz": rho[0] * sig_d0 * sig_dz,
        "track_dphidxy": rho[1] * sig_ang * sig_d0,
        "track_dlambdadz": rho[2] * sig_ang * sig_dz,
        "trackBTag_EtaRel": -np.log(np.tan(theta / 2)),
        "trackBTag_PtRatio": np.sin(theta),
        "trackBTag_PParRatio": np.cos(theta),
        "trackBTag_Sip2dVal": ip2d,
        "trackBTag_Sip2dSig": ip2d / sig_d0,
        "trackBTag_Sip3dVal": ip3d,
        "trackBTag_Sip3dSig": ip3d / sig_3d,
        "trackBTag_JetDistVal": -np.abs(0.002 * normal(m)) - 0.2 * d0_true * unif(m),
    }

    assert all(v.dtype == f32 for v in track_feats.values()), "float64 doubles the cost"
    # Sort each jet's tracks by descending Sip2dSig: the integer part of the key is the jet,
    # the fraction decreases with the significance (float64 keeps them apart).
    sig = track_feats["trackBTag_Sip2dSig"].astype(np.float64)
    order_t = np.argsort(jet + (0.5 - np.arctan(sig) / np.pi))
    slot = np.empty(m, np.int64)
    slot[order_t] = k  # the sorted position of each track within its jet
    tracks = jagged.pad([track_feats[name] for name in schema.TRACK_FEATURES], jet, slot, n,
                        schema.N_TRACKS, out=buffer)

    sig_rows = tracks[:, schema.TRACK_FEATURES.index("trackBTag_Sip2dSig"), :2]
    spec: dict[str, _Column] = {
        "fj_pt": pt,
        "fj_eta": eta,
        "fj_sdmass": np.maximum(mass * (1 + 0.05 * normal(n)), 0),
        "fj_n_sdsubjets": 1 + (z > 0.1),
        "fj_doubleb": np.tanh(0.04 * np.clip(sig_rows.sum(axis=1), -50, 200) - 0.8
                              + 0.2 * normal(n)),
        "fj_tau21": np.clip(0.75 - 0.8 * z + 0.08 * normal(n), 0.05, 1),
        "fj_tau32": np.clip(0.7 + 0.1 * normal(n), 0.1, 1),
        "npv": 1 + rng.poisson(22, n),
        "npfcands": n_true + rng.poisson(0.8 * n_true + 5),
        "ntracks": n_true,
        "nsv": valid_sv.sum(axis=1),
    }
    spectators = np.stack([spec[name] for name in schema.SPECTATORS], axis=1).astype(f32)
    return JetArrays(tracks, svs, labels, spectators)
