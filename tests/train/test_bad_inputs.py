"""Bad inputs to train and evaluate are one line, at once, never a NaN in a record (issue 11,
items 3, 4, 11, 12): NaN/inf in tracks, float64/int32 inputs, one-class data, bad batch
sizes and jet caps, a corrupt model.json."""

from __future__ import annotations

import json
import shutil
from collections.abc import Callable
from pathlib import Path

import h5py
import numpy as np
import pytest

from dataset_helpers import refresh_manifest
from fairhep import schema
from fairhep.cli import main
from fairhep.data.check import check_dataset
from fairhep.model import ModelConfig
from fairhep.results import read_record
from fairhep.results.location import RESULTS_ENV
from run_helpers import make_run

pytestmark = pytest.mark.usefixtures("one_torch_thread")

TRACKS = schema.h5_dataset_name("train", schema.H5_TRACK_INDEX)


@pytest.fixture(scope="module")
def clean(synthetic_data: Callable[..., Path]) -> Path:
    return synthetic_data(files=2, jets_per_file=64, seed=23)


@pytest.fixture(scope="module")
def run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("bad-inputs") / "run"
    make_run(out, ModelConfig(hidden=8, de=4, do=4))
    return out


def _copy(clean: Path, tmp_path: Path) -> Path:
    return Path(shutil.copytree(clean, tmp_path / "data"))


def _train(data: Path, tmp_path: Path) -> list[str]:
    return ["train", "--data", str(data), "--out", str(tmp_path / "out"), "--fold-files", "1",
            "--epochs", "1", "--batch-size", "16", "--device", "cpu", "--no-progress",
            "--hidden", "8", "--de", "4", "--do", "4", "--results", str(tmp_path / "results")]


def _evaluate(run: Path, data: Path, tmp_path: Path, *extra: str) -> list[str]:
    return ["evaluate", "--run", str(run), "--data", str(data), "--device", "cpu",
            "--results", str(tmp_path / "results"), *extra]


def _one_line(capsys: pytest.CaptureFixture[str]) -> str:
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1, err
    return err


def test_nan_in_tracks_stops_train_and_evaluate_at_the_first_bad_block(clean, run, tmp_path,
                                                                       capsys):
    data = _copy(clean, tmp_path)
    bad = data / "newdata_1.h5"  # a training file of fold 0
    with h5py.File(bad, "a") as h5:
        h5[TRACKS][40, 11, 3] = np.nan  # track_dxysig
        h5[TRACKS][42, 0, 0] = np.inf
    refresh_manifest(data)
    for argv in (_train(data, tmp_path), _evaluate(run, data, tmp_path)):
        assert main(argv) == 1
        err = _one_line(capsys)
        assert f"{bad}: tracks of jets 40-42 hold NaN and inf" in err
        assert "first: jet 40, feature track_dxysig" in err and "fairhep data check" in err
    assert not (tmp_path / "out" / "checkpoint.pth").exists()  # no epoch was completed
    assert not (tmp_path / "results").exists() or not list((tmp_path / "results").rglob("*.json"))


@pytest.mark.parametrize("dtype", ["float64", "int32"])
def test_tracks_that_are_not_float32_are_refused_not_cast(clean, run, tmp_path, dtype, capsys):
    data = _copy(clean, tmp_path)
    for f in data.glob("newdata_*.h5"):
        with h5py.File(f, "a") as h5:
            values = h5[TRACKS][:]
            del h5[TRACKS]
            h5.create_dataset(TRACKS, data=values.astype(dtype))
    refresh_manifest(data)
    for argv in (_train(data, tmp_path), _evaluate(run, data, tmp_path)):
        assert main(argv) == 1
        err = _one_line(capsys)
        assert f"tracks (/{TRACKS}) are {dtype}, expected float32" in err
        assert "does not cast" in err


def _one_class(clean: Path, tmp_path: Path) -> Path:
    data = _copy(clean, tmp_path)
    for f in data.glob("newdata_*.h5"):
        with h5py.File(f, "a") as h5:
            h5[schema.H5_TARGET][:] = np.eye(2, dtype=np.float32)[schema.QCD]
    refresh_manifest(data)
    return data


def test_one_class_data_is_refused_by_train_and_flagged_by_data_check(clean, tmp_path, capsys):
    data = _one_class(clean, tmp_path)
    assert main(_train(data, tmp_path)) == 1
    err = _one_line(capsys)
    assert "jets of the kfold split are all QCD" in err and "both QCD and H->bb" in err
    problems = check_dataset(data, checksums=False).problems
    assert any(p.startswith(f"{data}: all 128 jets are QCD, none Hbb") for p in problems)


def test_evaluate_of_one_class_records_an_explicit_null_auc(clean, run, tmp_path, capsys):
    data = _one_class(clean, tmp_path)
    assert main(_evaluate(run, data, tmp_path, "--json")) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["auc"] is None and "only QCD jets (128)" in out["auc_undefined"]
    text = Path(out["record"]).read_text()
    assert "NaN" not in text
    rec = read_record(Path(out["record"]))
    assert rec.metrics["auc"] is None and rec.metrics["auc_undefined"] == out["auc_undefined"]
    assert rec.metrics["accuracy"] == out["accuracy"] and rec.metrics["roc"]["fpr"] == []
    assert main(_evaluate(run, data, tmp_path)) == 0
    assert "AUC undefined (only QCD jets" in capsys.readouterr().out


@pytest.mark.parametrize(("option", "value"), [
    ("--batch-size", "0"), ("--batch-size", "-1"), ("--max-jets", "0"), ("--max-jets", "-5"),
])
def test_evaluate_refuses_sizes_that_are_not_positive(clean, run, tmp_path, option, value,
                                                       capsys):
    assert main(_evaluate(run, clean, tmp_path, option, value)) == 1
    err = _one_line(capsys)
    assert f"{option}: must be at least 1, got {value}" in err


def test_a_corrupt_model_json_is_one_line(clean, run, tmp_path, capsys):
    broken = Path(shutil.copytree(run, tmp_path / "run"))
    (broken / "model.json").write_text('{"model": {"hidden": 8,')
    assert main(_evaluate(broken, clean, tmp_path)) == 1
    err = _one_line(capsys)
    assert f"{broken / 'model.json'}: corrupt run configuration" in err


def test_evaluate_writes_its_record_to_results_by_default(clean, run, tmp_path, monkeypatch,
                                                          capsys):
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv(RESULTS_ENV)  # the tests point it at a temporary folder
    assert main(["evaluate", "--run", str(run), "--data", str(clean), "--device", "cpu"]) == 0
    (record,) = (tmp_path / "results" / "records" / "evaluate").glob("*.json")
    assert f"record {Path('results')}" in capsys.readouterr().out
    assert read_record(record).config["model"]["track_indices_dropped"] == []


def test_evaluate_into_a_read_only_results_directory_is_one_line(clean, run, read_only_dir,
                                                                 capsys):
    assert main(["evaluate", "--run", str(run), "--data", str(clean), "--device", "cpu",
                 "--results", str(read_only_dir / "results")]) == 1
    err = _one_line(capsys)
    assert "results directory is not writable" in err and "--results" in err
