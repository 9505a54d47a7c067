"""Generator v2: H->bb and QCD AK8 jets built particle by particle, feature by feature as the
CMS ntupliser defines them.

Every number comes from :mod:`fairhep.data.jetphysics` (value, unit, source); this module
holds only the physics and geometry that turn them into the 30 track and 14 SV features:

* **Jets** in the dataset's selection (pT 300-2000 GeV, |eta| < 2.4, soft-drop mass 40-200
  GeV): two soft-drop prongs with momentum sharing z >= z_cut, opening angle
  m / (pT sqrt(z (1 - z))). H->bb: m at the Higgs mass, z flat, both prongs b. QCD: falling
  mass, z ~ 1/z (splitting function), flavour light quark/gluon, b, g->bb, c, g->cc.
* **Particles.** Fragmentation tracks per prong from the measured charged multiplicity
  (E^0.25 growth, gluon/quark ratio 1.5) with a hump-backed xi = ln(1/x) spectrum, sharing the
  charged energy fraction, at angles kT/p (plus perturbative wide-angle emissions). A b (c)
  prong holds a weakly decaying hadron with energy fraction x_B (x_D) whose charged decay
  products (cascade included) fly out from its decay point, L = (p/m) c tau Exp(1). K0S
  decays give displaced pion pairs in every jet. Tracks keep pT > 0.95 GeV.
* **Track features** by straight-line geometry from the true vertex and the jet axis: dxy and
  dz with the PackedCandidate's geometric sign, Sip2d/Sip3d with the lifetime sign (the point
  of closest approach projected on the jet axis), JetDistVal (track-to-jet-axis distance),
  EtaRel/PtRatio/PParRatio from the angle to the jet axis; resolutions from the CMS tracker
  (multiple-scattering and constant terms) with non-Gaussian tails; the covariance elements
  in the reco::TrackBase (q/p, lambda, phi, dxy, dsz) parametrisation, so ``track_dptdpt`` is
  sigma^2(q/p) in GeV^-2 (~1e-6), not sigma^2(pT); chi2/ndof floored (uint8 in MiniAOD);
  quality mask 1 (loose) or 5 (loose + highPurity).
* **SVs** as the inclusive vertex finder makes them: the displaced tracks of one decay chain
  that pass its seed cuts form a vertex when there are at least two; mass, pT and direction
  from their four-momenta (pion mass), flight distance with a resolution set by the opening
  angle, kept when its 2-D flight significance and pointing pass IVF's cuts, within Delta R
  0.8 of the jet. ``track_drminsv`` and ``sv_deltaR`` as the 80X DeepDoubleB ntuples (the
  IN's training data) store them: min(0.8, Delta R to the nearest SV of the event) - 0.8,
  and Delta R(SV, jet) - 0.5 capped at 0.
* **Decays** conserve four-momentum (:mod:`fairhep.data.decays`), so an SV's mass never
  exceeds its hadron's; ``trackBTag_EtaRel`` is reco::btau::etaRel, the rapidity along the
  jet axis with the pion mass. Small angles in space map to Delta R = angle x cosh(eta).
* **Layout**: tracks sorted by descending Sip2dSig, SVs by descending dxy significance, cut
  at 60 / 5, zero-padded; classes balanced per block.

Realism is measured with `fairhep data realism` (a model trained on real jets as an
instrument); the generator is never tuned against that score.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

from fairhep import schema
from fairhep.data import jagged
from fairhep.data.arrays import Float32Array, Int64Array
from fairhep.data.decays import decay_in_flight
from fairhep.data.jetphysics import value as P
from fairhep.data.load import JetArrays

F = npt.NDArray[np.float64]
Ix = npt.NDArray[np.int64]
B = npt.NDArray[np.bool_]

VERSION = "3"  # bump whenever the same seed gives different bytes
# Flavour of a prong: light quark, charm, bottom, gluon.
LIGHT, CHARM, BOTTOM, GLUON = 0, 1, 2, 3


class _Rng:
    """float64 draws (features are stored as float32 at the end)."""

    def __init__(self, rng: np.random.Generator) -> None:
        self.g = rng

    def u(self, size: int | tuple[int, ...]) -> F:
        return self.g.random(size)

    def n(self, size: int | tuple[int, ...]) -> F:
        return self.g.standard_normal(size)

    def e(self, size: int | tuple[int, ...]) -> F:
        return self.g.standard_exponential(size)


def _power_law(r: _Rng, n: int, index: F, lo: float, hi: float) -> F:
    """pT ~ pT^-index on [lo, hi] by inverting its CDF."""
    a = 1.0 - index
    u = r.u(n)
    return np.asarray((lo ** a + u * (hi ** a - lo ** a)) ** (1.0 / a))


def _beta_mean(r: _Rng, mean: float, size: int) -> F:
    s = P("x_beta_sum")
    return r.g.beta(mean * s, (1 - mean) * s, size)


def _jet_kinematics(r: _Rng, higgs: B) -> tuple[F, F, F, F]:
    """pT, eta, soft-drop mass and the groomed momentum sharing z of each jet."""
    n = len(higgs)
    pt = _power_law(r, n, np.where(higgs, P("hbb_pt_index"), P("qcd_pt_index")),
                    P("pt_min"), P("pt_max"))
    eta = np.clip(P("eta_sigma") * r.n(n), -P("abs_eta_max"), P("abs_eta_max"))
    lo, hi = P("msd_min"), P("msd_max")
    # H->bb: Gaussian peak with a low tail; QCD: exponential fall, both inside the selection.
    peak = P("higgs_mass") * (1 + P("hbb_msd_resolution") * r.n(n))
    tail = lo + (P("higgs_mass") - lo) * r.u(n)
    m_h = np.where(r.u(n) < P("hbb_msd_low_tail"), tail, peak)
    slope = P("qcd_msd_slope")
    m_q = lo - slope * np.log1p(-r.u(n) * (1 - np.exp(-(hi - lo) / slope)))
    mass = np.clip(np.where(higgs, m_h, m_q), lo, hi)
    zc = P("sd_zcut")
    z = np.where(higgs, zc + (0.5 - zc) * r.u(n), zc * (0.5 / zc) ** r.u(n))
    # Both prongs inside the jet: z (1 - z) >= (m / (pT R))^2, else the jet is more balanced.
    need = np.minimum((mass / (pt * P("jet_r") * P("prong_containment"))) ** 2, 0.25)
    z = np.maximum(z, 0.5 - np.sqrt(0.25 - need))
    return pt, eta, mass, z


def _flavours(r: _Rng, higgs: B) -> tuple[Ix, Ix]:
    """Flavour of the harder and the softer prong."""
    n = len(higgs)
    u = r.u(n)
    edges = np.cumsum([P("qcd_frac_b"), P("qcd_frac_bb"), P("qcd_frac_c"), P("qcd_frac_cc")])
    cat = np.searchsorted(edges, u)  # 0 b, 1 bb, 2 c, 3 cc, 4 light
    quark = r.u(n) < P("qcd_quark_frac")
    f1 = np.choose(cat, [BOTTOM, BOTTOM, CHARM, CHARM, np.where(quark, LIGHT, GLUON)])
    f2 = np.choose(cat, [GLUON, BOTTOM, GLUON, CHARM, np.full(n, GLUON)])
    return (np.where(higgs, BOTTOM, f1).astype(np.int64),
            np.where(higgs, BOTTOM, f2).astype(np.int64))


def _unit(eta: F, phi: F) -> F:
    """Unit vectors (3, ...) of directions given by pseudorapidity and azimuth."""
    ch = np.cosh(eta)
    return np.stack([np.cos(phi) / ch, np.sin(phi) / ch, np.tanh(eta)])


def _group_sum(values: F, group: Ix, n: int) -> F:
    return np.bincount(group, weights=values, minlength=n).astype(np.float64)


class _Tracks:
    """Flat per-track arrays, appended source by source; decay chains numbered as added."""

    def __init__(self) -> None:
        self.cols: dict[str, list[F | Ix]] = {k: [] for k in (
            "jet", "p", "deta", "dphi", "chain", "L", "veta", "vphi")}
        self.n_chains = 0

    def add(self, **cols: F | Ix) -> None:
        for k, v in cols.items():
            self.cols[k].append(v)

    def get(self) -> dict[str, F]:
        return {k: np.concatenate(v) for k, v in self.cols.items()}


def _scatter(r: _Rng, deta: F, dphi: F, theta: F) -> tuple[F, F]:
    """Move directions by ``theta`` in the (eta, phi) plane, at a random azimuth. A small
    angle t in space at pseudorapidity eta spans Delta R = t cosh(eta) (d eta = d theta /
    sin theta, d phi likewise), so callers pass kT / pT, not kT / p."""
    a = 2 * np.pi * r.u(len(theta))
    return deta + theta * np.cos(a), dphi + theta * np.sin(a)


def _fragmentation(r: _Rng, out: _Tracks, jet: Ix, p_frag: F, gluon: B,
                   axis_eta: F, axis_phi: F, eta0: F) -> None:
    """Prompt charged hadrons of prongs (one row per prong; ``eta0`` the jet's pseudorapidity,
    the axes relative to it) and the K0S among them."""
    e_ratio = np.maximum(p_frag, 1.0) / P("nch_ref_energy")
    nch = (P("nch_quark_45") * e_ratio ** P("nch_energy_power")
           * np.where(gluon, P("nch_gluon_ratio"), 1.0))
    count = r.g.poisson(nch * P("tracking_eff"))
    grp, _ = jagged.positions(count)
    m = len(grp)
    xi_peak = 0.5 * np.log(np.maximum(p_frag, 1.0) / P("xi_scale")) + P("xi_peak_offset")
    x = np.exp(-(xi_peak[grp] + P("xi_width") * r.n(m)))
    share = x / _group_sum(x, grp, len(count))[grp]
    p = share * P("charged_energy_frac") * p_frag[grp]
    ch = np.cosh(eta0[grp] + axis_eta[grp])
    soft = r.g.gamma(P("kt_shape"), P("kt_soft") / P("kt_shape"), m) / (p / ch)  # kT / pT
    lo, hi = np.log(P("wide_angle_min")), np.log(P("jet_r"))
    wide = np.exp(lo + (hi - lo) * r.u(m))
    theta = np.where(r.u(m) < P("wide_angle_frac"), wide, soft)
    de, dp = _scatter(r, axis_eta[grp], axis_phi[grp], theta)
    # Some of these hadrons are K0S -> pi+ pi-: the displaced pair replaces the hadron.
    v0 = r.u(m) < P("k0s_per_charged") * P("k0s_to_pipi")
    prompt = ~v0
    k = int(prompt.sum())
    out.add(jet=jet[grp][prompt], p=p[prompt], deta=de[prompt], dphi=dp[prompt],
            chain=np.full(k, -1), L=np.zeros(k), veta=de[prompt], vphi=dp[prompt])
    _decays(r, out, jet[grp][v0], p[v0], de[v0], dp[v0], eta0[grp][v0], P("k0s_mass"),
            P("k0s_ctau"), np.full(int(v0.sum()), 2), neutral=False, v0=True)


def _decays(r: _Rng, out: _Tracks, jet: Ix, p_had: F, eta: F, phi: F, eta0: F, mass: float,
            ctau: float, nch: Ix, neutral: bool, v0: bool = False,
            cascade: tuple[float, float, float] | None = None) -> None:
    """Charged decay products of hadrons (one row per hadron) that fly L = (p/m) c tau Exp(1)
    before decaying, with four-momentum conserved (:func:`decays.decay_in_flight`; where
    ``neutral``, a neutral system recoils against the charged pions). ``eta``, ``phi``: the
    hadron's direction relative to its jet at ``eta0``.
    ``cascade`` (fraction of tracks, momentum fraction, c tau) moves that fraction of
    the tracks further along by the c hadron's own flight. ``v0``: reconstructed only when
    it decays inside the tracker."""
    nh = len(jet)
    if nh == 0:
        return
    base = out.n_chains
    out.n_chains += nh
    flight = p_had / mass * ctau * r.e(nh)
    h, p, theta, turn = decay_in_flight(r.g, p_had, mass, nch, neutral, P("pion_mass"),
                                        P("decay_share_shape"))
    m = len(h)
    spread = theta * np.cosh(eta0 + eta)[h]  # Delta R of a small angle in space
    de, dp = eta[h] + spread * np.cos(turn), phi[h] + spread * np.sin(turn)
    L = flight[h]
    if cascade is not None:
        frac, pfrac, c_tau = cascade
        L = L + (r.u(m) < frac) * (pfrac * p_had[h] / P("c_mass") * c_tau * r.e(m))
    # Products thrown backwards, or more than pi away in (eta, phi), are far outside the jet
    # (and beyond where the small-angle map to Delta R holds).
    keep = (theta < np.pi / 2) & (spread < np.pi)
    if v0:
        radius = flight / np.cosh(eta0 + eta)
        keep &= (r.u(nh) > radius / P("v0_max_radius"))[h]
    out.add(jet=jet[h][keep], p=p[keep], deta=de[keep], dphi=dp[keep],
            chain=(base + h)[keep], L=L[keep], veta=eta[h][keep], vphi=phi[h][keep])


def _prongs(r: _Rng, out: _Tracks, pt: F, eta: F, z: F, mass: F, flav: tuple[Ix, Ix]
            ) -> tuple[F, F]:
    """Both prongs' particles; returns the prong axes (2, n) in eta and phi w.r.t. the jet."""
    n = len(pt)
    dr12 = np.minimum(mass / (pt * np.sqrt(z * (1 - z))), P("jet_r"))
    a = 2 * np.pi * r.u(n)
    # The pT-weighted centroid of the prongs is the jet axis.
    ax_eta = np.stack([-z * dr12 * np.cos(a), (1 - z) * dr12 * np.cos(a)])
    ax_phi = np.stack([-z * dr12 * np.sin(a), (1 - z) * dr12 * np.sin(a)])
    jet = np.arange(n)
    for i, (share, f) in enumerate((((1 - z), flav[0]), (z, flav[1]))):
        p_prong = share * pt * np.cosh(eta + ax_eta[i])
        heavy = (f == BOTTOM) | (f == CHARM)
        is_b = f == BOTTOM
        x = np.where(is_b, _beta_mean(r, P("xb_mean"), n), _beta_mean(r, P("xc_mean"), n))
        x = np.where(heavy, x, 0.0)
        _fragmentation(r, out, jet, p_prong * (1 - x), f == GLUON, ax_eta[i], ax_phi[i], eta)
        # The heavy hadron leaves the prong axis by about its hadronisation kT.
        hp = x * p_prong
        hd_eta, hd_phi = _scatter(r, ax_eta[i], ax_phi[i],
                                  r.g.gamma(P("kt_shape"), P("kt_soft") / P("kt_shape"), n)
                                  / np.maximum(hp, 1.0) * np.cosh(eta + ax_eta[i]))
        for sel, mass_h, ctau, nch, casc in (
            (is_b, P("b_mass"), P("b_ctau"), P("b_nch"),
             (P("b_cascade_frac"), P("b_cascade_pfrac"), P("c_ctau"))),
            (heavy & ~is_b, P("c_mass"), P("c_ctau"), P("c_nch"), None),
        ):
            k = int(sel.sum())
            counts = np.maximum(1 + r.g.poisson(nch - 1, k), 2 if casc else 1)
            _decays(r, out, jet[sel], hp[sel], hd_eta[sel], hd_phi[sel], eta[sel], mass_h,
                    ctau, counts, neutral=True, cascade=casc)
    return ax_eta, ax_phi


