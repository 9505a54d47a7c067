"""Validate a dataset directory against :mod:`fairhep.schema` and its manifest.

Every problem is ONE line naming the file, the dataset inside it and what is wrong, followed
by the fix; :func:`check_dataset` collects them in a :class:`CheckReport` instead of stopping
at the first, so one run lists everything that needs regenerating. Arrays are read in blocks,
so memory stays bounded whatever the file size.
"""

from __future__ import annotations

import contextlib
import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

import h5py
import numpy as np
import numpy.typing as npt

from fairhep import schema
from fairhep.data.load import list_files
from fairhep.data.verify import file_digests
from fairhep.errors import DataError

BLOCK_JETS = 8192  # jets read at once for the value checks

_NPY_TRUTH_RE = re.compile(r"test_(\d+)_truth_0\.npy$")


@dataclass
class CheckReport:
    directory: Path
    layout: str  # "h5" or "npy"
    files: int = 0  # data files examined
    jets: int = 0  # jets in the files that could be read
    problems: list[str] = field(default_factory=list)  # one line each

    @property
    def ok(self) -> bool:
        return not self.problems


class _Problems:
    """Collects one-line problems; ``fix`` is appended to those that concern a data file."""

    def __init__(self, fix: str) -> None:
        self.lines: list[str] = []
        self.fix = fix
        self.classes = np.zeros(len(schema.CLASSES), np.int64)  # valid jets per class

    def add(self, path: Path, dataset: str | None, what: str, fix: str | None = None) -> None:
        where = f"{path}: {dataset}: " if dataset else f"{path}: "
        self.lines.append(f"{where}{what}; {fix or self.fix}")

    def agree(self, path: Path, arrays: str, counts: dict[str, int]) -> bool:
        """Whether the arrays of one file (set) hold the same number of jets; a problem if not."""
        if len(set(counts.values())) <= 1:
            return True
        detail = ", ".join(f"{k} {v}" for k, v in counts.items())
        self.add(path, None, f"{arrays} disagree on the number of jets ({detail})")
        return False


class _Rows(Protocol):
    """An HDF5 dataset or a memory-mapped array: read a block of jets at a time."""

    def __getitem__(self, rows: slice, /) -> npt.ArrayLike: ...


def _fix_for(origin: str | None) -> str:
    if origin == "synthetic":
        return "regenerate the dataset with `fairhep data synth`"
    if origin == "cms-open-data":
        return "delete the file and re-run `fairhep data convert` (it skips intact files)"
    return "regenerate the file with `fairhep data convert` or `fairhep data synth`"


def _check_values(arr: _Rows, n: int, path: Path, name: str, out: _Problems,
                  onehot: bool = False) -> None:
    """NaN/inf (and one-hot labels) over the first ``n`` rows, block by block."""
    bad_rows, first, bad_labels, first_label, start = 0, -1, 0, -1, 0
    try:
        for start in range(0, n, BLOCK_JETS):
            block = np.asarray(arr[start:start + BLOCK_JETS])
            finite = np.isfinite(block.reshape(len(block), -1)).all(axis=1)
            if not finite.all():
                bad_rows += int((~finite).sum())
                first = first if first >= 0 else start + int(np.flatnonzero(~finite)[0])
            if onehot:
                block = block.reshape(len(block), -1)
                good = ((block == 0) | (block == 1)).all(axis=1) & (block.sum(axis=1) == 1)
                out.classes += np.bincount(block[good].argmax(axis=1),
                                           minlength=len(schema.CLASSES))
                if not good.all():
                    bad_labels += int((~good).sum())
                    if first_label < 0:
                        first_label = start + int(np.flatnonzero(~good)[0])
    except (OSError, ValueError, TypeError) as exc:
        out.add(path, name, f"data unreadable from jet {start} ({_short(exc)}): truncated or "
                "corrupt")
        return
    if bad_rows:
        out.add(path, name, f"{bad_rows} jets hold NaN or inf (first at jet {first})")
    if bad_labels:
        out.add(path, name, f"{bad_labels} jets do not have exactly one class in the one-hot "
                f"target (first at jet {first_label})")


def _short(exc: BaseException) -> str:
    return " ".join(str(exc).split())[:160]


