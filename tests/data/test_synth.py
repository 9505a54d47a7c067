"""Synthetic jets: layout, determinism, balance and the documented physics directions.

The physics-direction tests pin generator v1 (the first default, whose docstring documents
them); since v2 became the default (issue 26) its physics has its own tests
(test_synth_v2.py, test_synth_v2_physics.py). The layout tests run on the default."""

from __future__ import annotations

import json
from pathlib import Path

import h5py
import numpy as np
import pytest

from fairhep import schema
from fairhep.cli import main
from fairhep.data import load
from fairhep.data.manifest import Manifest, sha256_file
from fairhep.data.synth import block_rng, generate_jets, synthesize
from fairhep.data.synth_options import DEFAULT_DIFFICULTY
from fairhep.errors import DataError

TRK = {name: i for i, name in enumerate(schema.TRACK_FEATURES)}
SV = {name: i for i, name in enumerate(schema.SV_FEATURES)}


@pytest.fixture(scope="module")
def jets() -> load.JetArrays:
    return generate_jets(4000, block_rng(7, 0, 0), difficulty=0.0, generator="v1")


def test_files_follow_the_fair_layout_and_read_back(tmp_path: Path) -> None:
    manifest = synthesize(tmp_path, files=2, jets_per_file=300, seed=3)
    assert [f.name for f in manifest.files] == ["newdata_0.h5", "newdata_1.h5"]
    assert manifest.n_jets == 600 and manifest.origin == "synthetic"
    assert manifest.generator["seed"] == 3
    assert manifest.generator["difficulty"] == DEFAULT_DIFFICULTY
    on_disk = json.loads((tmp_path / schema.MANIFEST_NAME).read_text())
    assert on_disk["files"][1]["sha256"] == sha256_file(tmp_path / "newdata_1.h5")
    assert Manifest.read(tmp_path).n_jets == 600

    with h5py.File(tmp_path / "newdata_0.h5", "r") as h5:
        shapes = {name: h5[name].shape for name in (
            schema.h5_dataset_name("train", 0), schema.h5_dataset_name("train", 1),
            schema.h5_dataset_name("train", 2), schema.h5_dataset_name("train", 3),
            schema.H5_TARGET, schema.H5_SPECTATORS)}
        assert list(shapes.values()) == [(300, 27, 1), (300, 10, 100), (300, 30, 60),
                                         (300, 14, 5), (300, 2), (300, 1, 11)]
        # The unused feature groups exist for the index convention but take no space.
        assert h5[schema.h5_dataset_name("train", 1)].id.get_storage_size() == 0
        assert h5[schema.h5_dataset_name("train", 2)].dtype == np.float32
    jets = load.read_file(tmp_path / "newdata_0.h5")
    assert jets.tracks.shape == (300, 30, 60) and jets.svs.shape == (300, 14, 5)
    assert np.isfinite(jets.tracks).all() and np.isfinite(jets.svs).all()
    assert (jets.labels == 1).sum() == 150  # balanced


def test_deterministic_per_seed_and_different_across_seeds_and_files(tmp_path: Path) -> None:
    a = synthesize(tmp_path / "a", files=2, jets_per_file=200, seed=11)
    b = synthesize(tmp_path / "b", files=2, jets_per_file=200, seed=11)
    c = synthesize(tmp_path / "c", files=2, jets_per_file=200, seed=12)
    assert [f.sha256 for f in a.files] == [f.sha256 for f in b.files]
    assert a.files[0].sha256 != c.files[0].sha256
    assert a.files[0].sha256 != a.files[1].sha256
    x = load.read_file(tmp_path / "a" / "newdata_0.h5")
    y = load.read_file(tmp_path / "c" / "newdata_0.h5")
    assert not np.array_equal(x.tracks, y.tracks)


def test_test_split_uses_the_testing_group(tmp_path: Path) -> None:
    synthesize(tmp_path, files=1, jets_per_file=50, seed=0, split="test")
    with h5py.File(tmp_path / "newdata_0.h5", "r") as h5:
        assert schema.h5_dataset_name("test", 2) in h5 and "training_subgroup" not in h5
    assert len(load.read_file(tmp_path / "newdata_0.h5")) == 50


def test_padding_and_sort_order(jets: load.JetArrays) -> None:
    sig = jets.tracks[:, TRK["trackBTag_Sip2dSig"], :]
    present = jets.tracks[:, TRK["track_ptrel"], :] > 0
    n = present.sum(axis=1)
    # Real tracks first, then all-zero padding.
    assert np.array_equal(present, np.arange(schema.N_TRACKS)[None, :] < n[:, None])
    assert not jets.tracks[~np.broadcast_to(present[:, None, :], jets.tracks.shape)].any()
    # Descending significance among real tracks.
    d = np.diff(np.where(present, sig, -1e30), axis=1)
    assert (d[present[:, 1:]] <= 0).all()
    sv_present = jets.svs[:, SV["sv_pt"], :] > 0
    sv_sig = np.where(sv_present, jets.svs[:, SV["sv_dxysig"], :], -1e30)
    assert (np.diff(sv_sig, axis=1)[sv_present[:, 1:]] <= 0).all()
    # Multiplicities vary (spectators keep the true counts).
    assert n.min() < n.max()
    ntracks = jets.spectators[:, schema.SPECTATORS.index("ntracks")]  # type: ignore[index]
    assert np.array_equal(np.minimum(ntracks, schema.N_TRACKS), n)