def _resolutions(pt_t: F, p: F, eta_t: F) -> dict[str, F]:
    """Perigee-parameter resolutions of each track (CMS tracker)."""
    ch = np.cosh(eta_t)
    return {
        "d0": np.hypot(P("d0_res_const"), P("d0_res_ms") * np.sqrt(ch) / pt_t),
        "dz": np.hypot(P("dz_res_const"), P("dz_res_ms") * ch ** 1.5 / pt_t),
        "phi": np.hypot(P("phi_res_const"), P("phi_res_ms") / pt_t),
        "lam": np.hypot(P("lambda_res_const"), P("lambda_res_ms") / p),
        "qop": np.hypot(P("pt_res_ms"), P("pt_res_slope") * pt_t) / p,
    }


def _measure(r: _Rng, t: dict[str, F], eta_j: F) -> dict[str, F]:
    """Measured impact parameters, their signs, significances and the fit quality."""
    m = len(t["p"])
    jet = t["jet"].astype(np.int64)
    ej = eta_j[jet]
    eta_u, phi_u = ej + t["deta"], t["dphi"]
    eta_v, phi_v = ej + t["veta"], t["vphi"]
    lt = t["L"] / np.cosh(eta_v)  # transverse flight of the track's production vertex
    # Straight lines from the vertex (PackedCandidate conventions, PV at the origin).
    dxy = lt * np.sin(phi_v - phi_u)
    dz = lt * np.sinh(eta_v) - lt * np.cos(phi_v - phi_u) * np.sinh(eta_u)
    pt_t = t["p"] / np.cosh(eta_u)
    res = _resolutions(pt_t, t["p"], eta_u)
    tail = np.where(r.u(m) < P("ip_tail_frac"), P("ip_tail_scale"), 1.0)
    dxy = dxy + tail * res["d0"] * r.n(m)
    dz = dz + tail * res["dz"] * r.n(m)
    u = _unit(eta_u, phi_u)
    j = _unit(ej, np.zeros(m))
    cos_a = np.clip((u * j).sum(axis=0), -1.0, 1.0)
    sin_a = np.sqrt(1.0 - cos_a ** 2)
    e_trk = np.sqrt(t["p"] ** 2 + P("pion_mass") ** 2)
    # Lifetime signs: the point of closest approach projected on the jet axis.
    sign2 = np.where(-dxy * np.sin(phi_u) >= 0, 1.0, -1.0)
    pca_dot_j = -dxy * np.sin(phi_u) / np.cosh(ej) + dz * (np.tanh(ej) - np.tanh(eta_u))
    sign3 = np.where(pca_dot_j >= 0, 1.0, -1.0)
    sin_t = 1.0 / np.cosh(eta_u)
    ip3 = np.hypot(dxy, dz * sin_t)
    sig3 = np.hypot(res["d0"], res["dz"] * sin_t)
    # Distance between the track line and the jet axis (through the PV); negative by the
    # TrackInfoBuilder's sign convention for tracks that cross the axis downstream.
    cross = np.stack([u[1] * j[2] - u[2] * j[1], u[2] * j[0] - u[0] * j[2],
                      u[0] * j[1] - u[1] * j[0]])
    pca = np.stack([-dxy * np.sin(phi_u), dxy * np.cos(phi_u), dz])
    norm = np.maximum(np.sqrt((cross ** 2).sum(axis=0)), 1e-9)
    jetdist = -np.abs((pca * cross).sum(axis=0)) / norm
    ndof = np.maximum(np.rint(P("ndof_mean") + P("ndof_spread") * r.n(m)), 5)
    chi2 = r.g.chisquare(ndof) / ndof * tail
    f = np.exp(P("error_spread") * r.n(m))  # hit-pattern variation shared by a track's errors
    spread = P("rho_spread")
    rho_pd = P("rho_phi_dxy") + spread * (2 * r.u(m) - 1)
    rho_lz = P("rho_lambda_dz") + spread * (2 * r.u(m) - 1)
    rho_xz = P("rho_dxy_dz") * (2 * r.u(m) - 1)
    s_d0, s_dz = f * res["d0"], f * res["dz"]
    return {
        "pt": pt_t, "eta": eta_u, "phi": phi_u,
        "track_ptrel": pt_t, "track_erel": t["p"],  # divided by the jet's below
        "track_phirel": phi_u, "track_etarel": t["deta"],  # signed below
        "track_deltaR": np.hypot(t["deta"], t["dphi"]),
        # The 80X ntupliser bounds both significances to +-2000 (catchInfsAndBound).
        "track_dz": dz, "track_dzsig": np.clip(dz / s_dz, -P("track_sig_bound"),
                                               P("track_sig_bound")),
        "track_dxy": dxy, "track_dxysig": np.clip(dxy / s_d0, -P("track_sig_bound"),
                                                  P("track_sig_bound")),
        "track_normchi2": np.floor(np.minimum(chi2, 255)),
        "track_quality": np.where(r.u(m) < P("highpurity_frac"), 5.0, 1.0),
        "track_dptdpt": (f * res["qop"]) ** 2,
        "track_detadeta": (f * res["lam"]) ** 2,
        "track_dphidphi": (f * res["phi"]) ** 2,
        "track_dxydxy": s_d0 ** 2,
        "track_dzdz": s_dz ** 2,
        "track_dxydz": rho_xz * s_d0 * s_dz,
        "track_dphidxy": rho_pd * f * res["phi"] * s_d0,
        "track_dlambdadz": rho_lz * f * res["lam"] * s_dz,
        # reco::btau::etaRel: the rapidity along the jet axis with the pion mass,
        # 0.5 ln((E + p_par) / (E - p_par)), bounded by ln(2p / m_pi), not arctanh(cos a).
        "trackBTag_EtaRel": 0.5 * np.log((e_trk + t["p"] * cos_a) / (e_trk - t["p"] * cos_a)),
        "trackBTag_PtRatio": sin_a,
        "trackBTag_PParRatio": cos_a,
        "trackBTag_Sip2dVal": sign2 * np.abs(dxy),
        "trackBTag_Sip2dSig": sign2 * np.abs(dxy) / s_d0,
        "trackBTag_Sip3dVal": sign3 * ip3,
        "trackBTag_Sip3dSig": sign3 * ip3 / (f * sig3),
        "trackBTag_JetDistVal": jetdist,
    }