def _check_h5_file(path: Path, out: _Problems) -> int | None:
    """Problems of one HDF5 file; returns its jet count when the layout is readable."""
    try:
        h5 = h5py.File(path, "r")
    except OSError as exc:
        out.add(path, None, f"not a readable HDF5 file ({_short(exc)}): truncated or corrupt")
        return None
    with h5:
        split = next((s for s, g in schema.H5_FEATURE_GROUP.items() if g in h5), None)
        if split is None:
            groups = " or ".join(schema.H5_FEATURE_GROUP.values())
            out.add(path, None, f"no {groups} group: not in the FAIR HDF5 layout")
            return None
        wanted = schema.h5_datasets(split)
        found: dict[str, h5py.Dataset] = {}
        for name, shape in wanted.items():
            try:
                ds = h5[name]
            except KeyError:
                out.add(path, name, "dataset missing")
                continue
            except (OSError, RuntimeError) as exc:  # a damaged object header
                out.add(path, name, f"dataset unreadable ({_short(exc)}): truncated or corrupt")
                continue
            if not isinstance(ds, h5py.Dataset):
                out.add(path, name, "is a group, expected a dataset")
                continue
            if ds.dtype != np.float32:
                out.add(path, name, f"dtype {ds.dtype}, expected float32")
            if ds.ndim != len(shape) + 1 or tuple(ds.shape[1:]) != shape:
                out.add(path, name, f"shape {ds.shape}, expected (N, "
                        f"{', '.join(map(str, shape))})")
                continue
            found[name] = ds
        counts = {name: int(ds.shape[0]) for name, ds in found.items()}
        if not out.agree(path, "datasets", counts):
            return None
        n = min(counts.values()) if counts else 0
        for name, ds in found.items():
            _check_values(ds, n, path, name, out, onehot=name == schema.H5_TARGET)
        return n if len(found) == len(wanted) else None


def _npy_files(directory: Path) -> dict[int, dict[str, Path]]:
    sets: dict[int, dict[str, Path]] = {}
    for p in directory.glob("test_*_truth_0.npy"):
        if m := _NPY_TRUTH_RE.match(p.name):
            k = int(m.group(1))
            sets[k] = {
                "tracks": directory / schema.NPY_TEST_TRACKS.format(k=k),
                "svs": directory / schema.NPY_TEST_SVS.format(k=k),
                "truth": p,
                "spectators": directory / schema.NPY_TEST_SPECTATORS.format(k=k),
            }
    return dict(sorted(sets.items()))


def _check_npy_set(paths: dict[str, Path], out: _Problems) -> int | None:
    shapes: dict[str, tuple[tuple[int, ...], list[tuple[int, ...]]]] = {
        "tracks": (schema.TRACK_SHAPE, [schema.TRACK_SHAPE[::-1]]),
        "svs": (schema.SV_SHAPE, [schema.SV_SHAPE[::-1]]),
        "truth": (schema.TARGET_SHAPE, []),
        "spectators": (schema.SPECTATOR_SHAPE, [(len(schema.SPECTATORS),)]),
    }
    arrays: dict[str, npt.NDArray[np.generic]] = {}
    for what, path in paths.items():
        if not path.exists():
            if what != "spectators":  # optional in the original layout
                out.add(path, None, f"missing ({what} of this test file)")
            continue
        try:
            a = np.load(path, mmap_mode="r")
        except (OSError, ValueError, EOFError) as exc:
            out.add(path, None, f"not a readable .npy file ({_short(exc)}): truncated or corrupt")
            continue
        shape, alternatives = shapes[what]
        got = tuple(a.shape[1:])
        if what == "truth" and a.ndim == 2 and a.shape[1] >= len(schema.CLASSES):
            pass  # the original truth arrays may carry extra columns after the two classes
        elif got != shape and got not in alternatives:
            out.add(path, None, f"shape {a.shape}, expected (N, {', '.join(map(str, shape))})")
            continue
        if a.dtype != np.float32:
            out.add(path, None, f"dtype {a.dtype}, expected float32")
        arrays[what] = a
    counts = {what: a.shape[0] for what, a in arrays.items()}
    if not out.agree(paths["truth"], "arrays", counts):
        return None
    for what, a in arrays.items():
        view = a[:, : len(schema.CLASSES)] if what == "truth" else a
        _check_values(view, a.shape[0], paths[what], what, out, onehot=what == "truth")
    return counts.get("truth")


