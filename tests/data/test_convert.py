"""``fairhep data convert`` on tiny real ROOT ntuples written with uproot."""

from __future__ import annotations

import json
from pathlib import Path

import h5py
import numpy as np
import pytest

from data_helpers import TinyNtuple, encoded, write_tiny_ntuple
from fairhep import schema
from fairhep.cli import main
from fairhep.data import load
from fairhep.data.check import check_dataset
from fairhep.data.convert import convert
from fairhep.data.manifest import sha256_file
from fairhep.errors import DataError

QCD, HBB, NEITHER = schema.QCD, schema.HBB, -1


@pytest.fixture
def ntuples(tmp_path: Path) -> list[TinyNtuple]:
    rng = np.random.default_rng(0)
    a = write_tiny_ntuple(
        tmp_path / "ntuple_merged_0.root",
        n_tracks=np.array([3, 0, 70, 60, 61, 1, 12]),  # none, exactly 60, cut above 60
        n_svs=np.array([1, 0, 7, 5, 2, 0, 6]),
        labels=np.array([QCD, HBB, NEITHER, HBB, QCD, NEITHER, HBB]),
    )
    b = write_tiny_ntuple(
        tmp_path / "ntuple_merged_1.root",
        n_tracks=rng.integers(0, 40, 5), n_svs=rng.integers(0, 4, 5),
        labels=np.array([HBB, QCD, QCD, NEITHER, HBB]), jet_offset=100,
    )
    return [a, b]


def expected_jets(nt: TinyNtuple, start: int, stop: int) -> list[int]:
    return [i for i in range(start, stop) if nt.labels[i] != NEITHER]


def test_values_land_in_their_slots_and_files_follow_the_plan(
        ntuples: list[TinyNtuple], tmp_path: Path) -> None:
    out = tmp_path / "h5"
    manifest = convert([nt.path for nt in ntuples], out, jets_per_file=3, step_size=2)
    # 7 entries -> ranges 0-3, 3-6, 6-7; 5 entries -> 0-3, 3-5. Never across ROOT files.
    plan = [(0, 0, 3), (0, 3, 6), (0, 6, 7), (1, 0, 3), (1, 3, 5)]
    assert [f.name for f in manifest.files] == [f"newdata_{i}.h5" for i in range(5)]
    for entry, (src, start, stop) in zip(manifest.files, plan, strict=True):
        nt = ntuples[src]
        assert entry.source == str(nt.path)
        keep = expected_jets(nt, start, stop)
        jets = load.read_file(out / entry.name)
        assert entry.jets == len(jets) == len(keep)
        assert entry.sha256 == sha256_file(out / entry.name)
        ids = nt.jet_offset + np.array(keep, dtype=np.int64)
        assert jets.spectators is not None
        np.testing.assert_array_equal(jets.spectators[:, 0], ids * 100)
        np.testing.assert_array_equal(jets.spectators[:, schema.SPECTATORS.index("nsv")],
                                      ids * 100 + schema.SPECTATORS.index("nsv"))
        np.testing.assert_array_equal(jets.labels, nt.labels[keep])
        for row, (i, jet_id) in enumerate(zip(keep, ids, strict=True)):
            for what, arr, counts, n_max in (("tracks", jets.tracks, nt.n_tracks, 60),
                                             ("svs", jets.svs, nt.n_svs, 5)):
                n = min(int(counts[i]), n_max)
                pos = np.arange(n)
                for f in range(arr.shape[1]):
                    np.testing.assert_array_equal(arr[row, f, :n], encoded(jet_id, pos, f),
                                                  err_msg=f"{what} jet {jet_id} feature {f}")
                assert not arr[row, :, n:].any(), f"{what} padding of jet {jet_id}"

    g = manifest.generator
    assert (g["entries"], g["dropped_unlabelled"], g["dropped_ambiguous"]) == (12, 3, 0)
    assert manifest.n_jets == 9
    assert [s["dropped_unlabelled"] for s in g["sources"]] == [2, 1]
    d = json.loads((out / schema.MANIFEST_NAME).read_text())
    assert d["dataset_doi"] == schema.DATASET_DOI == "10.7483/OPENDATA.CMS.JGJX.MS7Q"
    assert d["schema_version"] == schema.SCHEMA_VERSION and d["origin"] == "cms-open-data"
    with h5py.File(out / "newdata_0.h5", "r") as h5:
        assert h5[schema.h5_dataset_name("train", 0)].shape == (2, 27, 1)
        assert h5[schema.h5_dataset_name("train", 1)].id.get_storage_size() == 0
        assert h5[schema.h5_dataset_name("train", 2)].dtype == np.float32
    report = check_dataset(out)
    assert report.ok, report.problems
    assert (report.files, report.jets) == (5, 9)


