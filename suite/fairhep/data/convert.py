"""CMS open-data ntuples (HiggsToBBNTuple, TTree ``deepntuplizer/tree``) -> FAIR HDF5 files.

What the FAIR converter does, made explicit:

* Each ROOT file is cut into entry ranges of ``jets_per_file`` jets; each range becomes one
  ``newdata_<counter>.h5`` and never spans two ROOT files. The counter runs across the input
  files in the order given, so a range always maps to the same output name.
* Output files that already exist are skipped (resume after an interruption): a file is
  written under a temporary name and renamed only when complete, and it records its source
  file and entry range in HDF5 attributes so that a resume with a different input order is
  caught instead of silently mixing.
* Labels: target = [sample_isQCD * fj_isQCD, fj_isH] (the FAIR code's convention). Jets
  matching neither (or, should it happen, both) class are dropped
  (``schema.UNLABELLED_POLICY``); their numbers go into the attributes and the manifest.
* Tracks and SVs keep the ntuple order (tracks by descending 2-D IP significance, SVs by
  descending dxy significance), are cut at 60 / 5 and zero-padded, float32, channels first.
* Reading goes through ``uproot`` in steps of ``step_size`` entries (or a size such as
  ``"100 MB"``) and each step is appended to the growing HDF5 datasets on disk, so memory
  is bounded by one step: neither the dataset nor an output file is ever held in memory.
"""

from __future__ import annotations

import math
import os
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import h5py
import numpy as np

from fairhep import schema
from fairhep.data import h5layout, jagged
from fairhep.data.arrays import BoolArray, Float32Array
from fairhep.data.h5layout import ProgressFn
from fairhep.data.manifest import FileEntry, Manifest, sha256_file
from fairhep.errors import DataError
from fairhep.writable import ensure_writable

DEFAULT_STEP_SIZE = 20_000
CONVERTER_VERSION = "1"
_H5_CHUNK_JETS = 256
_ATTR = "fairhep_"  # prefix of the provenance attributes on each output file


def required_branches() -> tuple[str, ...]:
    return schema.TRACK_FEATURES + schema.SV_FEATURES + schema.SPECTATORS + schema.LABEL_BRANCHES


class _Tree(Protocol):
    """What the converter uses of an uproot TTree (uproot has no type hints; the arrays it
    yields are awkward record arrays, typed Any)."""

    @property
    def num_entries(self) -> int: ...

    def __contains__(self, branch: str) -> bool: ...

    def iterate(self, expressions: list[str], *, entry_start: int, entry_stop: int,
                step_size: int | str, library: str) -> Iterator[Any]: ...


@dataclass
class _Chunk:
    index: int  # output counter
    source: Path
    start: int
    stop: int

    @property
    def path_name(self) -> str:
        return schema.H5_FILE_PATTERN.format(index=self.index)


def _open_tree(path: Path) -> _Tree:
    import uproot

    try:
        f = uproot.open(path)
    except FileNotFoundError:
        raise DataError(f"{path}: ROOT file not found") from None
    except Exception as exc:  # uproot raises many types for a damaged file
        raise DataError(f"{path}: not a readable ROOT file ({type(exc).__name__}: "
                        f"{' '.join(str(exc).split())[:160]})") from None
    try:
        tree: _Tree = f[schema.ROOT_TREE]
    except Exception:
        raise DataError(f"{path}: no TTree {schema.ROOT_TREE!r}: not a HiggsToBBNTuple "
                        "ntuple") from None
    missing = [b for b in required_branches() if b not in tree]
    if missing:
        raise DataError(f"{path}: TTree {schema.ROOT_TREE} lacks branch(es) "
                        f"{', '.join(missing)} needed by fairhep.schema; use the "
                        f"HiggsToBBNTuple files of doi:{schema.DATASET_DOI}")
    return tree


def plan(root_files: Sequence[Path], jets_per_file: int) -> list[_Chunk]:
    """Every output file: its counter, source ROOT file and entry range."""
    chunks: list[_Chunk] = []
    for path in root_files:
        n = int(_open_tree(Path(path)).num_entries)
        for c in range(math.ceil(n / jets_per_file)):
            chunks.append(_Chunk(len(chunks), Path(path), c * jets_per_file,
                                 min(n, (c + 1) * jets_per_file)))
    return chunks


