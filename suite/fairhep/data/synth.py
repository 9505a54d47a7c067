"""Synthetic H->bb and QCD jets in the exact FAIR layout, for tests and the embedded benchmark.

Two generators, chosen by name (``--generator``), each with a byte version the manifest and
the bench cache record (:data:`VERSIONS`):

* ``v2`` (the default, :mod:`fairhep.data.synth_v2`): jets built particle by particle from
  physics and the CMS descriptions of the ntuples, every number with its source in
  :mod:`fairhep.data.jetphysics` (`fairhep data synth --describe`); the published baseline
  tags its test jets with AUC 0.961 (issue 26's bar: 0.95).
* ``v1`` (:mod:`fairhep.data.synth_v1`): the first embedded default, a caricature with the
  same kind of information, kept so earlier records stay reproducible
  (:data:`fairhep.data.synth_options.DEFAULT_GENERATOR`).

Seeding: every block of :data:`BLOCK_JETS` jets of file ``i`` draws from its own stream
``SeedSequence([seed, i, block])``, so files are independent and a file's content depends
only on (generator, seed, file index, jets per file, difficulty).
"""


from __future__ import annotations

import os
from collections import deque
from collections.abc import Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path

import h5py
import numpy as np

from fairhep import schema
from fairhep.data import h5layout, synth_v1, synth_v2
from fairhep.data.arrays import Float32Array, Int64Array
from fairhep.data.h5layout import ProgressFn
from fairhep.data.load import JetArrays
from fairhep.data.manifest import FileEntry, Manifest, sha256_file
from fairhep.data.synth_options import (
    DEFAULT_DIFFICULTY,
    DEFAULT_GENERATOR,
    DIFFICULTY_DOC,
    GENERATORS,
    LAYOUTS,
    MAX_DIFFICULTY,
)
from fairhep.errors import DataError
from fairhep.writable import ensure_writable

BLOCK_JETS = 4096  # jets generated at once: cache-sized (fastest), fixes the random streams
VERSIONS = {"v1": synth_v1.VERSION, "v2": synth_v2.VERSION}
GENERATOR_VERSION = VERSIONS[DEFAULT_GENERATOR]  # the default generator's byte version

__doc__ = f"{__doc__}\n{DIFFICULTY_DOC}"


def _check_difficulty(difficulty: float | None) -> float:
    d = DEFAULT_DIFFICULTY if difficulty is None else float(difficulty)
    if not 0.0 <= d <= MAX_DIFFICULTY:
        raise DataError(f"difficulty {d} is outside [0, {MAX_DIFFICULTY}]: it is the fraction of "
                        "jets generated with the other class's physics")
    return d


def _check_generator(generator: str | None) -> str:
    g = DEFAULT_GENERATOR if generator is None else generator
    if g not in GENERATORS:
        raise DataError(f"unknown generator {g!r}; choose one of {list(GENERATORS)} "
                        "(--generator)")
    return g


def generate_jets(n: int, rng: np.random.Generator,
                  difficulty: float = DEFAULT_DIFFICULTY,
                  buffer: Float32Array | None = None,
                  generator: str | None = None) -> JetArrays:
    """``n`` jets (balanced classes, shuffled) in the network's layout, with spectators (N, 11),
    from ``generator`` (default :data:`DEFAULT_GENERATOR`).

    With ``buffer`` (float32, >= n * 30 * 60 elements) the tracks are written into it, so the
    returned tracks are overwritten by the next call that passes the same buffer.
    """
    g = _check_generator(generator)
    make = synth_v1.generate_jets if g == "v1" else synth_v2.generate_jets
    return make(n, rng, difficulty, buffer)


def block_rng(seed: int, file_index: int, block: int) -> np.random.Generator:
    return np.random.Generator(np.random.PCG64(np.random.SeedSequence([seed, file_index, block])))


def default_workers() -> int:
    return max(1, min(2, os.cpu_count() or 1))


