"""The validation sample of a bundle: N jets in the suite's HDF5 layout and the scores the
reference engine gave them (Les Houches: "a sample of input features and output values for
technical validation").

The jets come from a test set (``--data``: its first N jets), from the held-out jets of the
run's own training (the validation files or jets its split kept out of training), or are
synthetic with a recorded seed; ``validation/manifest.json`` says which, so generated jets
are labelled as generated wherever they show. ``validation/`` is a dataset directory in its
own right: ``fairhep data check`` and ``fairhep evaluate --data`` read it.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import h5py
import numpy as np

from fairhep import schema
from fairhep.data import h5layout, load
from fairhep.data.load import JetArrays
from fairhep.data.manifest import FileEntry, Manifest, manifest_path, sha256_file
from fairhep.data.synth import onehot, synthesize
from fairhep.errors import DataError
from fairhep.fair.bundle import EXPECTED, VALIDATION_META, BundleError

SAMPLE_FILE = schema.H5_FILE_PATTERN.format(index=0)
SPLIT = "test"
BATCH_SIZE = 128  # the paper's batch (Table 8); every runtime sees the same batches


def _write_jets(path: Path, jets: JetArrays) -> None:
    tmp = path.with_name(path.name + ".tmp")
    n = len(jets)
    spectators = (np.zeros((n, *schema.SPECTATOR_SHAPE), np.float32) if jets.spectators is None
                  else jets.spectators.reshape(n, *schema.SPECTATOR_SHAPE))
    stored = (jets.tracks, jets.svs, onehot(jets.labels), spectators)
    with h5py.File(tmp, "w") as h5:
        h5layout.create_placeholders(h5, SPLIT, n)
        for (name, shape), block in zip(schema.h5_datasets(SPLIT).items(), stored, strict=True):
            h5.create_dataset(name, (n, *shape), np.float32, data=block)
    os.replace(tmp, path)


def _first_jets(files: list[Path], n: int, subsets: dict[Path, Any] | None = None) -> JetArrays:
    parts: list[JetArrays] = []
    got = 0
    for batch in load.iter_batches(files, n, subsets=subsets):
        parts.append(batch.slice(slice(0, n - got)))
        got += len(parts[-1])
        if got >= n:
            break
    if not parts:
        raise DataError(f"{files[0].parent if files else '?'}: no jets to take a validation "
                        "sample from")
    return JetArrays.concat(parts)


def held_out_files(run_dir: Path) -> tuple[Path, list[Path], dict[Path, Any]] | None:
    """The data folder, files and jet subsets the run's split kept out of training, when the
    run's ``model.json`` names a training whose data is still here; else None."""
    from fairhep.model import RUN_CONFIG
    from fairhep.splits import make_split

    try:
        training = json.loads((run_dir / RUN_CONFIG).read_text()).get("training")
    except (OSError, ValueError):
        return None
    if not isinstance(training, dict) or not Path(str(training.get("data", ""))).is_dir():
        return None
    data = Path(training["data"])
    try:
        split = make_split(load.list_files(data), str(training["split"]), int(training["seed"]),
                           int(training["fold"]), int(training["fold_files"]),
                           training.get("max_jets"), float(training["valid_fraction"]))
    except (DataError, KeyError, ValueError, TypeError):
        return None
    return data, split.valid.files, split.valid.subsets


def write_sample(out: Path, n: int, *, data: Path | None = None, run: Path | None = None,
                 seed: int = 0) -> dict[str, Any]:
    """Write ``n`` jets into ``out`` (``newdata_0.h5`` + ``manifest.json``); return the
    description of where they came from (recorded in ``validation.json`` and the card)."""
    if n < 1:
        raise DataError(f"--validation-jets must be positive, got {n}")
    out.mkdir(parents=True, exist_ok=True)
    source: dict[str, Any]
    held = held_out_files(run) if run is not None and data is None else None
    if data is None and held is None:
        synthesize(out, files=1, jets_per_file=n, seed=seed, split=SPLIT)
        return {"kind": "synthetic", "seed": seed, "generator": "fairhep.data.synth",
                "note": "generated jets (fairhep data synth), not CMS simulation",
                "n_jets": n}
    if data is not None:
        data = Path(data)
        jets = load.load_dataset(data, n)
        source = {"kind": "test data", "path": str(data),
                  "selection": f"the first {len(jets)} jets of the dataset"}
    else:
        assert held is not None
        data, files, subsets = held
        jets = _first_jets(files, n, subsets)
        source = {"kind": "held-out training data", "path": str(data),
                  "files": [f.name for f in files],
                  "selection": f"the first {len(jets)} jets the run's split kept out of "
                  "training (its validation part)"}
    if len(jets) < n:
        source["note"] = f"the source holds only {len(jets)} jets"
    origin = "unknown"
    if (m := manifest_path(data)) is not None:
        source["manifest_sha256"] = sha256_file(m)
        try:
            origin = Manifest.read(data).origin
        except DataError:
            origin = "unknown"
    source["origin"] = origin
    source["n_jets"] = len(jets)
    if jets.spectators is None:
        source["spectators"] = "not in the source: stored as zeros"
    path = out / SAMPLE_FILE
    _write_jets(path, jets)
    Manifest(origin=origin, files=[FileEntry(SAMPLE_FILE, len(jets), sha256_file(path),
                                             source=str(data))],
             generator={"module": __name__, "source": source}).write(out)
    return source


