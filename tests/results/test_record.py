"""The record data class and its JSON Schema."""

from __future__ import annotations

from pathlib import Path

import pytest

from fairhep.results import RecordError, ResultRecord, write_record


def test_schema_rejects_a_bad_status(tmp_path: Path) -> None:
    with pytest.raises(RecordError, match="status"):
        write_record(tmp_path, ResultRecord(kind="train", status="great"))
