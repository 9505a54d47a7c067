"""Whether a dataset's files are the ones its manifest lists, before jets are read from it
and before a record names its manifest.

Every reader comes here through :func:`fairhep.data.load.list_files` (the HDF5 layout) or
the NumPy test layout's reader, so ``train``, ``evaluate``, ``bench``, ``xai`` and
``package`` refuse, in one line and before any work, a dataset whose files differ from its
manifest (changed, corrupt, missing or unlisted): a record would otherwise name data that are
not on disk. A dataset without a manifest is read as it is, and its records name none.

Cost: SHA-256 reads every byte (1.6 s for two 780 MB files on 2 busy cores, from the page
cache; files are hashed in parallel). So a file is hashed once and its digest kept with what
``stat`` says of it (size, mtime, ctime, inode) in the fairhep cache
(``$FAIRHEP_CACHE/verified-data.json``); while those stay the same, later runs only ``stat``
it (0.7 ms for those two files). Writing a file changes its ctime, which
no user can set back, so a changed file is hashed again.
"""

from __future__ import annotations

import contextlib
import json
import os
import threading
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from fairhep import schema
from fairhep.cache import default_cache_dir
from fairhep.data.manifest import Manifest, manifest_path, sha256_file
from fairhep.errors import DataError

VERIFIED_FILE = "verified-data.json"
DATA_GLOBS = (schema.H5_FILE_GLOB, "test_*.npy")  # what the readers read from a directory

_memo: dict[str, dict[str, Any]] = {}  # this process's view of the cache file, by path
_memo_lock = threading.Lock()


def verify_dataset(directory: Path) -> Path | None:
    """The manifest of ``directory`` when its files are exactly the ones it lists (None
    when there is no manifest); otherwise a one-line :class:`DataError` naming the first
    file that differs and the fix."""
    directory = Path(directory)
    manifest = manifest_path(directory)
    if manifest is None:
        return None
    listed = {f.name: f.sha256 for f in Manifest.read(directory).files}
    fix = (f"regenerate the dataset (`fairhep data check {directory}` lists every "
           f"difference), or remove {manifest.name} to use the files as they are, unnamed in "
           "records")
    on_disk = sorted({p.name for pattern in DATA_GLOBS for p in directory.glob(pattern)})
    for name in on_disk:
        if name not in listed:
            raise DataError(f"{directory / name}: not listed in {manifest}; {fix}")
    for name in listed:
        if not (directory / name).is_file():
            raise DataError(f"{directory / name}: listed in {manifest} but missing; {fix}")
    digests = file_digests([directory / name for name in listed])
    for name, expected in listed.items():
        digest = digests[directory / name]
        if digest != expected:
            raise DataError(f"{directory / name}: sha256 {digest[:12]}... differs from "
                            f"{expected[:12]}... in {manifest}: the file changed or is "
                            f"corrupt; {fix}")
    return manifest


def file_digests(files: list[Path]) -> dict[Path, str]:
    """The SHA-256 of each file: remembered ones by ``stat`` alone, the others hashed (in
    parallel) and remembered in the cache."""
    known = _load()
    out: dict[Path, str] = {}
    todo: list[tuple[Path, str, list[int]]] = []
    for f in files:
        key, stamp = str(f.resolve()), _stamp(f)
        entry = known.get(key)
        if entry is not None and entry.get("stat") == stamp:
            out[f] = str(entry["sha256"])
        else:
            todo.append((f, key, stamp))
    if not todo:
        return out
    with ThreadPoolExecutor(min(len(todo), os.cpu_count() or 1, 8)) as pool:
        hashed = list(pool.map(lambda t: sha256_file(t[0]), todo))
    with _memo_lock:
        for (f, key, stamp), digest in zip(todo, hashed, strict=True):
            known[key] = {"stat": stamp, "sha256": digest}
            out[f] = digest
        _save(known)
    return out


def _stamp(path: Path) -> list[int]:
    st = path.stat()
    return [st.st_size, st.st_mtime_ns, st.st_ctime_ns, st.st_ino]


def _cache_file() -> Path:
    return default_cache_dir() / VERIFIED_FILE


def _load() -> dict[str, Any]:
    path = str(_cache_file())
    with _memo_lock:
        if path not in _memo:
            try:
                data = json.loads(Path(path).read_text())
            except (OSError, ValueError):
                data = {}
            files = data.get("files") if isinstance(data, dict) else None
            _memo[path] = dict(files) if isinstance(files, dict) else {}
        return _memo[path]


def _save(known: dict[str, Any]) -> None:
    """Write the cache file (the entries of files that still exist); a cache that cannot be
    written (read-only home) only means hashing again in the next process."""
    path = _cache_file()
    try:  # what other processes added since this one read it
        theirs = json.loads(path.read_text()).get("files")
    except (OSError, ValueError, AttributeError):
        theirs = None
    if isinstance(theirs, dict):
        known.update({k: v for k, v in theirs.items() if k not in known})
    for key in [k for k in known if not os.path.exists(k)]:
        del known[key]
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    with contextlib.suppress(OSError):
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp.write_text(json.dumps({"version": 1, "files": known}, sort_keys=True) + "\n")
        os.replace(tmp, path)  # whole or not at all: a concurrent job loses at most an entry
    with contextlib.suppress(OSError):
        tmp.unlink()