def test_signal_differs_from_qcd_in_the_documented_direction(jets: load.JetArrays) -> None:
    hbb, qcd = jets.labels == schema.HBB, jets.labels == schema.QCD
    assert hbb.sum() == qcd.sum() == 2000
    t, s = jets.tracks, jets.svs
    present_sv = s[:, SV["sv_pt"], :] > 0

    def mean(x: np.ndarray, mask: np.ndarray) -> float:
        return float(x[mask].mean())

    # Larger impact-parameter significance of the leading track.
    lead_sig = t[:, TRK["trackBTag_Sip2dSig"], 0]
    assert np.median(lead_sig[hbb]) > 3 * np.median(lead_sig[qcd])
    # More SVs, with larger pT, mass and flight significance.
    nsv = present_sv.sum(axis=1)
    assert nsv[hbb].mean() > 2 * nsv[qcd].mean()
    for name in ("sv_pt", "sv_mass", "sv_dxysig"):
        x = s[:, SV[name], :]
        assert mean(x, present_sv & hbb[:, None]) > 1.5 * mean(x, present_sv & qcd[:, None]), name
    # Two prongs: tracks far from the leading subjet and soft-drop mass near 125 GeV.
    present = t[:, TRK["track_ptrel"], :] > 0
    d2 = t[:, TRK["track_drsubjet1"], :]
    assert mean(d2, present & hbb[:, None]) > 1.5 * mean(d2, present & qcd[:, None])
    mass = jets.spectators[:, schema.SPECTATORS.index("fj_sdmass")]  # type: ignore[index]
    assert abs(np.median(mass[hbb]) - 125) < 5 and np.median(mass[qcd]) < 90


def test_difficulty_mixes_the_classes() -> None:
    easy = generate_jets(4000, block_rng(1, 0, 0), difficulty=0.0, generator="v1")
    hard = generate_jets(4000, block_rng(1, 0, 0), difficulty=0.5, generator="v1")

    def separation(j: load.JetArrays) -> float:
        lead = j.tracks[:, TRK["trackBTag_Sip2dSig"], 0]
        return float(np.median(lead[j.labels == 1]) - np.median(lead[j.labels == 0]))

    assert separation(easy) > 5
    assert abs(separation(hard)) < 0.2 * separation(easy)
    with pytest.raises(DataError, match="difficulty"):
        synthesize(Path("unused"), files=1, jets_per_file=10, seed=0, difficulty=0.7)


@pytest.mark.parametrize("channels_last", [False, True])
def test_npy_layout_reads_with_the_original_test_reader(tmp_path: Path,
                                                         channels_last: bool) -> None:
    manifest = synthesize(tmp_path, files=2, jets_per_file=120, seed=5, layout="npy",
                          channels_last=channels_last)
    assert manifest.n_jets == 240
    tracks = np.load(tmp_path / schema.NPY_TEST_TRACKS.format(k=1))
    assert tracks.shape == ((120, 60, 30) if channels_last else (120, 30, 60))
    got = load.load_dataset(tmp_path)
    assert len(got) == 240 and got.tracks.shape[1:] == schema.TRACK_SHAPE
    h5dir = tmp_path / "h5"
    synthesize(h5dir, files=2, jets_per_file=120, seed=5)
    same = load.load_dataset(h5dir)
    np.testing.assert_array_equal(got.tracks, same.tracks)
    np.testing.assert_array_equal(got.labels, same.labels)


def test_refuses_to_mix_with_other_files(tmp_path: Path) -> None:
    synthesize(tmp_path, files=3, jets_per_file=10, seed=0)
    with pytest.raises(DataError, match=r"newdata_2\.h5"):
        synthesize(tmp_path, files=2, jets_per_file=10, seed=0)


def test_cli_synth(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "d"
    rc = main(["data", "synth", "--out", str(out), "--files", "2", "--jets-per-file", "64",
               "--seed", "4", "--no-progress"])
    assert rc == 0
    assert "wrote 128 generated jets in 2 files" in capsys.readouterr().out
    assert Manifest.read(out).generator["seed"] == 4
    assert main(["data", "synth", "--out", str(out), "--files", "1", "--jets-per-file", "8",
                 "--difficulty", "0.9"]) == 1
    assert "difficulty" in capsys.readouterr().err


def test_threads_and_block_buffers_do_not_change_the_content(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import fairhep.data.synth as synth

    monkeypatch.setattr(synth, "BLOCK_JETS", 64)  # many blocks, reused buffers
    one = synthesize(tmp_path / "one", files=1, jets_per_file=300, seed=9, workers=1)
    three = synthesize(tmp_path / "three", files=1, jets_per_file=300, seed=9, workers=3)
    assert one.files[0].sha256 == three.files[0].sha256
    jets = load.read_file(tmp_path / "one" / "newdata_0.h5")
    first = generate_jets(64, block_rng(9, 0, 0))
    np.testing.assert_array_equal(jets.tracks[:64], first.tracks)
    # Later blocks really are different jets, not a stale buffer.
    assert not np.array_equal(jets.tracks[64:128], jets.tracks[:64])


def test_cli_synth_counts_numpy_test_sets_not_their_files(tmp_path: Path,
                                                          capsys: pytest.CaptureFixture[str]
                                                          ) -> None:
    assert main(["data", "synth", "--out", str(tmp_path / "npy"), "--files", "1",
                 "--jets-per-file", "16", "--layout", "npy", "--no-progress"]) == 0
    out = capsys.readouterr().out
    assert "wrote 16 generated jets in 1 NumPy test set (4 files)" in out
    assert len(list((tmp_path / "npy").glob("test_0_*.npy"))) == 4


def test_synth_into_a_read_only_directory_is_one_line(read_only_dir: Path,
                                                      capsys: pytest.CaptureFixture[str]
                                                      ) -> None:
    assert main(["data", "synth", "--out", str(read_only_dir / "d"), "--files", "1",
                 "--jets-per-file", "16", "--no-progress"]) == 1
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "output directory is not writable" in err
    assert "--out" in err
