"""A run directory belongs to one training and a finished training always ends with its
record (issue 11, items 1, 2, 6): real kills at the point that matters, a real second
process, a real read-only mount."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from fairhep.cli import main
from fairhep.model import BEST_WEIGHTS, ModelConfig
from fairhep.results import read_record
from fairhep.results.location import RESULTS_ENV
from fairhep.train import CHECKPOINT, LOCK, SUMMARY
from run_helpers import make_run

pytestmark = pytest.mark.usefixtures("one_torch_thread")

SMALL = ["--hidden", "8", "--de", "4", "--do", "4"]

# Run `fairhep train` with the given function replaced by a SIGKILL of the process itself: the
# kill lands exactly between two writes (what a node failure or `kill -9` can do).
KILL_AT = """
import os, signal, sys
import fairhep.results, fairhep.train.rundir
def die(*args, **kwargs):
    os.kill(os.getpid(), signal.SIGKILL)
module, name = sys.argv[1].rsplit(".", 1)
setattr(sys.modules[module], name, die)
from fairhep.cli import main
sys.exit(main(sys.argv[2:]))
"""


@pytest.fixture(scope="module")
def data(synthetic_data: Callable[..., Path]) -> Path:
    return synthetic_data(files=2, jets_per_file=96, seed=17)


def _argv(data: Path, out: Path, *extra: str) -> list[str]:
    return ["train", "--data", str(data), "--out", str(out), "--fold-files", "1", "--epochs",
            "1", "--batch-size", "32", "--device", "cpu", "--no-progress", *SMALL,
            "--results", str(out.parent / "results"), *extra]


def _env() -> dict[str, str]:
    return {**os.environ, "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}


def _records(out: Path) -> list[Path]:
    return sorted((out.parent / "results" / "records" / "train").glob("*.json"))


@pytest.mark.parametrize("kill_at", ["fairhep.results.write_record",
                                     "fairhep.train.rundir._read_summary"],
                         ids=["before-record", "before-summary"])
def test_a_kill_after_the_last_epoch_loses_no_record(data, tmp_path, kill_at, capsys):
    out = tmp_path / "run"
    killed = subprocess.run([sys.executable, "-c", KILL_AT, kill_at, *_argv(data, out)],
                            env=_env(), capture_output=True, check=False)
    assert killed.returncode == -signal.SIGKILL
    assert (out / BEST_WEIGHTS).is_file() and not _records(out)  # trained, not recorded
    assert (out / SUMMARY).is_file() == (kill_at == "fairhep.results.write_record")

    assert main(_argv(data, out)) == 0  # the rerun: nothing to train, the record is written
    (record,) = _records(out)
    summary = json.loads((out / SUMMARY).read_text())
    rec = read_record(record)
    assert rec.record_id == summary["record_id"] and rec.config["recorded_on_rerun"]
    assert rec.metrics["epochs"] == 1 and rec.metrics["val_auc"] == summary["val_auc"]
    assert f"record {record}" in capsys.readouterr().out
    assert main(_argv(data, out)) == 0
    assert _records(out) == [record]  # idempotent: never a second record


def _wait_for_lock_holder(proc: subprocess.Popen[bytes], lock: Path) -> None:
    """Until the process holds the lock and has finished an epoch (so it is in its loop)."""
    deadline = time.monotonic() + 120
    while not (lock.is_file() and f"pid {proc.pid}" in lock.read_text()
               and (lock.parent / CHECKPOINT).is_file()):
        assert proc.poll() is None, proc.communicate()
        assert time.monotonic() < deadline, "the first training never took its lock"
        time.sleep(0.05)


def test_a_second_writer_is_refused_in_one_line(data, tmp_path, capsys):
    out = tmp_path / "run"
    long_run = [*_argv(data, out)[:-2], "--epochs", "100", "--patience", "100",
                "--results", str(tmp_path / "results")]
    first = subprocess.Popen([sys.executable, "-m", "fairhep", *long_run], env=_env(),
                             stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    try:
        _wait_for_lock_holder(first, out / LOCK)
        for seed in ("0", "1"):  # the same training, or another seed into the same folder
            assert main([*_argv(data, out), "--seed", seed]) == 1
            err = capsys.readouterr().err.strip()
            assert len(err.splitlines()) == 1, err
            assert f"in use by pid {first.pid}" in err and "another --out" in err
    finally:
        first.send_signal(signal.SIGTERM)
        first.communicate(timeout=120)
    assert first.returncode == 143  # the first writer was not disturbed: it checkpointed
    assert (out / CHECKPOINT).is_file()


def test_a_run_directory_of_other_settings_needs_overwrite(data, tmp_path, capsys):
    out = tmp_path / "run"
    assert main(_argv(data, out, "--seed", "0")) == 0
    capsys.readouterr()
    assert main(_argv(data, out, "--seed", "1")) == 1
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "different settings (seed)" in err
    assert "--overwrite" in err
    assert main(_argv(data, out, "--seed", "1", "--overwrite")) == 0
    seeds = sorted(read_record(r).config["seed"] for r in _records(out))
    assert seeds == [0, 1]
    assert json.loads((out / "model.json").read_text())["training"]["seed"] == 1


def test_a_run_directory_holding_an_imported_model_is_not_trained_over(data, tmp_path,
                                                                       capsys):
    out = tmp_path / "run"
    make_run(out, ModelConfig(hidden=8, de=4, do=4))
    before = (out / BEST_WEIGHTS).read_bytes()
    assert main(_argv(data, out)) == 1
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "did not make" in err
    assert (out / BEST_WEIGHTS).read_bytes() == before


@pytest.mark.parametrize("where", ["--out", "--results"])
def test_unwritable_outputs_are_refused_before_any_epoch(data, tmp_path, read_only_dir,
                                                         where, capsys):
    out = read_only_dir / "run" if where == "--out" else tmp_path / "run"
    argv = _argv(data, out)
    if where == "--results":
        argv[argv.index("--results") + 1] = str(read_only_dir / "results")
    t0 = time.perf_counter()
    assert main(argv) == 1
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "not writable" in err and where in err
    assert time.perf_counter() - t0 < 10  # at once: no epoch ran
    assert not (tmp_path / "run" / CHECKPOINT).exists()


def test_train_writes_its_record_to_results_by_default(data, tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv(RESULTS_ENV)  # the tests point it at a temporary folder
    argv = _argv(data, tmp_path / "run")
    del argv[argv.index("--results"):argv.index("--results") + 2]
    assert main([*argv, "--track-features-dropped", "14-21", "--sv-features-dropped",
                 "sv_phirel,sv_normchi2"]) == 0
    (record,) = (tmp_path / "results" / "records" / "train").glob("*.json")
    model = read_record(record).config["model"]
    assert model["track_indices_dropped"] == list(range(14, 22))
    assert model["sv_features_dropped"] == ["sv_phirel", "sv_normchi2"]
    assert f"record {Path('results')}" in capsys.readouterr().out


def test_a_run_directory_from_before_the_engine_option_is_the_dense_fp32_forwards(tmp_path):
    from fairhep.errors import ConfigError
    from fairhep.train.rundir import refuse_other_settings

    ours = {"seed": 0, "split": "kfold", "engine": "reference", "precision": "fp32"}
    older = {"seed": 0, "split": "kfold"}  # what a run directory of 0.1.0 says
    refuse_other_settings(tmp_path, older, ours)  # resumes
    with pytest.raises(ConfigError, match=r"different settings \(engine\)"):
        refuse_other_settings(tmp_path, older, {**ours, "engine": "fast"})


def test_a_precision_the_device_cannot_run_is_refused_before_the_run_directory_is_claimed(
        data, tmp_path, capsys):
    out = tmp_path / "run"
    assert main(_argv(data, out, "--precision", "tf32")) == 1
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "--precision tf32 needs a CUDA device" in err
    assert not (out / "model.json").exists() and not _records(out)