def test_resume_skips_existing_files(ntuples: list[TinyNtuple], tmp_path: Path) -> None:
    out = tmp_path / "h5"
    paths = [nt.path for nt in ntuples]
    first = convert(paths, out, jets_per_file=4)
    stamps = {p.name: p.stat().st_mtime_ns for p in out.glob("*.h5")}
    (out / "newdata_1.h5").unlink()
    second = convert(paths, out, jets_per_file=4)
    assert second.generator["files_skipped_existing"] == len(first.files) - 1
    assert [f.sha256 for f in second.files] == [f.sha256 for f in first.files]
    assert second.generator["dropped_unlabelled"] == first.generator["dropped_unlabelled"]
    for name, stamp in stamps.items():
        if name != "newdata_1.h5":
            assert (out / name).stat().st_mtime_ns == stamp, f"{name} was rewritten"
    assert not list(out.glob("*.tmp"))
    with pytest.raises(DataError, match="same order"):
        convert(paths[::-1], out, jets_per_file=4)


def test_missing_branch_is_one_line_naming_file_and_branch(tmp_path: Path) -> None:
    bad = write_tiny_ntuple(tmp_path / "old.root", np.array([2]), np.array([1]), np.array([QCD]),
                            drop_branches=("sv_d3dsig", "fj_isH"))
    with pytest.raises(DataError) as err:
        convert([bad.path], tmp_path / "out")
    msg = str(err.value)
    assert "\n" not in msg
    assert msg.startswith(f"{bad.path}: TTree deepntuplizer/tree lacks branch(es) ")
    assert "sv_d3dsig" in msg and "fj_isH" in msg
    assert not (tmp_path / "out").exists()


def test_not_a_root_file(tmp_path: Path) -> None:
    junk = tmp_path / "junk.root"
    junk.write_bytes(b"definitely not ROOT" * 10)
    with pytest.raises(DataError, match=r"junk\.root: not a readable ROOT file"):
        convert([junk], tmp_path / "out")


def test_test_split_and_memory_step_size(ntuples: list[TinyNtuple], tmp_path: Path) -> None:
    out = tmp_path / "test"
    convert([ntuples[0].path], out, split="test", step_size="1 MB")
    with h5py.File(out / "newdata_0.h5", "r") as h5:
        assert schema.h5_dataset_name("test", 2) in h5
    assert len(load.read_file(out / "newdata_0.h5")) == 5


def test_cli_convert(ntuples: list[TinyNtuple], tmp_path: Path,
                     capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "cli"
    args = ["data", "convert", *(str(nt.path) for nt in ntuples), "--out", str(out),
            "--jets-per-file", "100", "--step-size", "3", "--no-progress"]
    assert main(args) == 0
    text = capsys.readouterr().out
    assert "wrote 9 jets in 2 files" in text and "dropped 3 unlabelled" in text
    assert main(["data", "check", str(out)]) == 0
    capsys.readouterr()
    assert main(["data", "convert", str(tmp_path / "absent.root"), "--out", str(out)]) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "absent.root: ROOT file not found" in err


def test_range_without_labelled_jets_gives_an_empty_file(tmp_path: Path) -> None:
    nt = write_tiny_ntuple(tmp_path / "n.root", np.array([2, 1, 4, 3]), np.array([1, 0, 2, 1]),
                           np.array([HBB, QCD, NEITHER, NEITHER]))
    out = tmp_path / "out"
    manifest = convert([nt.path], out, jets_per_file=2)
    assert [f.jets for f in manifest.files] == [2, 0]
    assert len(load.read_file(out / "newdata_1.h5")) == 0
    assert check_dataset(out).ok
    assert not list(out.glob("*.tmp"))


def test_convert_into_a_read_only_directory_is_one_line(ntuples: list[TinyNtuple],
                                                        read_only_dir: Path,
                                                        capsys: pytest.CaptureFixture[str]
                                                        ) -> None:
    assert main(["data", "convert", str(ntuples[0].path), "--out", str(read_only_dir / "o"),
                 "--no-progress"]) == 1
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "output directory is not writable" in err
