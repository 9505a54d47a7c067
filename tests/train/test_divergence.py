"""A learning rate too high for the network (issue 21, item 6): the values no training can use
are refused before anything is written, and a training whose loss or weights turn NaN or inf
stops in one line naming the learning rate, with the run directory's last good checkpoint
as it was (nothing of the diverged weights is saved)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
import torch

from fairhep.cli import main
from fairhep.model import BEST_WEIGHTS, LAST_WEIGHTS
from fairhep.train import CHECKPOINT

pytestmark = pytest.mark.usefixtures("one_torch_thread")

SMALL = ["--hidden", "8", "--de", "4", "--do", "4"]


@pytest.fixture(scope="module")
def data(synthetic_data: Callable[..., Path]) -> Path:
    return synthetic_data(files=2, jets_per_file=96, seed=17)


def _argv(data: Path, out: Path, *extra: str) -> list[str]:
    # 96 training jets in batches of 32: three steps an epoch.
    return ["train", "--data", str(data), "--out", str(out), "--fold-files", "1",
            "--batch-size", "32", "--device", "cpu", "--no-progress", *SMALL,
            "--results", str(out.parent / "results"), *extra]


def _one_line(capsys: pytest.CaptureFixture[str]) -> str:
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1, err
    return err


@pytest.mark.parametrize(("lr", "message"), [
    ("nan", "--lr: must be a finite number above 0, got 'nan'"),
    ("inf", "--lr: must be a finite number above 0, got 'inf'"),
    ("-1e-4", "--lr: must be above 0, got '-1e-4'"),
    ("0", "--lr: must be above 0, got '0'"),
    ("1e300", "--lr must be a finite number above 0 and at most 1.0e+37"),
    ("3.4e37", "--lr must be a finite number above 0 and at most 1.0e+37"),
])
def test_a_learning_rate_no_training_can_use_is_refused_before_anything(data, tmp_path, lr,
                                                                         message, capsys):
    out = tmp_path / "run"
    assert main(_argv(data, out, "--epochs", "1", f"--lr={lr}")) == 1
    assert message in _one_line(capsys)
    assert not out.exists() and not (tmp_path / "results").exists()


@pytest.mark.parametrize("lr", ["1e12", "1e37"])  # 1e37: the largest accepted
def test_a_learning_rate_that_diverges_stops_in_one_line_with_nothing_saved(data, tmp_path,
                                                                             lr, capsys):
    out = tmp_path / "run"
    assert main(_argv(data, out, "--epochs", "2", "--lr", lr)) == 1
    err = _one_line(capsys)
    assert f"{out}: training diverged in epoch 1: the training loss of batch" in err
    assert f"the learning rate {float(lr):g} is too high" in err and "lower --lr" in err
    assert "no epoch finished, so it holds no checkpoint" in err
    for name in (CHECKPOINT, BEST_WEIGHTS, LAST_WEIGHTS):
        assert not (out / name).exists(), name
    assert not list((tmp_path / "results").rglob("*.json"))  # no record of a diverged run


def _poison_step(monkeypatch: pytest.MonkeyPatch, at: int, factor: float) -> None:
    """Adam's ``at``-th step from now multiplies every weight by ``factor``: a divergence at
    a known step."""
    step = torch.optim.Adam.step
    calls = [0]

    def poisoned(self, *args, **kwargs):
        result = step(self, *args, **kwargs)
        calls[0] += 1
        if calls[0] == at:
            with torch.no_grad():
                for group in self.param_groups:
                    for p in group["params"]:
                        p.mul_(factor)
        return result

    monkeypatch.setattr(torch.optim.Adam, "step", poisoned)


@pytest.mark.parametrize(("at", "factor", "what"), [
    (1, float("nan"), "the training loss of batch 2 is nan"),
    (3, float("nan"), "holds NaN or inf"),  # the epoch's last step: caught before validation
    (3, 1e30, "the validation loss is"),  # finite weights whose activations overflow
], ids=["loss", "weights", "validation"])
def test_a_divergence_after_a_good_epoch_keeps_its_checkpoint(data, tmp_path, monkeypatch, at,
                                                              factor, what, capsys):
    out = tmp_path / "run"
    assert main(_argv(data, out, "--epochs", "1")) == 0
    kept = {name: (out / name).read_bytes() for name in (CHECKPOINT, BEST_WEIGHTS, LAST_WEIGHTS)}
    capsys.readouterr()
    _poison_step(monkeypatch, at, factor)
    assert main(_argv(data, out, "--epochs", "2")) == 1  # epoch 2 resumes the same run
    err = _one_line(capsys)
    assert f"{out}: training diverged in epoch 2: " in err and what in err
    assert "its last good checkpoint is kept" in err
    assert {name: (out / name).read_bytes() for name in kept} == kept
