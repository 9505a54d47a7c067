"""Result records on disk: one JSON file per measured run.

Layout under a results directory::

    RESULTS/records/<kind>/<created>_<host>_<id>.json

A record is written atomically and never replaces another (the final name is claimed with a
hard link, which fails if it exists). Records are strict JSON: a NaN or infinity is refused
when writing and when reading (an undefined metric is ``null`` with its reason). A writer
killed mid-write leaves ``.<name>.<pid>.tmp``; the next writer of that kind removes it
(:func:`sweep_stale_tmp`).
"""

from __future__ import annotations

import json
import math
import os
import re
import socket
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from fairhep.results.provenance import collect_provenance
from fairhep.results.record import RecordError, ResultRecord, validate

RECORDS_DIR = "records"
# A temporary record older than this is stale whoever wrote it (a write takes milliseconds);
# younger ones are removed only when their writer, on this host, is known to be dead.
STALE_TMP_S = 3600.0
_TMP_RE = re.compile(r"^\.(?P<stamp>[0-9TZ]+)_(?P<host>.+)_(?P<id>[^_]+)\.json\.(?P<pid>\d+)\.tmp$")


def _host_name(host: str | None) -> str:
    return (host or "host").replace("/", "_")


def record_path(results_dir: Path, record: ResultRecord) -> Path:
    stamp = record.created.replace(":", "").replace("-", "").replace(".", "")
    host = _host_name(record.provenance.get("host"))
    return results_dir / RECORDS_DIR / record.kind / f"{stamp}_{host}_{record.record_id}.json"


def _first_non_finite(value: Any, where: str = "") -> str | None:
    """The dotted path of the first NaN/inf in a JSON-like value (None when there is none)."""
    if isinstance(value, float) and not math.isfinite(value):
        return where or "value"
    items: Any = (value.items() if isinstance(value, dict)
                  else enumerate(value) if isinstance(value, (list, tuple)) else ())
    for key, item in items:
        found = _first_non_finite(item, f"{where}.{key}" if where else str(key))
        if found:
            return found
    return None


def write_record(
    results_dir: Path, record: ResultRecord, dataset_manifest: Path | None = None
) -> Path:
    """Fill in provenance if missing, validate, and write atomically without overwriting."""
    if not record.provenance:
        record.provenance = collect_provenance(dataset_manifest)
    if record.task_id is None:
        # Set by `fairhep task run` so that every record a task writes names its task.
        record.task_id = os.environ.get("FAIRHEP_TASK_ID")
    data = record.to_dict()
    validate(data)
    bad = _first_non_finite(data)
    if bad:
        raise RecordError(f"{record.kind} record: {bad} is {_lookup(data, bad)}; records are "
                          "strict JSON: write null and say why the value is undefined")
    path = record_path(results_dir, record)
    path.parent.mkdir(parents=True, exist_ok=True)
    sweep_stale_tmp(path.parent)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    with open(tmp, "w") as fh:
        json.dump(data, fh, indent=2, sort_keys=True, default=str, allow_nan=False)
        fh.write("\n")
        fh.flush()
        os.fsync(fh.fileno())
    try:
        os.link(tmp, path)  # fails if the name exists: a record is never replaced
    except FileExistsError:
        raise RecordError(f"{path}: a record with this id already exists") from None
    finally:
        tmp.unlink()
    return path


def _lookup(data: Any, dotted: str) -> Any:
    for key in dotted.split("."):
        data = data[int(key)] if isinstance(data, list) else data[key]
    return data


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # someone else's process
        return True
    return True


def sweep_stale_tmp(directory: Path) -> list[Path]:
    """Remove the temporary files of record writers that died mid-write (on this host: their
    process is gone; from any host: older than STALE_TMP_S). Returns what was removed."""
    removed = []
    here = _host_name(socket.gethostname())
    for tmp in Path(directory).glob(".*.json.*.tmp"):
        m = _TMP_RE.match(tmp.name)
        if m is None:
            continue
        try:
            old = time.time() - tmp.stat().st_mtime > STALE_TMP_S
            if old or (m.group("host") == here and not _alive(int(m.group("pid")))):
                tmp.unlink()
                removed.append(tmp)
        except OSError:  # gone already, or not ours to remove: the next writer tries again
            continue
    return removed


def find_record(results_dir: Path, kind: str, record_id: str) -> Path | None:
    """The file of the record of ``kind`` with ``record_id`` (None when there is none)."""
    found = sorted((Path(results_dir) / RECORDS_DIR / kind).glob(f"*_{record_id}.json"))
    return found[0] if found else None


def _reject_constant(name: str) -> None:
    raise ValueError(f"{name} is not strict JSON")


def read_record(path: Path) -> ResultRecord:
    try:
        data = json.loads(Path(path).read_text(), parse_constant=_reject_constant)
    except (OSError, UnicodeDecodeError, ValueError) as exc:
        raise RecordError(f"{path}: not a readable JSON result record ({exc})") from None
    if not isinstance(data, dict):
        raise RecordError(f"{path}: not a JSON object")
    validate(data, str(path))
    return ResultRecord.from_dict(data)


def iter_record_files(results_dir: Path, kind: str | None = None) -> Iterator[Path]:
    base = Path(results_dir) / RECORDS_DIR
    pattern = f"{kind}/*.json" if kind else "*/*.json"
    yield from sorted(base.glob(pattern))


def load_records(
    results_dir: Path, kind: str | None = None, errors: list[str] | None = None
) -> list[ResultRecord]:
    """All valid records; a bad one is reported in ``errors`` (if given) and skipped."""
    out = []
    for path in iter_record_files(results_dir, kind):
        try:
            out.append(read_record(path))
        except RecordError as exc:
            if errors is None:
                raise
            errors.append(str(exc))
    return out