def _vertices(r: _Rng, t: dict[str, F], x: dict[str, F], eta_j: F
              ) -> tuple[dict[str, F], Ix, tuple[Ix, F, F]]:
    """IVF-like SVs from the displaced tracks of each decay chain: features of the SVs within
    R of their jet, the jet of each, and every SV of the event (its jet, and its direction,
    eta and phi relative to that jet) - the collection track_drminsv searches."""
    chain = t["chain"].astype(np.int64)
    seed = ((chain >= 0) & (x["pt"] > P("ivf_track_pt_min"))
            & (np.abs(x["trackBTag_Sip3dVal"]) > P("ivf_seed_ip3d"))
            & (np.abs(x["trackBTag_Sip3dSig"]) > P("ivf_seed_ip3d_sig"))
            & (r.u(len(chain)) < P("ivf_track_eff")))
    ids, inv, cnt = np.unique(chain[seed], return_inverse=True, return_counts=True)
    k = len(ids)
    e_t = np.sqrt(t["p"][seed] ** 2 + P("pion_mass") ** 2)
    pvec = t["p"][seed] * _unit(x["eta"][seed], x["phi"][seed])
    px, py, pz = (_group_sum(c, inv, k) for c in pvec)
    e = _group_sum(e_t, inv, k)
    jet = np.zeros(k, np.int64)
    jet[inv] = t["jet"][seed].astype(np.int64)
    L = _group_sum(t["L"][seed], inv, k) / np.maximum(cnt, 1)
    v_eta = np.zeros(k)
    v_phi = np.zeros(k)
    v_eta[inv] = eta_j[t["jet"][seed].astype(np.int64)] + t["veta"][seed]
    v_phi[inv] = t["vphi"][seed]
    ptv = np.hypot(px, py)
    pv = np.sqrt(px ** 2 + py ** 2 + pz ** 2)
    mass = np.sqrt(np.maximum(e ** 2 - pv ** 2, 0.0))
    eta_s = np.arcsinh(pz / np.maximum(ptv, 1e-9))
    phi_s = np.arctan2(py, px)
    # Opening angle of the tracks around the SV momentum sets the flight resolution.
    u_s = _unit(eta_s, phi_s)
    cos_in = (_unit(x["eta"][seed], x["phi"][seed]) * u_s[:, inv]).sum(axis=0)
    ang2 = _group_sum(1.0 - np.clip(cos_in, -1, 1), inv, k) * 2 / np.maximum(cnt, 1)
    open_ang = np.sqrt(np.maximum(ang2, 1e-6))
    s_pos = P("sv_pos_res")
    s_l = np.hypot(s_pos, s_pos / open_ang)
    l3 = np.abs(L + s_l * r.n(k))
    ch = np.cosh(v_eta)
    dxy, s_lt = l3 / ch, np.hypot(s_l / ch, s_pos)
    # Measured flight direction: the true one, blurred across by the position resolution.
    fe, fp = _scatter(r, v_eta, v_phi, s_pos * np.abs(r.n(k)) / np.maximum(l3, s_pos) * ch)
    cos_sv = np.clip((_unit(fe, fp) * u_s).sum(axis=0), -1.0, 1.0)
    ndof = 2.0 * cnt - 3.0
    e_j = np.zeros(k)
    keep = ((cnt >= 2) & (dxy / s_lt > P("ivf_min_dxysig")) & (cos_sv > P("ivf_min_cos"))
            & (mass < P("ivf_max_mass")))
    d_eta, d_phi = eta_s - eta_j[jet], phi_s
    event = (jet[keep], d_eta[keep], d_phi[keep])
    keep &= np.hypot(d_eta, d_phi) < P("max_sv_dr")
    # The 80X ntupliser stores sv_deltaR as catchInfsAndBound(dR - 0.5, 0, -2, 0): dR - 0.5
    # capped at 0 (dR >= 0 never reaches the -2 bound).
    delta_r = np.minimum(np.hypot(d_eta, d_phi) - P("sv_deltaR_offset"), 0.0)
    feats = {
        "sv_pt": ptv, "sv_erel": e + e_j, "sv_phirel": d_phi, "sv_etarel": d_eta,
        "sv_deltaR": delta_r, "sv_mass": mass, "sv_ntracks": cnt.astype(float),
        "sv_normchi2": r.g.chisquare(np.maximum(ndof, 1.0)) / np.maximum(ndof, 1.0),
        "sv_dxy": dxy, "sv_dxysig": dxy / s_lt, "sv_d3d": l3, "sv_d3dsig": l3 / s_l,
        "sv_costhetasvpv": cos_sv,
    }
    return {k2: v[keep] for k2, v in feats.items()}, jet[keep], event


