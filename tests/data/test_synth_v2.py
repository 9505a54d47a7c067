"""Generator v2: every number in one cited place, and jets whose features have the units,
magnitudes and physics the CMS ntuples define (issue 26)."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pytest

from fairhep import schema
from fairhep.cli import main
from fairhep.data import jetphysics, load, synth_v2
from fairhep.data.manifest import Manifest
from fairhep.data.synth import VERSIONS, block_rng, generate_jets, synthesize
from jet_helpers import SV, TRK, real_slots


@pytest.fixture(scope="module")
def jets() -> load.JetArrays:
    return generate_jets(3000, block_rng(5, 0, 0), difficulty=0.0, generator="v2")


def test_every_number_is_cited_and_read_from_the_one_table() -> None:
    source = Path(synth_v2.__file__).read_text()
    read = set(re.findall(r'P\("([a-z0-9_]+)"\)', source))
    assert read, "the generator reads its numbers through jetphysics.value"
    assert read <= set(jetphysics.PARAMS), read - set(jetphysics.PARAMS)
    listed = {k for _, _, names in jetphysics.DISTRIBUTIONS for k in names}
    # Every number is used by the generator and shown under a distribution.
    assert set(jetphysics.PARAMS) - read <= listed
    assert set(jetphysics.PARAMS) <= read | listed
    for name, p in jetphysics.PARAMS.items():
        assert p.source in jetphysics.SOURCES, name
        assert p.status in ("cited", "approx", "assumed"), name
        assert p.unit and p.meaning, name


def test_describe_lists_each_distribution_number_and_source(
        capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["data", "synth", "--describe"]) == 0
    out = capsys.readouterr().out
    for what, _, _ in jetphysics.DISTRIBUTIONS:
        assert what in out
    for name in jetphysics.PARAMS:
        assert re.search(rf"^{name}\s", out, re.M), name
    for key, text in jetphysics.SOURCES.items():
        assert f"[{key}] {text}" in out


def test_selection_and_layout(jets: load.JetArrays) -> None:
    spec = jets.spectators
    assert spec is not None
    pt, eta, msd = (spec[:, schema.SPECTATORS.index(k)] for k in ("fj_pt", "fj_eta", "fj_sdmass"))
    assert pt.min() >= 300 and pt.max() <= 2000
    # The cut in the stored float32 (numpy < 2 would compare float32(2.4) with 2.4 in float64).
    assert np.abs(eta).max() <= np.float32(2.4) and msd.min() >= 40 and msd.max() <= 200
    trk, _ = real_slots(jets)
    n = trk.sum(axis=1)
    assert np.array_equal(trk, np.arange(schema.N_TRACKS)[None, :] < n[:, None])
    sig = np.where(trk, jets.tracks[:, TRK["trackBTag_Sip2dSig"], :], -1e30)
    assert (np.diff(sig, axis=1)[trk[:, 1:]] <= 0).all()
    ntracks = spec[:, schema.SPECTATORS.index("ntracks")]
    assert np.array_equal(np.minimum(ntracks, schema.N_TRACKS), n)
    assert 10 < n.mean() < 50  # charged constituents of a 300-2000 GeV AK8 jet
    assert np.isfinite(jets.tracks).all() and np.isfinite(jets.svs).all()


def test_units_and_magnitudes_of_the_track_fit(jets: load.JetArrays) -> None:
    trk, _ = real_slots(jets)
    t = {k: jets.tracks[:, i, :][trk] for k, i in TRK.items()}
    # The reco::TrackBase covariance: sigma^2(q/p) in GeV^-2, not sigma^2(pT) in GeV^2.
    assert np.median(t["track_dptdpt"]) < 1e-4 and t["track_dptdpt"].max() < 1e-2
    assert 1e-8 < np.median(t["track_detadeta"]) < 1e-4
    d0 = np.sqrt(t["track_dxydxy"])  # cm: between 5 and 300 micrometres for most tracks
    assert 5e-4 < np.median(d0) < 3e-2
    assert (t["track_dphidxy"] < 0).mean() > 0.9  # the first-hit lever arm: anti-correlated
    assert np.array_equal(t["track_normchi2"], np.floor(t["track_normchi2"]))  # uint8
    assert set(np.unique(t["track_quality"])) <= {1.0, 5.0}  # loose (+ highPurity)
    assert t["trackBTag_PParRatio"].max() <= 1 and t["trackBTag_PtRatio"].min() >= 0
    np.testing.assert_allclose(t["trackBTag_PtRatio"] ** 2 + t["trackBTag_PParRatio"] ** 2,
                               1, atol=1e-4)
    assert (t["trackBTag_JetDistVal"] <= 0).all()


def test_lifetime_physics_separates_the_classes(jets: load.JetArrays) -> None:
    hbb, qcd = jets.labels == schema.HBB, jets.labels == schema.QCD
    trk, sv = real_slots(jets)
    lead = jets.tracks[:, TRK["trackBTag_Sip2dSig"], 0]
    assert np.median(lead[hbb]) > 5 * np.median(lead[qcd])
    # Sip2dVal: |dxy| with the lifetime sign, that of the point of closest approach projected
    # on the (fat) jet axis: -dxy sin(phirel) in the PackedCandidate's convention. Against an
    # axis between two b hadrons that sign is no longer mostly positive.
    t = {k: jets.tracks[:, TRK[k], :][trk] for k in ("trackBTag_Sip2dVal", "track_dxy",
                                                      "track_phirel")}
    np.testing.assert_allclose(np.abs(t["trackBTag_Sip2dVal"]), np.abs(t["track_dxy"]),
                               rtol=1e-5)
    lifetime = np.sign(-t["track_dxy"] * np.sin(t["track_phirel"]))
    assert (np.sign(t["trackBTag_Sip2dVal"]) == np.where(lifetime == 0, 1, lifetime)).mean() \
        > 0.999
    nsv = sv.sum(axis=1)
    assert nsv[hbb].mean() > 3 * nsv[qcd].mean()
    s = {k: jets.svs[:, i, :][sv] for k, i in SV.items()}
    assert (s["sv_ntracks"] >= 2).all() and (s["sv_dxysig"] > 2.5).all()
    assert (s["sv_costhetasvpv"] > 0.95).all() and (s["sv_mass"] < 6.5).all()
    mass_h = jets.svs[:, SV["sv_mass"], :][sv & hbb[:, None]]
    assert 1.5 < np.median(mass_h) < 4.5  # b-hadron vertices, partly reconstructed
    # The 80X ntupliser's definition (test_synth_v2_physics.py checks it against the geometry):
    # min(R, dR to the nearest SV) - R in [-0.8, 0], 0 where no SV lies within R; no -1.
    drmin = jets.tracks[:, TRK["track_drminsv"], :][trk]
    assert ((drmin >= -0.8) & (drmin <= 0)).all() and (drmin == 0).any()


def test_difficulty_keeps_its_meaning() -> None:
    def separation(d: float) -> float:
        j = generate_jets(3000, block_rng(2, 0, 0), difficulty=d, generator="v2")
        lead = j.tracks[:, TRK["trackBTag_Sip2dSig"], 0]
        return float(np.median(lead[j.labels == 1]) - np.median(lead[j.labels == 0]))

    assert abs(separation(0.5)) < 0.2 * separation(0.0)


def test_files_name_their_generator_and_are_deterministic(tmp_path: Path,
                                                         capsys: pytest.CaptureFixture[str]
                                                         ) -> None:
    a = synthesize(tmp_path / "a", files=1, jets_per_file=200, seed=3, generator="v2")
    b = synthesize(tmp_path / "b", files=1, jets_per_file=200, seed=3, generator="v2")
    v1 = synthesize(tmp_path / "c", files=1, jets_per_file=200, seed=3, generator="v1")
    assert a.files[0].sha256 == b.files[0].sha256 != v1.files[0].sha256
    assert a.generator["generator"] == "v2" and a.generator["version"] == VERSIONS["v2"]
    assert v1.generator["generator"] == "v1" and v1.generator["version"] == VERSIONS["v1"]
    assert main(["data", "synth", "--out", str(tmp_path / "d"), "--jets-per-file", "32",
                 "--generator", "v2", "--no-progress"]) == 0
    assert "generator v2" in capsys.readouterr().out
    assert Manifest.read(tmp_path / "d").generator["generator"] == "v2"


def test_records_name_the_generator_and_its_version(tmp_path: Path) -> None:
    from fairhep.results import ResultRecord, write_record
    from fairhep.results.provenance import dataset_generator
    from fairhep.results.store import read_record

    synthesize(tmp_path / "d", files=1, jets_per_file=16, seed=0, generator="v2")
    path = write_record(tmp_path / "results", ResultRecord(kind="evaluate"),
                        tmp_path / "d" / schema.MANIFEST_NAME)
    prov = read_record(path).provenance
    assert prov["dataset_generator"] == {"generator": "v2", "version": VERSIONS["v2"]}
    # A manifest from before the second generator names only the module: v1.
    old = tmp_path / "old.json"
    old.write_text('{"origin": "synthetic", "generator": {"module": "fairhep.data.synth", '
                   '"version": "3"}}')
    assert dataset_generator(old) == {"generator": "v1", "version": "3"}
    real = tmp_path / "real.json"
    real.write_text('{"origin": "cms-open-data", "generator": {"module": "fairhep.data.convert"}}')
    assert dataset_generator(real) is None
