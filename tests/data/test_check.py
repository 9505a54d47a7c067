"""``fairhep data check``: each kind of damage gives one line naming the file and the dataset."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import h5py
import numpy as np
import pytest

from fairhep import schema
from fairhep.cli import main
from fairhep.data.check import check_dataset
from fairhep.data.synth import synthesize
from fairhep.errors import DataError

TRACKS = schema.h5_dataset_name("train", schema.H5_TRACK_INDEX)


@pytest.fixture(scope="module")
def pristine(tmp_path_factory: pytest.TempPathFactory) -> Path:
    d = tmp_path_factory.mktemp("pristine")
    synthesize(d, files=3, jets_per_file=200, seed=1)
    return d


@pytest.fixture
def data(pristine: Path, tmp_path: Path) -> Path:
    d = tmp_path / "data"
    shutil.copytree(pristine, d)
    return d


def only_problem(d: Path) -> str:
    report = check_dataset(d)
    assert len(report.problems) >= 1, "damage went unnoticed"
    return report.problems[0]


def test_intact_dataset_passes(data: Path, capsys: pytest.CaptureFixture[str]) -> None:
    report = check_dataset(data)
    assert report.ok and report.problems == []
    assert (report.files, report.jets, report.layout) == (3, 600, "h5")
    assert main(["data", "check", str(data)]) == 0
    out = capsys.readouterr()
    assert "600" in out.out and out.err == ""


def test_truncated_file(data: Path, capsys: pytest.CaptureFixture[str]) -> None:
    f = data / "newdata_1.h5"
    size = f.stat().st_size
    with open(f, "r+b") as fh:
        fh.truncate(size // 3)
    report = check_dataset(data)
    lines = [p for p in report.problems if "newdata_1.h5" in p]
    assert lines and "truncated or corrupt" in lines[0]
    assert all("\n" not in p for p in report.problems)
    assert report.jets == 400  # the two intact files still count
    assert main(["data", "check", str(data)]) == 1
    err = capsys.readouterr().err
    assert f"{f}: not a readable HDF5 file" in err


def test_wrong_shape_dataset(data: Path) -> None:
    f = data / "newdata_0.h5"
    with h5py.File(f, "a") as h5:
        del h5[TRACKS]
        h5.create_dataset(TRACKS, data=np.zeros((200, 30, 59), np.float32))
    problems = check_dataset(data, checksums=False).problems
    assert problems == [(f"{f}: {TRACKS}: shape (200, 30, 59), expected (N, 30, 60); "
                         "regenerate the dataset with `fairhep data synth`")]


def test_nan_in_svs_names_file_dataset_and_jet(data: Path) -> None:
    f = data / "newdata_2.h5"
    name = schema.h5_dataset_name("train", schema.H5_SV_INDEX)
    with h5py.File(f, "a") as h5:
        h5[name][17, 3, 2] = np.inf
        h5[name][150, 0, 0] = np.nan
    problems = check_dataset(data, checksums=False).problems
    assert problems == [(f"{f}: {name}: 2 jets hold NaN or inf (first at jet 17); "
                         "regenerate the dataset with `fairhep data synth`")]


def test_jet_with_two_labels(data: Path) -> None:
    f = data / "newdata_0.h5"
    with h5py.File(f, "a") as h5:
        h5[schema.H5_TARGET][5] = [1.0, 1.0]
    problem = only_problem(data)
    assert problem.startswith(f"{f}: {schema.H5_TARGET}: 1 jets do not have exactly one class")


def test_checksum_mismatch(data: Path) -> None:
    f = data / "newdata_2.h5"
    with h5py.File(f, "a") as h5:  # a valid file whose content changed
        h5[TRACKS][0, 0, 0] += 1.0
    problems = check_dataset(data).problems
    assert len(problems) == 1
    assert problems[0].startswith(f"{f}: sha256 ")
    assert "differs from the manifest" in problems[0]
    assert check_dataset(data, checksums=False).ok


def test_wrong_dtype_and_jet_count_and_unlisted_file(data: Path) -> None:
    f = data / "newdata_0.h5"
    with h5py.File(f, "a") as h5:
        target = h5[schema.H5_TARGET][:100]
        del h5[schema.H5_TARGET]
        h5.create_dataset(schema.H5_TARGET, data=target.astype(np.float64))
    shutil.copy(data / "newdata_1.h5", data / "newdata_7.h5")
    problems = check_dataset(data, checksums=False).problems
    assert f"{f}: {schema.H5_TARGET}: dtype float64, expected float32; " in problems[0]
    assert any(p.startswith(f"{f}: datasets disagree on the number of jets") for p in problems)
    assert any(p.startswith(f"{data / 'newdata_7.h5'}: not listed in the manifest")
               for p in problems)


def test_manifest_feature_order_and_missing_manifest(data: Path) -> None:
    path = data / schema.MANIFEST_NAME
    d = json.loads(path.read_text())
    feats = d["schema"]["track_features"]
    feats[3], feats[4] = feats[4], feats[3]
    path.write_text(json.dumps(d))
    problems = check_dataset(data).problems
    assert problems == [(f"{path}: schema.track_features differs from fairhep.schema (position 3 "
                         f"is {schema.TRACK_FEATURES[4]!r}, fairhep.schema has "
                         f"{schema.TRACK_FEATURES[3]!r}); regenerate the dataset with "
                         "`fairhep data synth`")]
    path.unlink()
    assert only_problem(data).startswith(f"{path}: missing")


def test_npy_layout(tmp_path: Path) -> None:
    synthesize(tmp_path, files=2, jets_per_file=50, seed=2, layout="npy", channels_last=True)
    report = check_dataset(tmp_path)
    assert report.ok and (report.layout, report.files, report.jets) == ("npy", 8, 100)
    svs = tmp_path / schema.NPY_TEST_SVS.format(k=1)
    np.save(svs, np.zeros((50, 5, 13), np.float32))
    problems = check_dataset(tmp_path, checksums=False).problems
    assert problems == [(f"{svs}: shape (50, 5, 13), expected (N, 14, 5); regenerate the dataset "
                         "with `fairhep data synth`")]


def test_no_dataset_is_an_error(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(DataError):
        check_dataset(tmp_path / "absent")
    assert main(["data", "check", str(tmp_path)]) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and str(tmp_path) in err