def generate_jets(n: int, rng: np.random.Generator, difficulty: float,
                  buffer: Float32Array | None = None) -> JetArrays:
    """``n`` jets (balanced classes, shuffled) in the network's layout, with spectators."""
    r = _Rng(rng)
    labels: Int64Array = rng.permutation(np.arange(n) >= n // 2).astype(np.int64)
    higgs = (labels == schema.HBB) ^ (r.u(n) < difficulty)  # the physics each jet is made of
    pt, eta, mass, z = _jet_kinematics(r, higgs)
    out = _Tracks()
    ax_eta, ax_phi = _prongs(r, out, pt, eta, z, mass, _flavours(r, higgs))
    t = out.get()
    # Jet constituents: inside the jet radius, with track details (pT threshold).
    inside = np.hypot(t["deta"], t["dphi"]) < P("jet_r")
    inside &= t["p"] / np.cosh(eta[t["jet"].astype(np.int64)] + t["deta"]) > P("track_pt_min")
    t = {k: v[inside] for k, v in t.items()}
    x = _measure(r, t, eta)
    sv, sv_jet, event_svs = _vertices(r, t, x, eta)
    jet = t["jet"].astype(np.int64)
    e_jet = np.sqrt((pt * np.cosh(eta)) ** 2 + mass ** 2)
    etasign = np.where(eta > 0, 1.0, -1.0)
    x["track_ptrel"] = x["track_ptrel"] / pt[jet]
    x["track_erel"] = np.sqrt(t["p"] ** 2 + P("pion_mass") ** 2) / e_jet[jet]
    x["track_etarel"] = etasign[jet] * x["track_etarel"]
    sv["sv_ptrel"] = sv["sv_pt"] / pt[sv_jet]
    sv["sv_erel"] = sv["sv_erel"] / e_jet[sv_jet]
    sv["sv_etarel"] = etasign[sv_jet] * sv["sv_etarel"]
    # Subjets: the prongs, harder first.
    for i in (0, 1):
        x[f"track_drsubjet{i + 1}"] = np.hypot(t["deta"] - ax_eta[i][jet],
                                               t["dphi"] - ax_phi[i][jet])
    x["track_drminsv"] = _drminsv(t, jet, *event_svs)

    tracks = _pad(x, schema.TRACK_FEATURES, jet, x["trackBTag_Sip2dSig"], n, schema.N_TRACKS,
                  buffer)
    # Sorted by the flight significance, then stored bounded to [-1, 800] as the 80X
    # ntupliser does (catchInfsAndBound(significance, 0, -1, 800)).
    bounded = {k: np.minimum(sv[k], P("sv_sig_bound")) for k in ("sv_dxysig", "sv_d3dsig")}
    svs = _pad(sv | bounded, schema.SV_FEATURES, sv_jet, sv["sv_dxysig"], n, schema.N_SVS, None)
    n_trk = np.bincount(jet, minlength=n)
    n_sv = np.bincount(sv_jet, minlength=n)
    sig3 = np.sort(tracks[:, schema.TRACK_FEATURES.index("trackBTag_Sip3dSig"), :2], axis=1)
    spec = {
        "fj_pt": pt, "fj_eta": eta, "fj_sdmass": mass, "fj_n_sdsubjets": np.full(n, 2.0),
        "fj_doubleb": np.tanh(sig3.sum(axis=1) / P("doubleb_scale")) - 0.5,
        "fj_tau21": np.clip(np.where(higgs, P("tau21_hbb"), P("tau21_qcd"))
                            + P("tau21_sigma") * r.n(n), 0.05, 1.0),
        "fj_tau32": np.clip(P("tau21_qcd") + P("tau21_sigma") * r.n(n), 0.05, 1.0),
        "npv": 1.0 + r.g.poisson(P("npv_mean") - 1, n),
        "npfcands": n_trk / P("charged_energy_frac"),
        "ntracks": n_trk.astype(float), "nsv": n_sv.astype(float),
    }
    spectators = np.stack([spec[k] for k in schema.SPECTATORS], axis=1).astype(np.float32)
    return JetArrays(tracks, svs, labels, spectators)


def _drminsv(t: dict[str, F], jet: Ix, sv_jet: Ix, sv_eta: F, sv_phi: F) -> F:
    """track_drminsv as the 80X ntupliser fills it: the search for the nearest SV of the event
    starts at R (0.8), so the value is min(R, min dR(track, SV)) - R in [-R, 0], 0 when no SV
    lies within R of the track. Only this jet's decay chains make SVs near its tracks (those of
    the recoiling jet or boson lie about pi away in azimuth)."""
    r_jet = P("drminsv_search")
    dr = np.full(len(jet), r_jet)
    order_sv = np.argsort(sv_jet, kind="stable")
    if len(sv_jet):  # a short loop over each jet's few SVs, not a (tracks x SVs) array
        first = np.searchsorted(sv_jet[order_sv], jet, "left")
        last = np.searchsorted(sv_jet[order_sv], jet, "right")
        for off in range(int((last - first).max(initial=0))):
            has = first + off < last
            idx = order_sv[np.minimum(first + off, len(order_sv) - 1)]
            d = np.hypot(t["deta"] - sv_eta[idx], t["dphi"] - sv_phi[idx])
            dr = np.where(has, np.minimum(dr, d), dr)
    return dr - r_jet


def _pad(feats: dict[str, F], names: tuple[str, ...], jet: Ix, key: F, n: int, n_max: int,
         buffer: Float32Array | None) -> Float32Array:
    """Rows sorted within each jet by descending ``key``, cut at ``n_max``, zero-padded."""
    order = np.lexsort((-key, jet))
    slot = np.empty(len(jet), np.int64)
    _, k = jagged.positions(np.bincount(jet, minlength=n))
    slot[order] = k
    return jagged.pad([np.asarray(feats[name], np.float32) for name in names], jet, slot, n,
                      n_max, out=buffer)