def iter_file_blocks(seed: int, file_index: int, n_jets: int, difficulty: float,
                     workers: int = 1, generator: str | None = None
                     ) -> Iterator[tuple[int, JetArrays]]:
    """``(start, jets)`` for the blocks of at most :data:`BLOCK_JETS` jets of one file.

    ``workers`` > 1 generates the next blocks in threads while the caller writes this one
    (numpy releases the GIL); blocks have their own random streams, so the content does not
    depend on it. A block's arrays stay valid until the caller asks for the next block.
    """
    starts = list(range(0, n_jets, BLOCK_JETS))
    n_buf = workers + 1  # blocks in flight + the one the caller holds
    size = min(BLOCK_JETS, n_jets) * schema.N_TRACK_FEATURES * schema.N_TRACKS
    buffers = [np.empty(size, np.float32) for _ in range(min(n_buf, len(starts)))]

    def block(b: int) -> JetArrays:
        n = min(BLOCK_JETS, n_jets - starts[b])
        return generate_jets(n, block_rng(seed, file_index, b), difficulty, buffers[b % n_buf],
                             generator)

    if workers <= 1:
        for b, start in enumerate(starts):
            yield start, block(b)
        return
    with ThreadPoolExecutor(workers) as pool:
        pending: deque[Future[JetArrays]] = deque(
            pool.submit(block, b) for b in range(min(workers, len(starts))))
        for b, start in enumerate(starts):
            jets = pending.popleft().result()
            yield start, jets
            if b + workers < len(starts):  # reuses the buffer of block b - 1, long consumed
                pending.append(pool.submit(block, b + workers))


def onehot(labels: Int64Array) -> Float32Array:
    return np.take(np.eye(len(schema.CLASSES), dtype=np.float32), labels, axis=0)


def _stored(jets: JetArrays) -> tuple[Float32Array, ...]:
    """A block as the files store it: tracks, SVs, one-hot target, spectators (N, 1, 11)."""
    assert jets.spectators is not None, "generate_jets always makes spectators"
    return jets.tracks, jets.svs, onehot(jets.labels), jets.spectators[:, None, :]


def _write_h5(path: Path, seed: int, index: int, n: int, difficulty: float, split: str,
              workers: int, progress: ProgressFn | None, generator: str) -> None:
    tmp = path.with_name(path.name + ".tmp")
    with h5py.File(tmp, "w") as h5:
        h5layout.create_placeholders(h5, split, n)
        datasets = [h5.create_dataset(name, (n, *shape), np.float32)
                    for name, shape in schema.h5_datasets(split).items()]
        for start, jets in iter_file_blocks(seed, index, n, difficulty, workers, generator):
            sl = slice(start, start + len(jets))
            for ds, block in zip(datasets, _stored(jets), strict=True):
                ds[sl] = block
            if progress:
                progress(len(jets))
    os.replace(tmp, path)


def _write_npy(out_dir: Path, seed: int, k: int, n: int, difficulty: float,
               channels_last: bool, workers: int, progress: ProgressFn | None,
               generator: str) -> list[Path]:
    track_shape = schema.TRACK_SHAPE[::-1] if channels_last else schema.TRACK_SHAPE
    sv_shape = schema.SV_SHAPE[::-1] if channels_last else schema.SV_SHAPE
    # In the order of _stored.
    patterns = (schema.NPY_TEST_TRACKS, schema.NPY_TEST_SVS, schema.NPY_TEST_TRUTH,
                schema.NPY_TEST_SPECTATORS)
    shapes = (track_shape, sv_shape, schema.TARGET_SHAPE, schema.SPECTATOR_SHAPE)
    paths = [out_dir / pattern.format(k=k) for pattern in patterns]
    tmps = [p.with_name(p.name + ".tmp") for p in paths]
    arrays = [np.lib.format.open_memmap(t, mode="w+", dtype=np.float32, shape=(n, *shape))
              for t, shape in zip(tmps, shapes, strict=True)]
    for start, jets in iter_file_blocks(seed, k, n, difficulty, workers, generator):
        sl = slice(start, start + len(jets))
        for arr, block in zip(arrays, _stored(jets), strict=True):
            turn = channels_last and block.ndim == 3 and block.shape[1:] != arr.shape[1:]
            arr[sl] = block.transpose(0, 2, 1) if turn else block
        if progress:
            progress(len(jets))
    for arr, tmp, path in zip(arrays, tmps, paths, strict=True):
        arr.flush()
        del arr
        os.replace(tmp, path)
    return paths


