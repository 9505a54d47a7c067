"""The loader on real HDF5 / NumPy files written here in the FAIR layout."""

from pathlib import Path

import h5py
import numpy as np
import pytest

from dataset_helpers import refresh_manifest
from fairhep import schema
from fairhep.data.load import iter_batches, list_files, load_dataset, load_npy_test, read_file
from fairhep.errors import DataError


def _write(path: Path, n: int, seed: int, track_shape=schema.TRACK_SHAPE) -> np.ndarray:
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, 2, n)
    with h5py.File(path, "w") as h5:
        h5[schema.h5_dataset_name("train", 2)] = rng.normal(size=(n, *track_shape)).astype("f4")
        h5[schema.h5_dataset_name("train", 3)] = rng.normal(size=(n, *schema.SV_SHAPE)).astype("f4")
        h5[schema.H5_TARGET] = np.eye(2, dtype="f4")[labels]
    return labels


def test_files_in_natural_order_and_batches(tmp_path: Path) -> None:
    labels = {i: _write(tmp_path / f"newdata_{i}.h5", 10, i) for i in (10, 2, 1)}
    files = list_files(tmp_path)
    assert [f.name for f in files] == ["newdata_1.h5", "newdata_2.h5", "newdata_10.h5"]
    batches = list(iter_batches(files, 4))
    assert [len(b) for b in batches] == [4, 4, 2] * 3
    assert np.array_equal(np.concatenate([b.labels for b in batches[:3]]), labels[1])
    rng_a, rng_b = np.random.default_rng(7), np.random.default_rng(7)
    a = np.concatenate([b.labels for b in iter_batches(files, 4, True, rng_a)])
    b = np.concatenate([b.labels for b in iter_batches(files, 4, True, rng_b)])
    assert np.array_equal(a, b) and sorted(a) == sorted(np.concatenate(list(labels.values())))


def test_wrong_shape_names_file_and_dataset(tmp_path: Path) -> None:
    _write(tmp_path / "newdata_0.h5", 5, 0, track_shape=(60, 30))
    with pytest.raises(DataError) as err:
        read_file(tmp_path / "newdata_0.h5")
    msg = str(err.value)
    assert "newdata_0.h5" in msg and "training_2" in msg and "(N, 30, 60)" in msg
    assert "\n" not in msg


def test_garbage_file_is_one_line_error(tmp_path: Path) -> None:
    (tmp_path / "newdata_0.h5").write_bytes(b"not hdf5 at all")
    with pytest.raises(DataError, match=r"newdata_0\.h5: unreadable"):
        read_file(tmp_path / "newdata_0.h5")


def test_missing_directory_says_how_to_fix(tmp_path: Path) -> None:
    with pytest.raises(DataError, match="fairhep data synth"):
        list_files(tmp_path / "nope")


def test_npy_layout_channels_last_is_transposed(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    tracks = rng.normal(size=(6, 60, 30)).astype("f4")  # older files: channels last
    svs = rng.normal(size=(6, 14, 5)).astype("f4")
    truth = np.eye(2, dtype="f4")[[0, 1, 1, 0, 1, 0]]
    np.save(tmp_path / "test_0_features_2.npy", tracks)
    np.save(tmp_path / "test_0_features_3.npy", svs)
    np.save(tmp_path / "test_0_truth_0.npy", truth)
    jets = load_dataset(tmp_path)
    assert jets.tracks.shape == (6, 30, 60)
    assert np.array_equal(jets.tracks, tracks.transpose(0, 2, 1))
    assert list(jets.labels) == [0, 1, 1, 0, 1, 0]
    assert len(load_npy_test(tmp_path, max_jets=4)) == 4


def test_nan_and_inf_name_the_file_the_jets_and_the_feature(tmp_path: Path) -> None:
    path = tmp_path / "newdata_0.h5"
    _write(path, 60, 0)
    with h5py.File(path, "a") as h5:
        h5[schema.h5_dataset_name("train", 3)][33, 7, 1] = np.inf  # sv_ntracks
        h5[schema.h5_dataset_name("train", 3)][35, 0, 0] = np.inf
    assert len(read_file(path, 0, 30)) == 30  # the jets before are fine
    with pytest.raises(DataError) as err:
        read_file(path, 30, 60)
    assert str(err.value).startswith(f"{path}: SVs of jets 33-35 hold inf (2 jets; first: jet "
                                     "33, feature sv_ntracks)")
    with pytest.raises(DataError, match="feature sv_ntracks"):
        load_dataset(tmp_path)  # what the bench modes read


def test_large_finite_values_are_not_taken_for_inf(tmp_path: Path) -> None:
    path = tmp_path / "newdata_0.h5"
    _write(path, 4, 0)
    with h5py.File(path, "a") as h5:
        h5[schema.h5_dataset_name("train", 2)][:, 0, :] = np.finfo(np.float32).max
    assert np.isfinite(read_file(path).tracks).all()


def test_npy_tracks_of_another_dtype_are_refused(tmp_path: Path) -> None:
    np.save(tmp_path / "test_0_features_2.npy", np.zeros((3, 30, 60), np.float64))
    np.save(tmp_path / "test_0_features_3.npy", np.zeros((3, 14, 5), np.float32))
    np.save(tmp_path / "test_0_truth_0.npy", np.eye(2, dtype="f4")[[0, 1, 0]])
    with pytest.raises(DataError, match="are float64, expected float32"):
        load_dataset(tmp_path)


def test_npy_layout_streams_in_batches_and_names_the_bad_jet_of_a_later_batch(
        tmp_path: Path) -> None:
    """What `evaluate` reads the original layout through: batches copied out of the memory
    maps one at a time (its memory does not grow with the test set), the same jets as the
    whole-set loader, and a NaN found in a later batch names its jet in the file."""
    from fairhep.data.load import iter_npy_test
    from fairhep.data.synth import synthesize

    synthesize(tmp_path, files=2, jets_per_file=50, seed=4, split="test", layout="npy")
    whole = load_npy_test(tmp_path)
    batches = list(iter_npy_test(tmp_path, 16))
    assert [len(b) for b in batches] == [16, 16, 16, 2] * 2
    for name in ("tracks", "svs", "labels"):
        assert np.array_equal(np.concatenate([getattr(b, name) for b in batches]),
                              getattr(whole, name))
    assert sum(len(b) for b in iter_npy_test(tmp_path, 16, max_jets=60)) == 60
    path = tmp_path / schema.NPY_TEST_TRACKS.format(k=1)
    tracks = np.load(path)
    tracks[37, 4, 0] = np.nan
    np.save(path, tracks)
    refresh_manifest(tmp_path)
    with pytest.raises(DataError, match=rf"{path}: tracks of jet 37 hold NaN"):
        list(iter_npy_test(tmp_path, 16))
