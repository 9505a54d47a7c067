"""Result records on disk: written atomically with provenance, never overwritten, read back;
bad files are named and skipped."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from fairhep.results import RecordError, ResultRecord, load_records, read_record, write_record


def test_write_and_read_back_with_provenance(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setenv("SLURM_JOB_ID", "4242")
    monkeypatch.setenv("SLURM_ARRAY_TASK_ID", "3")
    monkeypatch.setenv("FAIRHEP_TASK_ID", "train-s3-kfold-f0")
    monkeypatch.setenv("FAIRHEP_SITE", "ci-slurm")
    rec = ResultRecord(kind="train", config={"seed": 3}, metrics={"val_auc": 0.97})
    path = write_record(tmp_path, rec)
    assert path.parent == tmp_path / "records" / "train"
    back = read_record(path)
    assert back.metrics == {"val_auc": 0.97}
    assert back.task_id == "train-s3-kfold-f0"
    prov = back.provenance
    assert prov["slurm"] == {"job_id": "4242", "array_task_id": "3"}
    assert prov["site"] == "ci-slurm"
    assert prov["python"].count(".") == 2
    assert "torch" in prov["packages"]
    # No GPU on CI: the reason is recorded, not an error.
    assert prov["gpu"]["available"] in (True, False)
    if not prov["gpu"]["available"]:
        assert prov["gpu"]["reason"]


def test_records_are_never_overwritten(tmp_path: Path) -> None:
    rec = ResultRecord(kind="evaluate", provenance={"host": "h", "fairhep_version": "x",
                       "os": "linux", "arch": "x86_64", "python": "3.11.7", "packages": {}})
    first = write_record(tmp_path, rec)
    original = first.read_text()
    with pytest.raises(RecordError, match="already exists"):
        write_record(tmp_path, rec)
    assert first.read_text() == original
    assert not list(first.parent.glob(".*tmp"))


def test_malformed_records_are_reported_and_skipped(tmp_path: Path) -> None:
    good = write_record(tmp_path, ResultRecord(kind="train"))
    bad_dir = tmp_path / "records" / "train"
    (bad_dir / "broken.json").write_text("{not json")
    (bad_dir / "invalid.json").write_text(json.dumps({"kind": "train"}))
    errors: list[str] = []
    recs = load_records(tmp_path, "train", errors=errors)
    assert [r.record_id for r in recs] == [read_record(good).record_id]
    assert len(errors) == 2
    assert any("broken.json" in e and "JSON" in e for e in errors)
    assert any("invalid.json" in e and "required" in e for e in errors)
    with pytest.raises(RecordError):
        load_records(tmp_path, "train")
