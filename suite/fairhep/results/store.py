"""Result records on disk: one JSON file per measured run.

Layout under a results directory::

    RESULTS/records/<kind>/<created>_<host>_<id>.json

A record is written atomically and never replaces another (the final name is claimed with a
hard link, which fails if it exists). Records are strict JSON: a NaN or infinity is refused
when writing and when reading (an undefined metric is ``null`` with its reason).

Failures cost one line, never the result: a command checks the folders of the kinds it will
write before its work (:func:`ensure_record_dirs`); a write that fails anyway (a full disk)
is :class:`RecordNotWritten`, whose line carries the record's figures and where the whole
record was kept instead. A writer killed mid-write leaves ``.<name>.<pid>.tmp``; the next
command that writes into the results folder removes it, whatever its kind
(:func:`sweep_stale_tmp`). A record is found by reading it (:func:`find_record`): a corrupt
file of that name is moved aside, so that its writer writes the record again.
"""

from __future__ import annotations

import contextlib
import json
import math
import os
import re
import socket
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from fairhep.errors import FairhepError
from fairhep.results.provenance import collect_provenance
from fairhep.results.record import RecordError, ResultRecord, validate
from fairhep.writable import ensure_writable

RECORDS_DIR = "records"
# A temporary record older than this is stale whoever wrote it (a write takes milliseconds);
# younger ones are removed only when their writer, on this host, is known to be dead.
STALE_TMP_S = 3600.0
_TMP_RE = re.compile(r"^\.(?P<stamp>[0-9TZ]+)_(?P<host>.+)_(?P<id>[^_]+)\.json\.(?P<pid>\d+)\.tmp$")
CORRUPT_SUFFIX = ".corrupt"  # a record file that could not be read, moved aside
RESULTS_FIX = "choose another with --results"


class RecordNotWritten(FairhepError):
    """A record that could not be written (full disk, read-only folder): the message carries
    its figures and where the whole record was kept (``kept``, None when nowhere)."""

    def __init__(self, message: str, record: ResultRecord, kept: Path | None) -> None:
        super().__init__(message)
        self.record = record
        self.kept = kept


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
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        sweep_stale_tmp(path.parent)
        with open(tmp, "w") as fh:
            json.dump(data, fh, indent=2, sort_keys=True, default=str, allow_nan=False)
            fh.write("\n")
            fh.flush()
            os.fsync(fh.fileno())
        try:
            os.link(tmp, path)  # fails if the name exists: a record is never replaced
        except FileExistsError:
            raise RecordError(f"{path}: a record with this id already exists") from None
    except OSError as exc:
        raise _not_written(path, record, data, exc) from None
    finally:
        with contextlib.suppress(OSError):  # a full disk leaves no half-written temporary
            tmp.unlink()
    return path


def _not_written(path: Path, record: ResultRecord, data: dict[str, Any],
                 exc: OSError) -> RecordNotWritten:
    """One line for a record that could not be written: why, its figures, and where the
    whole record was kept instead (the system's temporary folder is often another disk)."""
    folder = path.parent
    reason = exc.strerror or type(exc).__name__
    figures = ", ".join(f"{k} {v:.6g}" if isinstance(v, float) else f"{k} {v}"
                        for k, v in data["metrics"].items()
                        if isinstance(v, (bool, int, float, str)) or v is None)
    kept: Path | None = None
    try:
        kept = Path(tempfile.mkdtemp(prefix="fairhep-unwritten-")) / path.name
        kept.write_text(json.dumps(data, indent=2, sort_keys=True, default=str) + "\n")
    except OSError:
        kept = None
    line = f"{folder}: the {record.kind} record could not be written ({reason})"
    if figures:
        line += f"; its figures: {figures}"
    if kept is not None:
        line += (f"; the whole record is kept in {kept}: move it into {folder} once there is "
                 f"space, or run again with another --results")
    else:
        line += "; free space there, or run again with another --results"
    return RecordNotWritten(line, record, kept)
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


def find_record(results_dir: Path, kind: str, record_id: str,
                problems: list[str] | None = None) -> Path | None:
    """The file of the valid record of ``kind`` with ``record_id`` (None when there is none).

    Found by reading, not by name: a file of that name that is not a readable record
    (truncated, corrupt) is moved aside to ``<name>.corrupt`` and named in ``problems``, and
    None is returned, so that the caller writes the record again."""
    for path in sorted((Path(results_dir) / RECORDS_DIR / kind).glob(f"*_{record_id}.json")):
        try:
            rec = read_record(path)
        except RecordError as exc:
            aside = path.with_name(path.name + CORRUPT_SUFFIX)
            with contextlib.suppress(FileNotFoundError):  # another reader moved it first
                os.replace(path, aside)
            if problems is not None:
                problems.append(f"{exc}; moved aside to {aside.name}")
            continue
        if rec.kind == kind and rec.record_id == record_id:
            return path
    return None


def ensure_record_dirs(results_dir: Path, *record_kinds: str,
                       what: str = "results directory", fix: str = RESULTS_FIX) -> Path:
    """Before the work: the results folder and the records folder of every kind the command
    will write can be written (one line naming the folder that cannot, not a traceback after
    the last epoch); the temporaries that killed writers left in any kind's folder go."""
    results_dir = ensure_writable(Path(results_dir), what, fix)
    for kind in record_kinds:
        ensure_writable(results_dir / RECORDS_DIR / kind, f"{kind} records folder", fix)
    with contextlib.suppress(OSError):
        for folder in (results_dir / RECORDS_DIR).iterdir():
            if folder.is_dir():
                sweep_stale_tmp(folder)
    return results_dir


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
