"""Result records on disk: written atomically with provenance, never overwritten, read back;
bad files are named and skipped."""

from __future__ import annotations

import errno
import json
import os
import signal
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

from fairhep.results import (
    RecordError,
    RecordNotWritten,
    ResultRecord,
    ensure_record_dirs,
    find_record,
    load_records,
    read_record,
    sweep_stale_tmp,
    write_record,
)
from fairhep.writable import NotWritable


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


def test_nan_is_refused_when_writing_naming_the_key(tmp_path: Path) -> None:
    rec = ResultRecord(kind="train", metrics={"history": [{"val_auc": 0.9},
                                                          {"val_auc": float("nan")}]})
    with pytest.raises(RecordError) as exc:
        write_record(tmp_path, rec)
    assert "metrics.history.1.val_auc is nan" in str(exc.value) and "null" in str(exc.value)
    assert not list(tmp_path.rglob("*.json"))


def test_records_that_are_not_strict_json_are_refused_when_reading(tmp_path: Path) -> None:
    path = write_record(tmp_path, ResultRecord(kind="evaluate", metrics={"auc": 0.5}))
    path.write_text(path.read_text().replace('"auc": 0.5', '"auc": NaN'))
    with pytest.raises(RecordError, match="NaN is not strict JSON"):
        read_record(path)


def test_a_newer_schema_or_unknown_fields_are_refused(tmp_path: Path) -> None:
    path = write_record(tmp_path, ResultRecord(kind="evaluate", metrics={"auc": 0.5}))
    data = json.loads(path.read_text())
    newer = path.with_name("newer.json")
    newer.write_text(json.dumps({**data, "schema_version": "9.0"}))
    unknown = path.with_name("unknown.json")
    unknown.write_text(json.dumps({**data, "calibration": {"k": 1}}))
    errors: list[str] = []
    assert [r.record_id for r in load_records(tmp_path, "evaluate", errors)] == [data["record_id"]]
    assert len(errors) == 2
    assert any("newer.json" in e and "'9.0' is newer" in e for e in errors)
    assert any("unknown.json" in e and "calibration unknown to record schema" in e
               for e in errors)


KILLED_WRITER = """
import json, os, signal, sys
from pathlib import Path
from fairhep.results import ResultRecord, write_record

def dump_then_die(obj, fh, **kw):  # the process dies inside the write, as under SIGKILL
    fh.write("{")
    fh.flush()
    os.kill(os.getpid(), signal.SIGKILL)

json.dump = dump_then_die
write_record(Path(sys.argv[1]), ResultRecord(kind="bench.sweep"))
"""


def test_a_writer_killed_mid_write_leaves_a_tmp_that_the_next_writer_removes(tmp_path):
    done = subprocess.run([sys.executable, "-c", KILLED_WRITER, str(tmp_path)], check=False)
    assert done.returncode == -signal.SIGKILL
    kind_dir = tmp_path / "records" / "bench.sweep"
    (stale,) = kind_dir.glob(".*.json.*.tmp")
    assert stale.read_text() == "{"  # the half-written record of the dead process
    # A live writer's temporary file is left alone.
    with subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"]) as live:
        busy = kind_dir / f"{stale.name.rsplit('.', 2)[0]}.{live.pid}.tmp"
        busy.write_text("{")
        path = write_record(tmp_path, ResultRecord(kind="bench.sweep"))
        assert not stale.exists() and busy.exists()
        live.kill()
    assert [p.name for p in kind_dir.iterdir() if p.suffix == ".json"] == [path.name]
    assert sweep_stale_tmp(kind_dir) == [busy]


def test_find_record_finds_a_record_by_id(tmp_path: Path) -> None:
    rec = ResultRecord(kind="train", record_id="abc123def456")
    path = write_record(tmp_path, rec)
    assert find_record(tmp_path, "train", "abc123def456") == path
    assert find_record(tmp_path, "train", "000000000000") is None


def _disk_full(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    """os.fsync of a record fails as on a full disk; the system's temporary folder (where a
    record that cannot be written is kept) is one in tmp_path."""
    def full(_fd: int) -> None:
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(os, "fsync", full)
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(elsewhere))
    return elsewhere


def test_a_full_disk_is_one_line_with_the_figures_and_the_whole_record_kept(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    elsewhere = _disk_full(monkeypatch, tmp_path)
    rec = ResultRecord(kind="evaluate", metrics={"accuracy": 0.875, "auc": 0.93125,
                                                 "n_jets": 300, "roc": {"fpr": [0, 1]}})
    with pytest.raises(RecordNotWritten) as exc:
        write_record(tmp_path / "results", rec)
    msg, folder = str(exc.value), tmp_path / "results" / "records" / "evaluate"
    assert "\n" not in msg and msg.startswith(f"{folder}: the evaluate record could not be "
                                              "written (No space left on device)")
    assert "accuracy 0.875, auc 0.93125, n_jets 300" in msg and "roc" not in msg
    (kept,) = elsewhere.glob("fairhep-unwritten-*/*.json")
    assert exc.value.kept == kept and f"kept in {kept}" in msg and "--results" in msg
    assert read_record(kept).metrics == rec.metrics  # the whole record, provenance included
    assert list(folder.iterdir()) == []  # no half-written temporary left behind


def test_a_truncated_record_is_not_found_but_moved_aside_and_named(tmp_path: Path) -> None:
    path = write_record(tmp_path, ResultRecord(kind="train", record_id="abc123def456"))
    path.write_text(path.read_text()[:100])
    problems: list[str] = []
    assert find_record(tmp_path, "train", "abc123def456", problems) is None
    (line,) = problems
    assert line.startswith(f"{path}: not a readable JSON result record") and "\n" not in line
    assert not path.exists() and path.with_name(path.name + ".corrupt").is_file()
    again = write_record(tmp_path, ResultRecord(kind="train", record_id="abc123def456"))
    assert find_record(tmp_path, "train", "abc123def456") == again
    assert [r.record_id for r in load_records(tmp_path, errors=[])] == ["abc123def456"]


def test_a_read_only_records_folder_of_a_kind_is_refused_before_the_work(
        tmp_path: Path, read_only_dir: Path) -> None:
    results = tmp_path / "results"
    (results / "records").mkdir(parents=True)
    (results / "records" / "evaluate").symlink_to(read_only_dir)
    ensure_record_dirs(results, "train")  # the other kinds' folders are not in the way
    with pytest.raises(NotWritable) as exc:
        ensure_record_dirs(results, "evaluate")
    msg = str(exc.value)
    assert msg.startswith(f"{results / 'records' / 'evaluate'}: evaluate records folder is "
                          "not writable") and msg.endswith("choose another with --results")


def test_a_dead_writers_temporary_goes_at_the_next_command_of_any_kind(tmp_path: Path) -> None:
    done = subprocess.run([sys.executable, "-c", KILLED_WRITER, str(tmp_path)], check=False)
    assert done.returncode == -signal.SIGKILL
    (stale,) = (tmp_path / "records" / "bench.sweep").glob(".*.json.*.tmp")
    ensure_record_dirs(tmp_path, "evaluate")  # what `fairhep evaluate` checks first
    assert not stale.exists()
