"""Nothing lost, nothing misleading when records meet faults (issue 21, items 1, 4, 5, 8): a
full disk, a truncated train record, a read-only records/<kind> folder, a failed training's
leftovers. Real mounts where the machine allows them (root), a real second campaign run."""

from __future__ import annotations

import json
import os
import subprocess
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from campaign_helpers import write_campaign
from fairhep.campaign import load_campaign
from fairhep.cli import main
from fairhep.results import load_records, read_record
from fairhep.sites import load_site
from fairhep.tasks import TaskContext, finished_tasks, run_task
from fairhep.train import CHECKPOINT, LOCK, SUMMARY
from run_helpers import make_run

pytestmark = pytest.mark.usefixtures("one_torch_thread")

SMALL = ["--hidden", "8", "--de", "4", "--do", "4"]


@pytest.fixture(scope="module")
def data(synthetic_data: Callable[..., Path]) -> Path:
    return synthetic_data(files=2, jets_per_file=96, seed=17)


def _train(data: Path, out: Path, results: Path, *extra: str) -> list[str]:
    return ["train", "--data", str(data), "--out", str(out), "--fold-files", "1", "--epochs",
            "1", "--batch-size", "32", "--device", "cpu", "--no-progress", *SMALL,
            "--results", str(results), *extra]


def _one_line(capsys: pytest.CaptureFixture[str]) -> str:
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1, err
    return err


@pytest.fixture
def full_disk(tmp_path: Path) -> Iterator[Path]:
    """A results folder on a tmpfs with no free block left (its records/evaluate folder made
    before it filled up): what a full scratch disk is to a record."""
    target = tmp_path / "full"
    target.mkdir()
    mount = ["mount", "-t", "tmpfs", "-o", "size=64k", "tmpfs", str(target)]
    if os.geteuid() != 0 or subprocess.run(mount, capture_output=True,
                                           check=False).returncode != 0:
        pytest.skip("no tmpfs mount here (needs root): the store test simulates ENOSPC")
    try:
        (target / "records" / "evaluate").mkdir(parents=True)
        fd = os.open(target / "filler", os.O_WRONLY | os.O_CREAT)
        try:
            while True:
                os.write(fd, b"\0" * 4096)
        except OSError:
            pass
        finally:
            os.close(fd)
        yield target
    finally:
        subprocess.run(["umount", str(target)], check=False)


def test_evaluate_on_a_full_disk_is_one_line_with_its_figures_and_loses_nothing(
        data, tmp_path, full_disk, monkeypatch, capsys):
    run = tmp_path / "run"
    make_run(run)
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(elsewhere))
    assert main(["evaluate", "--run", str(run), "--data", str(data), "--device", "cpu",
                 "--results", str(full_disk)]) == 1
    err = _one_line(capsys)
    folder = full_disk / "records" / "evaluate"
    assert err.startswith(f"fairhep evaluate: error: {folder}: the evaluate record could not "
                          "be written (No space left on device)")
    (kept,) = elsewhere.glob("fairhep-unwritten-*/*.json")
    rec = read_record(kept)
    assert f"accuracy {rec.metrics['accuracy']:.6g}" in err and f"kept in {kept}" in err
    assert list(folder.iterdir()) == []  # no half-written temporary on the full disk


def test_a_read_only_records_folder_of_train_is_refused_before_any_epoch(
        data, tmp_path, read_only_dir, capsys):
    results = tmp_path / "results"
    (results / "records").mkdir(parents=True)
    (results / "records" / "train").symlink_to(read_only_dir)
    t0 = time.perf_counter()
    assert main(_train(data, tmp_path / "run", results)) == 1
    err = _one_line(capsys)
    assert f"{results / 'records' / 'train'}: train records folder is not writable" in err
    assert err.endswith("choose another with --results")
    assert time.perf_counter() - t0 < 10 and not (tmp_path / "run" / CHECKPOINT).exists()


def test_a_truncated_train_record_is_replaced_by_the_rerun_never_printed(
        data, tmp_path, capsys):
    out, results = tmp_path / "run", tmp_path / "results"
    assert main(_train(data, out, results)) == 0
    (record,) = (results / "records" / "train").glob("*.json")
    record.write_text(record.read_text()[:100])
    capsys.readouterr()
    assert main(_train(data, out, results)) == 0  # nothing to train: the record is rewritten
    captured = capsys.readouterr()
    (line,) = captured.err.strip().splitlines()
    assert line.startswith(f"{record}: not a readable JSON result record")
    assert f"writing the record again from {out}" in line
    (again,) = (results / "records" / "train").glob("*.json")
    assert again != record and f"record {again}" in captured.out
    assert read_record(again).record_id == json.loads((out / SUMMARY).read_text())["record_id"]
    assert record.with_name(record.name + ".corrupt").is_file()


def test_a_campaign_training_whose_record_was_truncated_is_done_again(tmp_path):
    campaign = write_campaign(tmp_path / "one.toml", "one training",
                              evaluate={"enabled": False}, aggregate={"enabled": False})
    ctx = TaskContext.create(load_site("local"), load_campaign(campaign), tmp_path / "results")
    run_task(ctx, ctx.tasks.get("data", 0))
    train = ctx.tasks.get("train", 0)
    assert run_task(ctx, train).status == "done"
    (record,) = (ctx.layout.records / "records" / "train").glob("*.json")
    record.write_text(record.read_text()[:100])
    assert train.id not in finished_tasks(ctx.layout)
    assert run_task(ctx, train).status == "done"  # not "wrote no train record", for good
    assert train.id in finished_tasks(ctx.layout)
    assert [r.task_id for r in load_records(ctx.layout.records, "train", errors=[])] == [
        train.id]


def test_a_training_without_its_data_leaves_no_run_directory(tmp_path, capsys):
    out = tmp_path / "run"
    assert main(_train(tmp_path / "no-data", out, tmp_path / "results")) == 1
    assert "dataset directory not found" in _one_line(capsys)
    assert not out.exists()


def test_a_refused_training_leaves_no_lock_behind(data, tmp_path, capsys):
    out, results = tmp_path / "run", tmp_path / "results"
    assert main(_train(data, out, results, "--seed", "0")) == 0
    assert not (out / LOCK).exists()
    assert main(_train(data, out, results, "--seed", "1")) == 1  # refused under the lock
    assert "different settings (seed)" in _one_line(capsys)
    assert not (out / LOCK).exists()
