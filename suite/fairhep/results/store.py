"""Result records on disk: one JSON file per measured run.

Layout under a results directory::

    RESULTS/records/<kind>/<created>_<host>_<id>.json

A record is written atomically and never replaces another (the final name is claimed with a
hard link, which fails if it exists).
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from pathlib import Path

from fairhep.results.provenance import collect_provenance
from fairhep.results.record import RecordError, ResultRecord, validate

RECORDS_DIR = "records"


def record_path(results_dir: Path, record: ResultRecord) -> Path:
    stamp = record.created.replace(":", "").replace("-", "").replace(".", "")
    host = (record.provenance.get("host") or "host").replace("/", "_")
    return results_dir / RECORDS_DIR / record.kind / f"{stamp}_{host}_{record.record_id}.json"


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
    path = record_path(results_dir, record)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    with open(tmp, "w") as fh:
        json.dump(data, fh, indent=2, sort_keys=True, default=str)
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


def read_record(path: Path) -> ResultRecord:
    try:
        data = json.loads(Path(path).read_text())
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
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
