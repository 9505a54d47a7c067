"""Reading jets: the HDF5 layout of the FAIR code, and its NumPy test layout.

Everything returns the network's layout (tracks ``(N, 30, 60)``, SVs ``(N, 14, 5)``,
float32) with integer labels (0 = QCD, 1 = H->bb). Files are read one at a time so memory
stays bounded by a file (~100k jets, ~780 MB at full size) whatever the dataset size.

Every block of jets is checked as it is read, so that training, evaluation and the bench
stop at the first bad block instead of after an epoch: tracks and SVs must be float32
(nothing is cast silently) and finite (:func:`check_finite`, one pass without a temporary
array when all is well); each problem is one line naming the file, the jets and the feature.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import h5py
import numpy as np
import numpy.typing as npt

from fairhep import schema
from fairhep.data.arrays import Float32Array, Int64Array, IntArray
from fairhep.data.verify import verify_dataset
from fairhep.errors import DataError


@dataclass
class JetArrays:
    tracks: Float32Array  # (N, 30, 60)
    svs: Float32Array  # (N, 14, 5)
    labels: Int64Array  # (N,), 0 = QCD, 1 = H->bb
    spectators: Float32Array | None = None  # (N, 11)

    def __len__(self) -> int:
        return int(self.labels.shape[0])

    def slice(self, sl: slice | IntArray) -> JetArrays:
        spec = None if self.spectators is None else self.spectators[sl]
        return JetArrays(self.tracks[sl], self.svs[sl], self.labels[sl], spec)

    @staticmethod
    def concat(parts: Sequence[JetArrays]) -> JetArrays:
        spectators = [p.spectators for p in parts if p.spectators is not None]
        spec = np.concatenate(spectators) if parts and len(spectators) == len(parts) else None
        return JetArrays(
            np.concatenate([p.tracks for p in parts]),
            np.concatenate([p.svs for p in parts]),
            np.concatenate([p.labels for p in parts]),
            spec,
        )


def _natural_key(path: Path) -> tuple[object, ...]:
    return tuple(int(t) if t.isdigit() else t for t in re.split(r"(\d+)", path.name))


def list_files(directory: Path, verify: bool = True) -> list[Path]:
    """The dataset's HDF5 files in natural order (newdata_2 before newdata_10), once they
    are known to be the files its manifest lists (``verify``; see :mod:`.verify`)."""
    directory = Path(directory)
    if not directory.is_dir():
        raise DataError(f"{directory}: dataset directory not found; pass --data DIR or run "
                        "`fairhep data synth --out DIR`")
    files = sorted(directory.glob(schema.H5_FILE_GLOB), key=_natural_key)
    if not files:
        raise DataError(f"{directory}: no {schema.H5_FILE_GLOB} files; convert or synthesise "
                        "a dataset into it first")
    if verify:
        verify_dataset(directory)
    return files


def _split_of(h5: h5py.File) -> str:
    for split, group in schema.H5_FEATURE_GROUP.items():
        if group in h5:
            return split
    raise KeyError(f"no {' or '.join(schema.H5_FEATURE_GROUP.values())} group")


def labels_from_onehot(target: npt.NDArray[np.floating], source: str) -> Int64Array:
    if target.ndim != 2 or target.shape[1] != len(schema.CLASSES):
        raise DataError(f"{source}: target has shape {target.shape}, expected (N, 2)")
    bad = np.flatnonzero(target.sum(axis=1) != 1)
    if bad.size:
        raise DataError(f"{source}: {bad.size} jets have no single label (first at {bad[0]}); "
                        "regenerate the file")
    return np.asarray(target.argmax(axis=1), np.int64)


def check_dtype(dtype: np.dtype[Any], path: Path, what: str, name: str) -> None:
    """Inputs are float32 as stored by the FAIR code; anything else is refused, not cast."""
    if dtype != np.float32:
        raise DataError(
            f"{path}: {what} ({name}) are {dtype}, expected float32; fairhep does not cast "
            "inputs silently: rewrite the file as float32 (`fairhep data convert` or "
            "`fairhep data synth` write float32)"
        )


def check_finite(arr: Float32Array, names: Sequence[str], path: Path, what: str,
                 start: int = 0) -> None:
    """Refuse NaN/inf in a (N, features, objects) block; ``start`` is its first jet's index
    in the file. The float64 sum is finite exactly when every element is (barring an
    overflow, which the exact check below then clears), so a clean block costs one pass."""
    if len(arr) == 0 or np.isfinite(arr.sum(dtype=np.float64)):
        return
    bad = ~np.isfinite(arr)
    jets = np.flatnonzero(bad.reshape(len(arr), -1).any(axis=1))
    if not len(jets):
        return
    first = int(jets[0])
    feature = names[int(np.flatnonzero(bad[first].any(axis=1))[0])]
    kinds = " and ".join(k for k, hit in (("NaN", np.isnan(arr[jets]).any()),
                                          ("inf", np.isinf(arr[jets]).any())) if hit)
    where = (f"jet {start + first} hold {kinds} (feature {feature})" if len(jets) == 1 else
             f"jets {start + first}-{start + int(jets[-1])} hold {kinds} ({len(jets)} jets; "
             f"first: jet {start + first}, feature {feature})")
    raise DataError(f"{path}: {what} of {where}; fix or remove the file (`fairhep data check "
                    f"{path.parent}` lists every problem)")


def read_file(path: Path, start: int = 0, stop: int | None = None) -> JetArrays:
    """Jets ``start:stop`` of one HDF5 file; a file of the wrong layout is a one-line DataError."""
    path = Path(path)
    try:
        with h5py.File(path, "r") as h5:
            split = _split_of(h5)
            tracks = h5[schema.h5_dataset_name(split, schema.H5_TRACK_INDEX)]
            svs = h5[schema.h5_dataset_name(split, schema.H5_SV_INDEX)]
            target = h5[schema.H5_TARGET]
            for what, ds, shape in (("tracks", tracks, schema.TRACK_SHAPE),
                                    ("SVs", svs, schema.SV_SHAPE)):
                if tuple(ds.shape[1:]) != shape:
                    raise DataError(
                        f"{path}: {what} dataset {ds.name} has shape {ds.shape}, expected "
                        f"(N, {shape[0]}, {shape[1]}); regenerate it with fairhep data convert"
                    )
                check_dtype(ds.dtype, path, what, ds.name)
            sl = slice(start, stop)
            spectators = None
            if schema.H5_SPECTATORS in h5:
                spectators = np.asarray(h5[schema.H5_SPECTATORS][sl], np.float32)
                # Explicit width: reshape(0, -1) is ambiguous for a file without jets.
                spectators = spectators.reshape(len(spectators), int(np.prod(spectators.shape[1:])))
            jets = JetArrays(
                np.asarray(tracks[sl], np.float32),
                np.asarray(svs[sl], np.float32),
                labels_from_onehot(np.asarray(target[sl]), str(path)),
                spectators,
            )
        check_finite(jets.tracks, schema.TRACK_FEATURES, path, "tracks", start)
        check_finite(jets.svs, schema.SV_FEATURES, path, "SVs", start)
        return jets
    except DataError:
        raise
    except (OSError, KeyError, ValueError, TypeError) as exc:
        raise DataError(f"{path}: unreadable or not in the fairhep/FAIR HDF5 layout ({exc}); "
                        "check it with `fairhep data check`") from None


def n_jets(path: Path) -> int:
    try:
        with h5py.File(path, "r") as h5:
            return int(h5[schema.H5_TARGET].shape[0])
    except (OSError, KeyError) as exc:
        raise DataError(f"{path}: unreadable HDF5 file ({exc}); check it with "
                        "`fairhep data check`") from None


def label_counts(files: Sequence[Path], subsets: Mapping[Path, IntArray] | None = None
                 ) -> Int64Array:
    """Jets per class (QCD, H->bb) in ``files`` (restricted to ``subsets``), from the targets
    alone: cheap enough to check a split before training on it."""
    counts = np.zeros(len(schema.CLASSES), np.int64)
    for f in files:
        subset = None if subsets is None else subsets.get(f)
        try:
            with h5py.File(f, "r") as h5:
                target = np.asarray(h5[schema.H5_TARGET][:])
        except (OSError, KeyError) as exc:
            raise DataError(f"{f}: unreadable HDF5 file ({exc}); check it with "
                            "`fairhep data check`") from None
        labels = labels_from_onehot(target, str(f))
        if subset is not None:
            labels = labels[np.asarray(subset)]
        counts += np.bincount(labels, minlength=len(schema.CLASSES))
    return counts


def read_files(files: Sequence[Path], max_jets: int | None = None) -> JetArrays:
    parts, total = [], 0
    for f in files:
        if max_jets is not None and total >= max_jets:
            break
        stop = None if max_jets is None else max_jets - total
        part = read_file(f, 0, stop)
        parts.append(part)
        total += len(part)
    if not parts:
        raise DataError("no jets to read: the file list is empty")
    return JetArrays.concat(parts)


def read_subset(f: Path, subset: IntArray | None) -> JetArrays:
    """The jets of ``f`` at the ascending indices ``subset`` (all when None), reading only up
    to the last one: a cap of a few jets per file must not read whole 100k-jet files."""
    if subset is None:
        return read_file(f)
    stop = int(subset[-1]) + 1 if len(subset) else 0
    return read_file(f, 0, stop).slice(np.asarray(subset))


def iter_batches(
    files: Sequence[Path],
    batch_size: int,
    shuffle: bool = False,
    rng: np.random.Generator | None = None,
    subsets: Mapping[Path, IntArray] | None = None,
) -> Iterator[JetArrays]:
    """Stream batches file by file; with ``shuffle``, file order and jets within a file are
    permuted by ``rng`` (the original code's shuffling granularity). ``subsets`` restricts a
    file to the given ascending jet indices (a split on jets, or a cap on jets per file)."""
    order = list(files)
    if shuffle:
        if rng is None:
            raise ValueError("shuffle needs an rng so that a seed fixes the order")
        order = [order[i] for i in rng.permutation(len(order))]
    for f in order:
        jets = read_subset(f, None if subsets is None else subsets.get(f))
        idx = rng.permutation(len(jets)) if shuffle and rng is not None else None
        for start in range(0, len(jets), batch_size):
            sel = slice(start, start + batch_size)
            yield jets.slice(idx[sel]) if idx is not None else jets.slice(sel)


def load_npy_test(directory: Path, max_jets: int | None = None) -> JetArrays:
    """The original test layout: ``test_<k>_features_2.npy`` (tracks), ``_3`` (SVs),
    ``test_<k>_truth_0.npy``; channels-last arrays (the older files) are transposed."""
    parts = list(iter_npy_test(directory, NPY_READ_JETS, max_jets))
    if not parts:  # files without jets
        return JetArrays(np.zeros((0, *schema.TRACK_SHAPE), np.float32),
                         np.zeros((0, *schema.SV_SHAPE), np.float32), np.zeros(0, np.int64))
    return JetArrays.concat(parts)


# Jets copied out of the memory-mapped NumPy files at a time (~0.5 GB).
NPY_READ_JETS = 65_536


def iter_npy_test(directory: Path, batch_size: int, max_jets: int | None = None
                  ) -> Iterator[JetArrays]:
    """The original test layout in batches of at most ``batch_size`` jets, each copied out
    of the memory-mapped files by itself (and checked for NaN/inf): memory does not grow
    with the 1.8 M test jets."""
    directory = Path(directory)
    ks = sorted(
        int(m.group(1))
        for p in directory.glob("test_*_truth_0.npy")
        if (m := re.match(r"test_(\d+)_truth_0\.npy$", p.name))
    )
    if not ks:
        raise DataError(f"{directory}: no test_<k>_truth_0.npy files (original NumPy test layout)")
    verify_dataset(directory)
    total = 0
    for k in ks:
        if max_jets is not None and total >= max_jets:
            break
        arrays = {}
        paths = {}
        for what, pattern, shape in (
            ("tracks", schema.NPY_TEST_TRACKS, schema.TRACK_SHAPE),
            ("svs", schema.NPY_TEST_SVS, schema.SV_SHAPE),
        ):
            path = paths[what] = directory / pattern.format(k=k)
            try:
                a = np.load(path, mmap_mode="r")
            except (OSError, ValueError) as exc:
                raise DataError(f"{path}: cannot be read ({exc})") from None
            if tuple(a.shape[1:]) == shape[::-1]:
                a = a.transpose(0, 2, 1)
            elif tuple(a.shape[1:]) != shape:
                raise DataError(f"{path}: shape {a.shape}, expected (N, {shape[0]}, {shape[1]}) "
                                f"or channels-last (N, {shape[1]}, {shape[0]})")
            check_dtype(a.dtype, path, what, path.name)
            arrays[what] = a
        truth_path = directory / schema.NPY_TEST_TRUTH.format(k=k)
        truth = np.load(truth_path)
        n = len(truth) if max_jets is None else min(len(truth), max_jets - total)
        labels = labels_from_onehot(truth[:n, : len(schema.CLASSES)], str(truth_path))
        for lo in range(0, n, batch_size):
            hi = min(n, lo + batch_size)
            part = JetArrays(np.ascontiguousarray(arrays["tracks"][lo:hi], np.float32),
                             np.ascontiguousarray(arrays["svs"][lo:hi], np.float32),
                             labels[lo:hi])
            check_finite(part.tracks, schema.TRACK_FEATURES, paths["tracks"], "tracks", lo)
            check_finite(part.svs, schema.SV_FEATURES, paths["svs"], "SVs", lo)
            yield part
        total += n


def load_dataset(directory: Path, max_jets: int | None = None) -> JetArrays:
    """A dataset directory in either layout (HDF5 files, or the original NumPy test files)."""
    directory = Path(directory)
    if directory.is_dir() and not any(directory.glob(schema.H5_FILE_GLOB)) and any(
        directory.glob("test_*_truth_0.npy")
    ):
        return load_npy_test(directory, max_jets)
    return read_files(list_files(directory), max_jets)
