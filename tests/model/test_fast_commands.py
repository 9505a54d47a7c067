"""The engine in the commands: ``--engine fast|reference`` on train and evaluate (same AUC,
``evaluate --json`` keeps ``jets_per_s`` and ``auc``), records that name the engine, and the
GPU-resident training batches equal to the streamed ones (checked here on the CPU)."""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from fairhep.cli import _engine, main
from fairhep.cli import runs as _runs
from fairhep.data import load
from fairhep.data.resident import ResidentJets, on_device, train_batches
from fairhep.data.synth import synthesize
from fairhep.model import LAST_WEIGHTS, fast
from fairhep.results import load_records

pytestmark = pytest.mark.usefixtures("one_torch_thread")
SMALL = ["--hidden", "8", "--de", "4", "--do", "4"]


@pytest.fixture(scope="module")
def data(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("engine-data")
    synthesize(out, files=3, jets_per_file=120, seed=31)
    return out


def _train(data: Path, out: Path, engine: str) -> int:
    return main(["train", "--data", str(data), "--out", str(out), "--fold-files", "1",
                 "--epochs", "1", "--batch-size", "32", "--lr", "3e-3", "--seed", "3",
                 "--device", "cpu", "--no-progress", "--engine", engine,
                 "--results", str(out / "results"), *SMALL])


@pytest.fixture(scope="module")
def runs(data, tmp_path_factory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("engine-runs")
    made = {e: root / e for e in ("fast", "reference")}
    for engine, out in made.items():
        assert _train(data, out, engine) == 0
    return made


def test_cli_spells_the_engine_and_precision_names_of_the_model():
    assert _engine.ENGINE_CHOICES == fast.ENGINES
    assert _engine.ENGINE_CHOICES[0] == fast.DEFAULT_ENGINE
    assert _engine.PRECISION_CHOICES == fast.PRECISIONS


def test_training_with_either_engine_gives_the_same_weights_within_float_tolerance(runs):
    a = torch.load(runs["fast"] / LAST_WEIGHTS, weights_only=True)
    b = torch.load(runs["reference"] / LAST_WEIGHTS, weights_only=True)
    for k in a:
        assert float((a[k] - b[k]).abs().max()) <= 1e-4, k
    for engine, out in runs.items():
        record = load_records(out / "results", "train")[0]
        assert record.config["engine"] == engine and record.config["approximate"] is False


def test_evaluate_json_reports_jets_per_s_and_auc_for_either_engine(runs, data, tmp_path,
                                                                    capsys):
    out = {}
    for engine in ("fast", "reference"):
        assert main(["evaluate", "--run", str(runs["fast"]), "--data", str(data),
                     "--device", "cpu", "--engine", engine, "--json",
                     "--results", str(tmp_path / "results")]) == 0
        out[engine] = json.loads(capsys.readouterr().out)
        assert out[engine]["jets_per_s"] > 0 and out[engine]["engine"] == engine
    assert f"{out['fast']['auc']:.5f}" == f"{out['reference']['auc']:.5f}"
    assert out["fast"]["accuracy"] == out["reference"]["accuracy"]
    assert abs(out["fast"]["loss"] - out["reference"]["loss"]) < 1e-6


def test_resuming_with_another_engine_is_refused_in_one_line(runs, data, tmp_path, capsys):
    assert main(["train", "--data", str(data), "--out", str(runs["fast"]), "--fold-files", "1",
                 "--epochs", "2", "--batch-size", "32", "--lr", "3e-3", "--seed", "3",
                 "--device", "cpu", "--no-progress", "--engine", "reference", *SMALL,
                 "--results", str(tmp_path / "results")]) == 1
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "engine" in err


def test_resident_batches_are_the_streamed_batches(data):
    files = load.list_files(data)
    subsets = {files[1]: np.arange(5, 100, 3)}
    resident = ResidentJets(files, torch.device("cpu"), subsets)
    assert len(resident) == 120 + len(subsets[files[1]]) + 120
    streamed = load.iter_batches(files, 16, shuffle=True, rng=np.random.default_rng([4, 1]),
                                 subsets=subsets)
    on_gpu_path = resident.batches(16, np.random.default_rng([4, 1]))
    n = 0
    for a, b in zip(streamed, on_gpu_path, strict=True):
        x, y, lab = on_device(b, torch.device("cpu"))
        assert np.array_equal(a.tracks, x.numpy()) and np.array_equal(a.svs, y.numpy())
        assert np.array_equal(a.labels, lab.numpy())
        n += len(a)
    assert n == len(resident)
    # On a CPU the training streams from the files, in the same order.
    again = train_batches(files, 16, np.random.default_rng([4, 1]), torch.device("cpu"),
                          subsets, n_jets=n)
    first = next(iter(again))
    assert np.array_equal(first.tracks, next(iter(load.iter_batches(
        files, 16, shuffle=True, rng=np.random.default_rng([4, 1]), subsets=subsets))).tracks)


def test_evaluation_reads_the_streamed_batches_one_slice_at_a_time(data):
    from fairhep.data.stream import iter_slices

    files = load.list_files(data)
    for subsets in (None, {files[0]: np.arange(0, 90), files[2]: np.arange(10, 120, 7)}):
        a = list(load.iter_batches(files, 25, subsets=subsets))
        b = list(iter_slices(files, 25, subsets))
        assert [len(x) for x in a] == [len(x) for x in b]
        for x, y in zip(a, b, strict=True):
            assert np.array_equal(x.tracks, y.tracks) and np.array_equal(x.labels, y.labels)
    with pytest.raises(ValueError, match="batch size must be positive"):
        next(iter_slices(files, 0))


def test_cli_spells_the_compile_modes_of_the_model():
    assert (*fast.COMPILE_MODES, "none") == _engine.COMPILE_CHOICES


def test_building_the_parser_with_the_engine_options_imports_no_torch():
    code = ("import sys; from fairhep.cli import build_parser; build_parser(); "
            "print('torch' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True)
    assert out.stdout.strip() == "False"


def _evaluate_record(runs: dict[str, Path], data: Path, results: Path, *extra: str
                     ) -> dict[str, object]:
    assert main(["evaluate", "--run", str(runs["fast"]), "--data", str(data), "--device",
                 "cpu", "--max-jets", "40", "--results", str(results), *extra]) == 0
    (record,) = load_records(results, "evaluate")
    options: dict[str, object] = record.config["engine_options"]
    return options


def test_engine_options_and_their_variables_reach_the_evaluate_record(runs, data, tmp_path,
                                                                      monkeypatch):
    onednn = fast.linear.onednn_available()
    flags = ["--engine-budget-mb", "3", *(["--onednn"] if onednn else [])]
    got = _evaluate_record(runs, data, tmp_path / "flags", *flags)
    assert got["memory_budget_mb"] == 3.0 and got["onednn"] is onednn
    # The variables are the options' defaults (job files and tools/gpu-check set them) ...
    monkeypatch.setenv("FAIRHEP_ENGINE_BUDGET_MB", "5")
    monkeypatch.setenv("FAIRHEP_ONEDNN", "1" if onednn else "0")
    got = _evaluate_record(runs, data, tmp_path / "env")
    assert got["memory_budget_mb"] == 5.0 and got["onednn"] is onednn
    # ... and an option given wins over its variable.
    got = _evaluate_record(runs, data, tmp_path / "both", "--engine-budget-mb", "7",
                           "--no-onednn")
    assert got["memory_budget_mb"] == 7.0 and got["onednn"] is False


@pytest.mark.parametrize(("argv", "env", "named"), [
    (["--engine-buckets", "20,x"], {}, "--engine-buckets: 'x' is not an integer"),
    (["--engine-compile", "fastest"], {}, "--engine-compile: 'fastest' is not a torch.compile"),
    (["--engine-budget-mb", "0"], {}, "--engine-budget-mb: must be above 0"),
    ([], {"FAIRHEP_ENGINE_COMPILE": "fastest"}, "$FAIRHEP_ENGINE_COMPILE='fastest'"),
    ([], {"FAIRHEP_ENGINE_BUCKETS": "60,,20"}, "$FAIRHEP_ENGINE_BUCKETS='60,,20'"),
    ([], {"FAIRHEP_ONEDNN": "yes"}, "$FAIRHEP_ONEDNN='yes'"),
])
def test_a_bad_engine_setting_is_one_line_naming_the_option_or_variable(
        argv, env, named, runs, data, tmp_path, capsys, monkeypatch):
    for var, value in env.items():
        monkeypatch.setenv(var, value)
    assert main(["evaluate", "--run", str(runs["fast"]), "--data", str(data), "--device",
                 "cpu", "--results", str(tmp_path), *argv]) == 1
    err = capsys.readouterr().err.strip()
    assert "\n" not in err and named in err, err
    assert not list(tmp_path.rglob("*.json"))  # refused before any record


def test_task_run_takes_the_engine_options_after_the_positionals():
    from fairhep.cli import build_parser

    args = build_parser().parse_args(["task", "run", "smoke", "--kind", "train", "0",
                                      "--engine-budget-mb", "9"])
    inner = argparse.ArgumentParser()
    _runs._run_options(inner, suppress=True)
    inner.add_argument("positional", nargs="+")
    args = inner.parse_intermixed_args(args.words, namespace=args)
    settings = _engine.engine_settings(args)
    assert settings is not None and settings.memory_budget_mb == 9.0