def synthesize(
    out_dir: Path,
    files: int,
    jets_per_file: int,
    seed: int,
    difficulty: float | None = None,
    split: str = "train",
    layout: str = "h5",
    channels_last: bool = False,
    progress: ProgressFn | None = None,
    workers: int | None = None,
    generator: str | None = None,
) -> Manifest:
    """Write ``files`` synthetic files of ``jets_per_file`` jets and the manifest into ``out_dir``.

    ``layout="h5"``: ``newdata_<i>.h5`` in the FAIR HDF5 layout (group of ``split``).
    ``layout="npy"``: the original NumPy test layout, ``test_<k>_features_2.npy`` (tracks),
    ``_3`` (SVs), ``test_<k>_truth_0.npy``, ``test_<k>_spectators_0.npy``; channels first
    unless ``channels_last`` (the older files' (N, 60, 30) / (N, 5, 14)).
    ``progress`` is called with the number of jets after each block. ``workers`` threads
    generate blocks (default: up to 2 cores); the output does not depend on it.
    ``generator``: ``v1`` (default) or ``v2``; the manifest names it and its byte version.
    """
    d = _check_difficulty(difficulty)
    g = _check_generator(generator)
    if files < 1 or jets_per_file < 1:
        raise DataError(f"need at least one file and one jet per file (got files={files}, "
                        f"jets_per_file={jets_per_file})")
    h5layout.check_split(split)
    if layout not in LAYOUTS:
        raise DataError(f"layout {layout!r} is not one of {list(LAYOUTS)}")
    out_dir = Path(out_dir)
    # Checked before the first jet is read: a read-only target costs one line, at once.
    ensure_writable(out_dir, "output directory", "choose another with --out")
    # Files of an earlier, larger run would be read with this one: refuse rather than mix.
    stale = h5layout.other_files(out_dir, {schema.H5_FILE_PATTERN.format(index=i)
                                           for i in range(files)})
    if stale:
        raise DataError(f"{out_dir}: already holds {len(stale)} other dataset file(s) "
                        f"({stale[0]}, ...); synthesise into an empty directory")

    workers = default_workers() if workers is None else max(1, workers)
    entries: list[FileEntry] = []
    # Hash each finished file in the background while the next one is generated.
    with ThreadPoolExecutor(1) as hasher:
        digests: list[tuple[Path, int, Future[str]]] = []
        for i in range(files):
            if layout == "h5":
                path = out_dir / schema.H5_FILE_PATTERN.format(index=i)
                _write_h5(path, seed, i, jets_per_file, d, split, workers, progress, g)
                written = [path]
            else:
                written = _write_npy(out_dir, seed, i, jets_per_file, d, channels_last, workers,
                                     progress, g)
            # A NumPy file set holds one set of jets: count them once, on the truth file.
            truth = schema.NPY_TEST_TRUTH.format(k=i)
            digests += [(p, jets_per_file if layout == "h5" or p.name == truth else 0,
                         hasher.submit(sha256_file, p)) for p in written]
        entries = [FileEntry(p.name, jets, digest.result()) for p, jets, digest in digests]
    manifest = Manifest(
        origin="synthetic",
        files=entries,
        generator={
            "module": f"fairhep.data.synth_{g}",
            "generator": g,
            "version": VERSIONS[g],
            "seed": seed,
            "difficulty": d,
            "files": files,
            "jets_per_file": jets_per_file,
            "split": split,
            "layout": layout,
            "channels_last": channels_last if layout == "npy" else None,
            "block_jets": BLOCK_JETS,
        },
    )
    manifest.write(out_dir)
    return manifest
