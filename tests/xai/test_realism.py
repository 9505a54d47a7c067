"""`fairhep data realism`: a model trained on real jets as the instrument (issue 26)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from fairhep import schema
from fairhep.cli import main
from fairhep.data.synth import synthesize
from fairhep.errors import ConfigError
from fairhep.xai import realism


def _baseline() -> Path:
    try:
        return realism.default_checkpoint()
    except ConfigError as exc:
        pytest.skip(f"the published baseline is not here: {exc}")


def test_neutralising_keeps_padding_and_the_values() -> None:
    rng = np.random.default_rng(0)
    arr = np.zeros((50, 3, 4), np.float32)
    arr[:, :, :2] = rng.normal(size=(50, 3, 2)) + 5  # two present slots per jet
    shuffled, mean = realism._neutralised(arr, 1, np.random.default_rng(1))
    assert not shuffled[:, :, 2:].any() and not mean[:, :, 2:].any()
    np.testing.assert_array_equal(np.sort(shuffled[:, 1, :2].ravel()),
                                  np.sort(arr[:, 1, :2].ravel()))
    assert not np.array_equal(shuffled[:, 1, :2], arr[:, 1, :2])
    np.testing.assert_allclose(mean[:, 1, :2], arr[:, 1, :2].mean(), rtol=1e-5)
    for other in (0, 2):  # the other features are untouched
        np.testing.assert_array_equal(shuffled[:, other], arr[:, other])


def test_published_baseline_on_generated_jets(tmp_path: Path,
                                              capsys: pytest.CaptureFixture[str]) -> None:
    checkpoint = _baseline()
    synthesize(tmp_path / "d", files=1, jets_per_file=64, seed=1, split="test",
               generator="v2")
    assert main(["data", "realism", str(tmp_path / "d"), "--checkpoint", str(checkpoint),
                 "--max-jets", "64", "--json", "--no-progress"]) == 0
    got = json.loads(capsys.readouterr().out)
    assert got["n_jets"] == 64 and 0.5 < got["auc"] <= 1.0
    names = [(f["group"], f["feature"]) for f in got["features"]]
    assert sorted(names) == sorted([("track", f) for f in schema.TRACK_FEATURES]
                                   + [("sv", f) for f in schema.SV_FEATURES])
    for f in got["features"]:
        assert f["delta_shuffled"] == pytest.approx(f["auc_shuffled"] - got["auc"])
    # A feature that is ~1e-6 on every track (a covariance element) cannot move the AUC.
    cov = next(f for f in got["features"] if f["feature"] == "track_dptdpt")
    assert abs(cov["delta_mean"]) < 1e-3


def test_the_table_flags_features_whose_loss_helps() -> None:
    rows = (realism.FeatureShift("track", "track_drminsv", 0.93, 0.92, 0.90),
            realism.FeatureShift("sv", "sv_pt", 0.80, 0.85, 0.90))
    lines = realism.table_lines(realism.Realism("checkpoint x.pth", 0.90, 100, rows))
    assert lines[1] == "AUC on 100 jets: 0.9000"
    assert "track_drminsv" in lines[4] and "+0.0300" in lines[4] and "disagrees" in lines[4]
    assert "sv_pt" in lines[5] and "-0.1000" in lines[5] and "disagrees" not in lines[5]


def test_one_model_and_a_missing_checkpoint_are_one_line(
        tmp_path: Path, capsys: pytest.CaptureFixture[str],
        monkeypatch: pytest.MonkeyPatch) -> None:
    assert main(["data", "realism", str(tmp_path), "--run", str(tmp_path),
                 "--checkpoint", str(tmp_path / "x.pth")]) == 1
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "give one" in err
    monkeypatch.setenv(realism.BASELINE_ENV, str(tmp_path / "absent.pth"))
    assert main(["data", "realism", str(tmp_path)]) == 1
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "--checkpoint" in err