def _to_numpy(array: object, what: str, source: Path) -> Float32Array:
    try:
        return np.asarray(array, dtype=np.float32)
    except (ValueError, TypeError) as exc:
        raise DataError(f"{source}: branch {what} cannot be read as numbers ({exc})") from None


def _pad_branches(sel: Any, names: Sequence[str], n_max: int, source: Path) -> Float32Array:
    """Jagged per-jet branches ``names`` -> (n_jets, len(names), n_max), ntuple order kept."""
    import awkward as ak

    counts = np.asarray(ak.num(sel[names[0]], axis=1), np.int64)
    for name in names[1:]:
        if not np.array_equal(np.asarray(ak.num(sel[name], axis=1)), counts):
            raise DataError(f"{source}: branch {name} has a different number of entries per "
                            f"jet than {names[0]}; the ntuple is inconsistent")
    jet, slot = jagged.positions(counts)
    flat = [_to_numpy(ak.flatten(sel[name], axis=1), name, source) for name in names]
    return jagged.pad(flat, jet, slot, len(counts), n_max)


def _labels(arrays: Any, source: Path) -> tuple[Float32Array, BoolArray, BoolArray]:
    """One-hot targets of the labelled jets, the keep mask, and the ambiguous-jet mask."""
    is_qcd_sample, is_qcd, is_h = (
        _to_numpy(arrays[name], name, source) for name in schema.LABEL_BRANCHES
    )
    target = np.zeros((len(is_h), len(schema.CLASSES)), np.float32)
    target[:, schema.QCD] = is_qcd_sample * is_qcd
    target[:, schema.HBB] = is_h
    total = target.sum(axis=1)
    keep = total == 1
    ambiguous = total > 1
    return target[keep], keep, ambiguous


def _create(h5: h5py.File, name: str, shape: tuple[int, ...]) -> h5py.Dataset:
    return h5.create_dataset(name, (0, *shape), np.float32, maxshape=(None, *shape),
                             chunks=(_H5_CHUNK_JETS, *shape))


def _append(ds: h5py.Dataset, block: Float32Array) -> None:
    n = ds.shape[0]
    ds.resize(n + len(block), axis=0)
    ds[n:] = block


def _convert_chunk(chunk: _Chunk, path: Path, split: str, step_size: int | str,
                   progress: ProgressFn | None) -> dict[str, int]:
    tree = _open_tree(chunk.source)
    tmp = path.with_name(path.name + ".tmp")
    counts = {"entries": chunk.stop - chunk.start, "jets": 0, "dropped_unlabelled": 0,
              "dropped_ambiguous": 0}
    try:
        _write_chunk(tree, chunk, tmp, split, step_size, counts, progress)
    except BaseException:
        tmp.unlink(missing_ok=True)  # never leave a half-written file behind
        raise
    os.replace(tmp, path)
    return counts


def _write_chunk(tree: _Tree, chunk: _Chunk, tmp: Path, split: str, step_size: int | str,
                 counts: dict[str, int], progress: ProgressFn | None) -> None:
    with h5py.File(tmp, "w") as h5:
        datasets = [_create(h5, name, shape) for name, shape in schema.h5_datasets(split).items()]
        for arrays in tree.iterate(list(required_branches()), entry_start=chunk.start,
                                   entry_stop=chunk.stop, step_size=step_size, library="ak"):
            onehot, keep, ambiguous = _labels(arrays, chunk.source)
            counts["dropped_ambiguous"] += int(ambiguous.sum())
            counts["dropped_unlabelled"] += int((~keep & ~ambiguous).sum())
            sel = arrays if keep.all() else arrays[keep]
            blocks = (  # in the order of schema.h5_datasets
                _pad_branches(sel, schema.TRACK_FEATURES, schema.N_TRACKS, chunk.source),
                _pad_branches(sel, schema.SV_FEATURES, schema.N_SVS, chunk.source),
                onehot,
                np.stack([_to_numpy(sel[name], name, chunk.source)
                          for name in schema.SPECTATORS], axis=1)[:, None, :],
            )
            for ds, block in zip(datasets, blocks, strict=True):
                _append(ds, block)
            counts["jets"] += int(keep.sum())
            if progress:
                progress(len(keep))
        n = counts["jets"]
        h5layout.create_placeholders(h5, split, n)
        h5.attrs[_ATTR + "source"] = str(chunk.source)
        h5.attrs[_ATTR + "entry_start"] = chunk.start
        h5.attrs[_ATTR + "entry_stop"] = chunk.stop
        for key in ("dropped_unlabelled", "dropped_ambiguous"):
            h5.attrs[_ATTR + key] = counts[key]
        h5.attrs[_ATTR + "schema_version"] = schema.SCHEMA_VERSION