def _check_manifest(directory: Path, data_files: list[Path], jets: dict[str, int],
                    checksums: bool, out: _Problems) -> None:
    path = directory / schema.MANIFEST_NAME
    try:
        d = json.loads(path.read_text())
    except FileNotFoundError:
        out.add(path, None, "missing: jet counts and checksums cannot be verified",
                "regenerate the dataset (the manifest is written with it)")
        return
    except (OSError, ValueError) as exc:
        out.add(path, None, f"malformed JSON ({_short(exc)})", "regenerate the dataset")
        return
    if d.get("schema_version") != schema.SCHEMA_VERSION:
        out.add(path, None, f"schema version {d.get('schema_version')!r}, this fairhep reads "
                f"{schema.SCHEMA_VERSION!r}")
    described = d.get("schema", {})
    for key, ours in (("track_features", schema.TRACK_FEATURES),
                      ("sv_features", schema.SV_FEATURES),
                      ("spectators", schema.SPECTATORS)):
        theirs = described.get(key)
        if theirs is None:
            out.add(path, None, f"schema.{key} missing: feature order cannot be verified")
        elif list(theirs) != list(ours):
            if len(theirs) != len(ours):
                what = f"{len(theirs)} entries, fairhep.schema has {len(ours)}"
            else:
                i = next(i for i, (a, b) in enumerate(zip(theirs, ours, strict=True)) if a != b)
                what = f"position {i} is {theirs[i]!r}, fairhep.schema has {ours[i]!r}"
            out.add(path, None, f"schema.{key} differs from fairhep.schema ({what})")
    for key, ours_n in (("n_tracks", schema.N_TRACKS), ("n_svs", schema.N_SVS)):
        if key in described and described[key] != ours_n:
            out.add(path, None, f"schema.{key} is {described[key]}, fairhep.schema has {ours_n}")

    entries = {}
    for entry in d.get("files", []):
        if not isinstance(entry, dict) or not {"name", "jets", "sha256"} <= set(entry):
            out.add(path, None, f"malformed file entry {entry!r}", "regenerate the dataset")
            continue
        entries[entry["name"]] = entry
    on_disk = {p.name: p for p in data_files}
    # Hashed once for `data check` and every reader alike (the cache of .verify).
    digests = file_digests([directory / n for n in entries if (directory / n).is_file()]
                           if checksums else [])
    for name, entry in entries.items():
        file = directory / name
        if not file.exists():
            out.add(file, None, "listed in the manifest but missing")
            continue
        if name in jets and entry["jets"] and jets[name] != entry["jets"]:
            out.add(file, None, f"holds {jets[name]} jets, the manifest says {entry['jets']}")
        if checksums:
            digest = digests.get(file)  # None: not a file, said above
            if digest is not None and digest != entry["sha256"]:
                out.add(file, None, f"sha256 {digest[:12]}... differs from the manifest's "
                        f"{entry['sha256'][:12]}...: the file changed or is corrupt")
    for name in sorted(set(on_disk) - set(entries)):
        out.add(on_disk[name], None, "not listed in the manifest")


def check_dataset(directory: Path, checksums: bool = True) -> CheckReport:
    """Check every data file of ``directory`` (HDF5 layout, or the original NumPy test layout).

    Raises :class:`DataError` only when there is no dataset to check at all; everything
    else is reported as one line per problem in the returned report.
    """
    directory = Path(directory)
    if not directory.is_dir():
        raise DataError(f"{directory}: dataset directory not found")
    origin = None
    with contextlib.suppress(OSError, ValueError, AttributeError):  # see _check_manifest
        origin = json.loads((directory / schema.MANIFEST_NAME).read_text()).get("origin")
    out = _Problems(_fix_for(origin))
    jets: dict[str, int] = {}
    npy_sets = _npy_files(directory)
    if any(directory.glob(schema.H5_FILE_GLOB)) or not npy_sets:
        layout = "h5"
        # Raises DataError when there are none; the manifest is compared below, file by file.
        data_files = list_files(directory, verify=False)
        for path in data_files:
            n = _check_h5_file(path, out)
            if n is not None:
                jets[path.name] = n
    else:
        layout = "npy"
        data_files = []
        for paths in npy_sets.values():
            data_files += [p for p in paths.values() if p.exists()]
            n = _check_npy_set(paths, out)
            if n is not None:
                jets[paths["truth"].name] = n
    _check_manifest(directory, data_files, jets, checksums, out)
    _check_classes(directory, out)
    return CheckReport(directory, layout, files=len(data_files), jets=sum(jets.values()),
                       problems=out.lines)


def _check_classes(directory: Path, out: _Problems) -> None:
    """A dataset of one class cannot train a tagger and has no AUC: say so."""
    present = [c for c, n in zip(schema.CLASSES, out.classes, strict=True) if n]
    if len(present) == 1:
        missing = [c for c in schema.CLASSES if c not in present]
        out.add(directory, None, f"all {int(out.classes.sum())} jets are {present[0]}, none "
                f"{missing[0]}: the AUC is undefined on it and no classifier can be trained "
                f"on it", f"add {missing[0]} jets (files of the other sample)")


def print_report(report: CheckReport) -> None:
    """A short table on stdout, then each problem as one plain line on stderr."""
    import sys

    from rich.console import Console
    from rich.table import Table

    table = Table(title=f"data check: {report.directory}", show_header=False, title_justify="left")
    table.add_row("layout", report.layout)
    table.add_row("files", str(report.files))
    table.add_row("jets", f"{report.jets:,}")
    table.add_row("problems", "[green]none[/]" if report.ok else f"[red]{len(report.problems)}[/]")
    Console().print(table)
    for line in report.problems:
        print(line, file=sys.stderr)
