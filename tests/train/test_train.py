"""Training: the three splits of §3.2, the original early-stopping rule, a real short training,
and kill-and-resume ending with exactly the weights of an uninterrupted run."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import torch

from fairhep.errors import ConfigError
from fairhep.model import BEST_WEIGHTS, LAST_WEIGHTS, ModelConfig, load_run_model
from fairhep.results import read_record
from fairhep.train import CHECKPOINT, SUMMARY, TrainConfig, should_stop, train

# A small IN variant (Table 10's smallest) keeps the resume tests fast; the recipe is the same.
SMALL: dict[str, Any] = {"hidden": 8, "de": 4, "do": 4}
SMALL_ARGS = ["--hidden", "8", "--de", "4", "--do", "4"]

pytestmark = pytest.mark.usefixtures("one_torch_thread")


@pytest.fixture(scope="module")
def small_data(synthetic_data: Callable[..., Path]) -> Path:
    return synthetic_data(files=3, jets_per_file=160, seed=11)


@pytest.fixture(scope="module")
def resume_data(synthetic_data: Callable[..., Path]) -> Path:
    # Epochs of ~50 batches: long enough that a signal sent just after the first epoch's
    # checkpoint lands inside the second epoch.
    return synthetic_data(files=3, jets_per_file=400, seed=13)


# ---- early stopping --------------------------------------------------------------------------

def test_early_stopping_follows_the_original_rule():
    losses = [1.0, 0.8, 0.7, 0.75, 0.71, 0.72, 0.9, 0.8, 0.73, 0.74]
    # After epoch m, stop when the last 8 are all worse than the best before them (0.7).
    assert [should_stop(losses[:m], 8) for m in range(1, 11)] == [False] * 10
    losses.append(0.701)  # epochs 4..11 all above 0.7 -> stop after epoch 11
    assert should_stop(losses, 8)
    assert not should_stop([*losses[:-1], 0.7], 8)  # equal is not worse: keep going
    assert not should_stop([0.5] * 8, 8)  # never before epoch patience + 1
    assert should_stop([0.5, 0.6, 0.7], 2) and not should_stop([0.5, 0.6, 0.4], 2)


# ---- training --------------------------------------------------------------------------------

def test_short_training_learns_and_writes_a_train_record(small_data, tmp_path):
    res = tmp_path / "results"
    cfg = TrainConfig(data=small_data, out=tmp_path / "run", seed=0, fold_files=1, epochs=2,
                      lr=3e-3, batch_size=32, device="cpu", results=res, progress=False)
    result = train(cfg)
    assert result.finished and not result.interrupted and result.epochs == 2
    assert len(result.history) == 2 and result.best_epoch in (1, 2)
    assert result.val_auc > 0.8, result.history  # chance is 0.5
    assert result.history[-1].train_loss < result.history[0].train_loss
    assert (cfg.out / BEST_WEIGHTS).is_file() and (cfg.out / LAST_WEIGHTS).is_file()
    assert load_run_model(cfg.out).config == ModelConfig()
    ck = torch.load(cfg.out / CHECKPOINT, weights_only=True)
    assert ck["state"]["epoch"] == 2 and ck["state"]["batch"] == 0

    assert result.record is not None
    rec = read_record(result.record)
    assert rec.kind == "train"
    assert {"seed", "split", "fold", "epochs_max", "patience", "batch_size", "lr", "model",
            "data", "device"} <= set(rec.config)
    assert rec.config["split"] == "kfold" and rec.config["lr"] == 3e-3
    assert rec.metrics["val_auc"] == pytest.approx(result.val_auc)
    assert rec.metrics["epochs"] == 2 and len(rec.metrics["history"]) == 2
    assert {"epoch", "train_loss", "val_loss", "val_accuracy", "val_auc", "train_s",
            "valid_s"} <= set(rec.metrics["history"][0])
    assert rec.timings["train_jets_per_s"] > 0 and rec.timings["train_s_per_epoch"] > 0
    assert rec.provenance["dataset_manifest_sha256"]

    # Training again into the finished run trains nothing and writes no second record.
    again = train(cfg)
    assert again.epochs == 2 and again.record == result.record and again.finished
    assert list((res / "records" / "train").glob("*.json")) == [result.record]
    # Changed settings are refused.
    with pytest.raises(ConfigError, match="lr"):
        train(TrainConfig(data=small_data, out=cfg.out, fold_files=1, epochs=2, lr=1e-4,
                          batch_size=32, device="cpu", progress=False))


def test_points_split_training_runs(small_data, tmp_path):
    result = train(TrainConfig(data=small_data, out=tmp_path / "run", split="points", epochs=1,
                               batch_size=64, device="cpu", progress=False,
                               model=ModelConfig(**SMALL), max_jets=300))
    assert result.finished and result.epochs == 1
    assert json.loads((tmp_path / "run" / SUMMARY).read_text())["n_valid_jets"] == 30


# ---- kill and resume -------------------------------------------------------------------------

def _train_cmd(data: Path, out: Path) -> list[str]:
    return [sys.executable, "-m", "fairhep", "train", "--data", str(data), "--out", str(out),
            "--fold-files", "1", "--epochs", "3", "--batch-size", "16", "--lr", "3e-3",
            "--seed", "7", "--device", "cpu", "--no-progress", *SMALL_ARGS,
            "--results", str(out.parent / "results")]


def _env() -> dict[str, str]:
    # Same thread count in every process, so float reductions happen in the same order; one
    # thread, because spinning OpenMP threads slow a tiny model down on a busy machine.
    return {**os.environ, "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}


def _start_and_signal(cmd: list[str], out: Path, sig: int, delay: float) -> int:
    """Start a training, wait for its first end-of-epoch checkpoint, then send ``sig``."""
    proc = subprocess.Popen(cmd, env=_env(), stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    deadline = time.monotonic() + 120
    while not (out / CHECKPOINT).exists():
        assert proc.poll() is None, proc.communicate()[0].decode()
        assert time.monotonic() < deadline, "no checkpoint after 120 s"
        time.sleep(0.02)
    time.sleep(delay)
    proc.send_signal(sig)
    proc.communicate(timeout=120)
    return proc.returncode


def _assert_same_weights(a: Path, b: Path) -> None:
    for name in (LAST_WEIGHTS, BEST_WEIGHTS):
        wa = torch.load(a / name, weights_only=True)
        wb = torch.load(b / name, weights_only=True)
        assert wa.keys() == wb.keys()
        for k in wa:
            assert torch.equal(wa[k], wb[k]), f"{name}:{k} differs"


@pytest.fixture(scope="module")
def uninterrupted(resume_data: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("straight") / "run"
    subprocess.run(_train_cmd(resume_data, out), env=_env(), check=True, capture_output=True)
    return out


@pytest.mark.parametrize(("signum", "status"), [(signal.SIGTERM, 143), (signal.SIGINT, 130)],
                         ids=["sigterm", "ctrl-c"])
def test_sigterm_checkpoints_mid_epoch_and_resume_matches(resume_data, tmp_path, uninterrupted,
                                                          signum, status):
    out = tmp_path / "run"
    cmd = _train_cmd(resume_data, out)
    assert _start_and_signal(cmd, out, signum, 0.1) == status
    state = torch.load(out / CHECKPOINT, weights_only=True)["state"]
    assert 1 <= state["epoch"] < 3 and state["batch"] > 0  # stopped inside an epoch
    assert not (out / SUMMARY).exists()
    done = subprocess.run(cmd, env=_env(), capture_output=True, text=True, check=False)
    assert done.returncode == 0, done.stdout + done.stderr
    _assert_same_weights(out, uninterrupted)
    ours = json.loads((out / SUMMARY).read_text())
    theirs = json.loads((uninterrupted / SUMMARY).read_text())
    assert ours["resumed"] and ours["best_val_loss"] == theirs["best_val_loss"]
    (record,) = (out.parent / "results" / "records" / "train").glob("*.json")
    assert read_record(record).config["resumed"] and record.stem.endswith(ours["record_id"])


def test_sigkill_resumes_from_the_epoch_checkpoint(resume_data, tmp_path, uninterrupted):
    out = tmp_path / "run"
    cmd = _train_cmd(resume_data, out)
    assert _start_and_signal(cmd, out, signal.SIGKILL, 0.1) == -signal.SIGKILL
    state = torch.load(out / CHECKPOINT, weights_only=True)["state"]
    assert state["batch"] == 0 and state["epoch"] < 3  # only epoch checkpoints survive a kill
    done = subprocess.run(cmd, env=_env(), capture_output=True, text=True, check=False)
    assert done.returncode == 0, done.stdout + done.stderr
    _assert_same_weights(out, uninterrupted)