def _existing(chunk: _Chunk, path: Path) -> dict[str, int]:
    """Counts of an output file written by an earlier run; it must match this run's plan."""
    try:
        with h5py.File(path, "r") as h5:
            a = dict(h5.attrs)
            jets = int(h5[schema.H5_TARGET].shape[0])
    except (OSError, KeyError) as exc:
        raise DataError(f"{path}: exists but cannot be read ({exc}); delete it and re-run "
                        "to convert it again") from None
    want = (Path(chunk.source).name, chunk.start, chunk.stop)
    got = (Path(str(a.get(_ATTR + "source", "?"))).name, a.get(_ATTR + "entry_start"),
           a.get(_ATTR + "entry_stop"))
    if got != want:
        raise DataError(f"{path}: holds {got[0]} entries {got[1]}-{got[2]}, but this run maps "
                        f"it to {want[0]} entries {want[1]}-{want[2]}; give the ROOT files in "
                        "the same order as before, or convert into an empty directory")
    return {"entries": chunk.stop - chunk.start, "jets": jets,
            "dropped_unlabelled": int(a.get(_ATTR + "dropped_unlabelled", 0)),
            "dropped_ambiguous": int(a.get(_ATTR + "dropped_ambiguous", 0))}


def convert(
    root_files: Sequence[Path],
    out_dir: Path,
    jets_per_file: int = schema.JETS_PER_FILE,
    step_size: int | str = DEFAULT_STEP_SIZE,
    split: str = "train",
    progress: ProgressFn | None = None,
) -> Manifest:
    """Convert ``root_files`` into ``out_dir`` (see the module docstring); returns the manifest.

    ``progress`` is called with the number of entries read after each step (:func:`plan`
    gives the total for a progress bar).
    """
    if not root_files:
        raise DataError("no ROOT files given")
    if jets_per_file < 1:
        raise DataError(f"jets per file must be positive (got {jets_per_file})")
    h5layout.check_split(split)
    out_dir = Path(out_dir)
    chunks = plan([Path(p) for p in root_files], jets_per_file)
    # Checked before the first jet is read: a read-only target costs one line, at once.
    ensure_writable(out_dir, "output directory", "choose another with --out")
    stale = h5layout.other_files(out_dir, {c.path_name for c in chunks})
    if stale:
        raise DataError(f"{out_dir}: holds {len(stale)} file(s) this conversion would not write "
                        f"({stale[0]}, ...); convert into an empty directory")
    entries: list[FileEntry] = []
    sources: dict[str, dict[str, int]] = {}
    skipped = 0
    for chunk in chunks:
        path = out_dir / chunk.path_name
        if path.exists():
            counts = _existing(chunk, path)
            skipped += 1
            if progress:
                progress(counts["entries"])
        else:
            counts = _convert_chunk(chunk, path, split, step_size, progress)
        src = sources.setdefault(str(chunk.source), dict.fromkeys(counts, 0) | {"files": 0})
        for k, v in counts.items():
            src[k] += v
        src["files"] += 1
        entries.append(FileEntry(path.name, counts["jets"], sha256_file(path), str(chunk.source)))
    manifest = Manifest(
        origin="cms-open-data",
        files=entries,
        generator={
            "module": __name__,
            "version": CONVERTER_VERSION,
            "tree": schema.ROOT_TREE,
            "jets_per_file": jets_per_file,
            "step_size": step_size,
            "split": split,
            "label": "target = [sample_isQCD * fj_isQCD, fj_isH]",
            "unlabelled_policy": schema.UNLABELLED_POLICY,
            "entries": sum(s["entries"] for s in sources.values()),
            "dropped_unlabelled": sum(s["dropped_unlabelled"] for s in sources.values()),
            "dropped_ambiguous": sum(s["dropped_ambiguous"] for s in sources.values()),
            "files_skipped_existing": skipped,
            "sources": [{"file": k, **v} for k, v in sources.items()],
        },
    )
    manifest.write(out_dir)
    return manifest