def read_sample(folder: Path) -> JetArrays:
    return load.read_file(folder / SAMPLE_FILE)


def score_batches(jets: JetArrays, predict: Callable[[np.ndarray, np.ndarray], np.ndarray],
                  batch_size: int = BATCH_SIZE,
                  progress: Callable[[int], None] | None = None) -> np.ndarray:
    """Scores of every jet, in order, in batches of ``batch_size``."""
    parts = []
    for start in range(0, len(jets), batch_size):
        sl = slice(start, start + batch_size)
        parts.append(np.asarray(predict(jets.tracks[sl], jets.svs[sl]), np.float32))
        if progress is not None:
            progress(len(parts[-1]))
    return np.concatenate(parts)


def write_expected(folder: Path, scores: np.ndarray, meta: dict[str, Any]) -> None:
    np.save(folder / EXPECTED, np.ascontiguousarray(scores, np.float32))
    meta = {**meta, "expected": EXPECTED, "expected_sha256": sha256_file(folder / EXPECTED),
            "jets": SAMPLE_FILE, "batch_size": BATCH_SIZE}
    (folder / VALIDATION_META).write_text(json.dumps(meta, indent=2, sort_keys=True) + "\n")


def read_expected(folder: Path, n_jets: int) -> np.ndarray:
    path = folder / EXPECTED
    try:
        scores = np.load(path, allow_pickle=False)
    except (OSError, ValueError) as exc:
        raise BundleError(f"{path}: unreadable ({exc}); package the bundle again") from None
    if scores.shape != (n_jets, len(schema.CLASSES)):
        raise BundleError(f"{path}: shape {scores.shape}, the sample has {n_jets} jets x "
                          f"{len(schema.CLASSES)} classes; package the bundle again")
    return np.asarray(scores, np.float32)


# A score this close to 0 or 1 is saturated: a porting error barely moves it, so the sample
# keeps jets whose H->bb score lies inside the window, chosen from CANDIDATES x N jets.
SATURATION = 0.01
CANDIDATES = 4


def unsaturated(scores: np.ndarray, n: int,
                window: float = SATURATION) -> tuple[np.ndarray, dict[str, Any]]:
    """Indices of up to ``n`` jets whose H->bb score lies in [window, 1 - window], in their
    order; when fewer qualify, the least saturated others fill up to ``n`` (and the record
    says how many). Returns (indices, what was kept and why)."""
    hbb = np.asarray(scores, np.float64)[:, -1]
    distance = np.minimum(hbb, 1 - hbb)
    inside = np.flatnonzero(distance >= window)
    keep = inside[:n]
    if len(keep) < n:
        rest = np.setdiff1d(np.arange(len(hbb)), keep)
        fill = rest[np.argsort(-distance[rest], kind="stable")][: n - len(keep)]
        keep = np.sort(np.concatenate([keep, fill]))
    info = {"candidates": len(hbb), "kept": len(keep),
            "inside_window": int(min(len(inside), n)), "window": [window, 1 - window],
            "rule": f"jets whose reference H->bb score lies in [{window}, {1 - window}] "
            f"(not saturated), the first {n} of {len(hbb)} candidates; fewer inside: the "
            "least saturated others fill up",
            "saturated_fraction_of_candidates": float(np.mean(distance < window))}
    return keep, info


def keep_jets(folder: Path, jets: JetArrays, idx: np.ndarray, selection: dict[str, Any]) -> \
        JetArrays:
    """Rewrite the sample in ``folder`` with ``jets[idx]`` and record ``selection`` in its
    manifest."""
    kept = jets.slice(idx)
    path = folder / SAMPLE_FILE
    _write_jets(path, kept)
    old = Manifest.read(folder)
    Manifest(origin=old.origin, files=[FileEntry(SAMPLE_FILE, len(kept), sha256_file(path),
                                                 source=old.files[0].source if old.files
                                                 else None)],
             dataset_doi=old.dataset_doi,
             generator={**old.generator, "selection": selection}).write(folder)
    return kept


def swap_sensitivity(jets: JetArrays, predict: Callable[[np.ndarray, np.ndarray], np.ndarray],
                     expected: np.ndarray) -> dict[str, Any]:
    """The card's claim measured: max |Δscore| over the sample when the first two track
    features, or the first two SV features, trade places (a feature-order porting error)."""
    out: dict[str, Any] = {}
    for which, name in ((0, "track features 0 and 1 swapped"), (1, "SV features 0 and 1 swapped")):
        tracks, svs = jets.tracks.copy(), jets.svs.copy()
        arr = tracks if which == 0 else svs
        arr[:, [0, 1], :] = arr[:, [1, 0], :]  # channels first: (jets, features, objects)
        swapped = JetArrays(tracks, svs, jets.labels, jets.spectators)
        moved = np.abs(score_batches(swapped, predict) - expected).max(axis=1)
        out[name] = {"max_abs_delta": float(moved.max()),
                     "median_abs_delta": float(np.median(moved))}
    out["smallest_max_abs_delta"] = min(v["max_abs_delta"] for v in out.values()
                                        if isinstance(v, dict))
    return out
