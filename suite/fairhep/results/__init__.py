"""Result records (+ provenance): what every measuring command writes and a report reads."""

from __future__ import annotations

from fairhep.results.provenance import collect_provenance, container_info, git_state
from fairhep.results.record import (
    RECORD_JSON_SCHEMA,
    RECORD_SCHEMA_VERSION,
    RecordError,
    ResultRecord,
    validate,
)
from fairhep.results.store import (
    RECORDS_DIR,
    RecordNotWritten,
    ensure_record_dirs,
    find_record,
    iter_record_files,
    load_records,
    read_record,
    record_path,
    sweep_stale_tmp,
    write_record,
)

__all__ = [
    "RECORDS_DIR",
    "RECORD_JSON_SCHEMA",
    "RECORD_SCHEMA_VERSION",
    "RecordError",
    "RecordNotWritten",
    "ResultRecord",
    "collect_provenance",
    "container_info",
    "ensure_record_dirs",
    "find_record",
    "git_state",
    "iter_record_files",
    "load_records",
    "read_record",
    "record_path",
    "sweep_stale_tmp",
    "validate",
    "write_record",
]
