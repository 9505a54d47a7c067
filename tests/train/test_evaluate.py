"""Evaluation: the paper's accuracy, AUC and ROC on HDF5 and on the original NumPy layout."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
import torch

from fairhep.cli import main
from fairhep.data import load
from fairhep.evaluate import evaluate
from fairhep.metrics import auc
from fairhep.model import ModelConfig, load_run_model
from fairhep.results import read_record
from fairhep.train import TrainConfig, train

TEST_SEED = 21

pytestmark = pytest.mark.usefixtures("one_torch_thread")


@pytest.fixture(scope="module")
def run_dir(synthetic_data: Callable[..., Path], tmp_path_factory: pytest.TempPathFactory
            ) -> Path:
    out = tmp_path_factory.mktemp("evalrun") / "run"
    data = synthetic_data(files=2, jets_per_file=200, seed=3)
    train(TrainConfig(data=data, out=out, fold_files=1, epochs=2, batch_size=8,
                      lr=3e-3, device="cpu", progress=False,
                      model=ModelConfig(hidden=8, de=4, do=4)))
    return out


@pytest.fixture(scope="module")
def test_sets(synthetic_data) -> dict[str, Path]:
    # The same jets (same seed and file index) in the three layouts.
    return {
        "h5": synthetic_data(files=1, jets_per_file=300, seed=TEST_SEED, split="test"),
        "npy": synthetic_data(files=1, jets_per_file=300, seed=TEST_SEED, layout="npy"),
        "npy_last": synthetic_data(files=1, jets_per_file=300, seed=TEST_SEED, layout="npy",
                                   channels_last=True),
    }


def _mann_whitney_auc(signal: np.ndarray, background: np.ndarray) -> float:
    """AUC as the probability that a signal jet outscores a background jet (ties count half),
    computed without scikit-learn."""
    greater = (signal[:, None] > background[None, :]).sum()
    ties = (signal[:, None] == background[None, :]).sum()
    return float((greater + 0.5 * ties) / (len(signal) * len(background)))


def test_metrics_match_their_definitions(run_dir, test_sets):
    result = evaluate(run_dir, test_sets["h5"], device="cpu")
    jets = load.load_dataset(test_sets["h5"])
    net = load_run_model(run_dir)
    with torch.no_grad():
        scores = torch.softmax(net(torch.from_numpy(jets.tracks), torch.from_numpy(jets.svs)),
                               dim=1).numpy()
    is_qcd = jets.labels == 0
    called_qcd = scores[:, 0] >= 0.5
    assert result.n_jets == 300
    assert result.accuracy == pytest.approx(np.mean(called_qcd == is_qcd), abs=1e-12)
    assert result.auc == pytest.approx(
        _mann_whitney_auc(scores[~is_qcd, 1], scores[is_qcd, 1]), abs=1e-6)
    assert result.auc is not None and 0.7 < result.auc <= 1.0  # trained: far from chance
    assert result.jets_per_s > 0
    # The QCD column gives the same AUC, as the original code computed it.
    assert auc(scores[:, ::-1], 1 - jets.labels) == pytest.approx(result.auc, abs=1e-9)


def test_hdf5_and_numpy_layouts_give_the_same_numbers(run_dir, test_sets):
    results = {k: evaluate(run_dir, d, device="cpu") for k, d in test_sets.items()}
    ref = results["h5"]
    for name, r in results.items():
        assert r.n_jets == ref.n_jets == 300, name
        assert r.accuracy == ref.accuracy, name
        assert r.auc == ref.auc, name
        assert r.roc == ref.roc, name
    capped = evaluate(run_dir, test_sets["npy"], device="cpu", max_jets=120)
    assert capped.n_jets == 120
    assert capped.accuracy == evaluate(run_dir, test_sets["h5"], device="cpu",
                                       max_jets=120).accuracy


def test_cli_writes_an_evaluate_record(run_dir, test_sets, tmp_path, capsys):
    res = tmp_path / "results"
    assert main(["evaluate", "--run", str(run_dir), "--data", str(test_sets["npy_last"]),
                 "--device", "cpu", "--results", str(res), "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    rec = read_record(Path(out["record"]))
    assert rec.kind == "evaluate"
    assert {"run", "data", "device", "model"} <= set(rec.config)
    assert rec.metrics["auc"] == out["auc"] and rec.metrics["n_jets"] == 300
    assert rec.metrics["accuracy"] == out["accuracy"]
    assert len(rec.metrics["roc"]["fpr"]) == len(rec.metrics["roc"]["tpr"]) <= 200
    assert rec.timings["jets_per_s"] > 0 and rec.timings["total_s"] > 0


def test_bad_inputs_give_one_line_errors(run_dir, test_sets, tmp_path, capsys):
    results = ["--results", str(tmp_path / "results")]
    assert main(["evaluate", "--run", str(tmp_path), "--data", str(test_sets["h5"]),
                 *results]) == 1
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "not a run directory" in err

    broken = tmp_path / "broken"
    broken.mkdir()
    (broken / "newdata_0.h5").write_bytes(b"not an HDF5 file")
    assert main(["evaluate", "--run", str(run_dir), "--data", str(broken), *results]) == 1
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "newdata_0.h5" in err

    assert main(["evaluate", "--run", str(run_dir), "--data", str(tmp_path / "none"),
                 *results]) == 1
    assert "not found" in capsys.readouterr().err
