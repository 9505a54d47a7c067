"""Generator v2's features as the ntupliser defines them, checked against the generated jets'
own geometry and kinematics (issue 26): track_drminsv and sv_deltaR as the 80X DeepDoubleB
ntuples store them, trackBTag_EtaRel as reco::btau::etaRel computes it, and SV masses that
four-momentum conservation bounds by the decaying hadron's mass."""

from __future__ import annotations

import numpy as np
import pytest

from fairhep import schema
from fairhep.data import load
from fairhep.data.jetphysics import value
from fairhep.data.synth import block_rng, generate_jets
from jet_helpers import SV, TRK, real_slots


@pytest.fixture(scope="module")
def jets() -> load.JetArrays:
    return generate_jets(3000, block_rng(11, 0, 0), difficulty=0.0, generator="v2")


def test_drminsv_is_the_80x_definition_of_the_generated_geometry(jets: load.JetArrays) -> None:
    trk, sv = real_slots(jets)
    r = value("drminsv_search")
    t_eta, t_phi = (jets.tracks[:, TRK[k], :].astype(np.float64)
                    for k in ("track_etarel", "track_phirel"))
    s_eta, s_phi = (jets.svs[:, SV[k], :].astype(np.float64) for k in ("sv_etarel", "sv_phirel"))
    # dR of every track to every stored SV of its jet (both relative to the jet, same sign).
    dr = np.hypot(t_eta[:, :, None] - s_eta[:, None, :], t_phi[:, :, None] - s_phi[:, None, :])
    nearest = np.where(sv[:, None, :], dr, np.inf).min(axis=2)
    expect = np.minimum(nearest, r) - r
    got = jets.tracks[:, TRK["track_drminsv"], :].astype(np.float64)
    assert ((got[trk] >= -r - 1e-6) & (got[trk] <= 0)).all()
    # The event may hold SVs of this jet's decays outside R of the jet axis (not stored
    # among its SVs) that are nearer still: never farther than the stored ones.
    assert (got[trk] <= expect[trk] + 1e-5).all()
    assert np.mean(np.abs(got[trk] - expect[trk]) < 1e-5) > 0.98
    no_sv = np.asarray(~sv.any(axis=1))
    assert no_sv.any() and (got[trk & no_sv[:, None]] > -r).mean() > 0.95
    hbb = jets.labels == schema.HBB
    assert (got[trk & hbb[:, None]] < 0).mean() > 3 * (got[trk & ~hbb[:, None]] < 0).mean()


def test_sv_deltar_and_significances_are_stored_as_the_80x_ntupliser_does(
        jets: load.JetArrays) -> None:
    trk, sv = real_slots(jets)
    dr = np.hypot(jets.svs[:, SV["sv_etarel"], :], jets.svs[:, SV["sv_phirel"], :])[sv]
    np.testing.assert_allclose(jets.svs[:, SV["sv_deltaR"], :][sv],
                               np.minimum(dr - value("sv_deltaR_offset"), 0.0), atol=1e-5)
    # Flight significances bounded to 800 (K0S vertices centimetres away reach it); the SVs
    # are still sorted by the unbounded one, so ties at the bound keep their order.
    for name in ("sv_dxysig", "sv_d3dsig"):
        x = jets.svs[:, SV[name], :][sv]
        assert x.max() == 800 and (x > 0).all(), name
    for name in ("track_dxysig", "track_dzsig"):
        assert np.abs(jets.tracks[:, TRK[name], :][trk]).max() <= 2000, name


def test_etarel_is_the_rapidity_along_the_jet_axis(jets: load.JetArrays) -> None:
    trk, _ = real_slots(jets)
    spec = jets.spectators
    assert spec is not None
    pt, eta, m = (spec[:, schema.SPECTATORS.index(k)].astype(np.float64)
                  for k in ("fj_pt", "fj_eta", "fj_sdmass"))
    e_jet = np.sqrt((pt * np.cosh(eta)) ** 2 + m ** 2)
    e = (jets.tracks[:, TRK["track_erel"], :] * e_jet[:, None])[trk]
    mpi = value("pion_mass")
    p = np.sqrt(e ** 2 - mpi ** 2)
    p_par = p * jets.tracks[:, TRK["trackBTag_PParRatio"], :][trk]
    etarel = jets.tracks[:, TRK["trackBTag_EtaRel"], :][trk]
    expect = 0.5 * np.log((e + p_par) / (e - p_par))
    # float32 storage limits E - p_par for the hardest, most collinear tracks.
    assert np.mean(np.abs(etarel - expect) < 1e-2) > 0.99
    # A rapidity under the pion hypothesis is bounded by ln(2E / m_pi); a pseudorapidity is not.
    assert (etarel <= np.log(2 * e / mpi) + 1e-3).all()
    assert np.mean(etarel > np.arctanh(np.minimum(p_par / p, 1 - 1e-7)) - 1e-3) < 0.5


def test_sv_masses_are_bounded_by_the_decaying_hadrons(jets: load.JetArrays) -> None:
    _, sv = real_slots(jets)
    mass, ntrk = (jets.svs[:, SV[k], :] for k in ("sv_mass", "sv_ntracks"))
    hbb = jets.labels == schema.HBB
    # Four-momentum conservation: the charged products of one b hadron weigh at most m_B.
    assert mass[sv].max() <= value("b_mass") + 1e-3
    m_b = mass[sv & hbb[:, None]]
    assert 1.5 < np.median(m_b) < 3.0 and np.mean(m_b > 4.5) < 0.05  # BTV-16-002's b SVs
    # Light QCD jets' two-track vertices are K0S -> pi+ pi-: exactly at the K0S mass (up to
    # the small-angle map of directions), since the pair carries all of its four-momentum.
    k0 = mass[sv & ~hbb[:, None] & (ntrk == 2) & (mass < 0.6)]
    assert len(k0) > 20
    assert abs(np.median(k0) - value("k0s_mass")) < 0.005
