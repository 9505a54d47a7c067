"""`fairhep bench` refuses what cannot run in one line and a non-zero exit, before any work:
bad options, an unwritable results folder, an unreadable run, jets holding NaN; and a run
whose every backend failed exits non-zero with its records written."""

from __future__ import annotations

import shutil

import h5py
import numpy as np
import pytest

from dataset_helpers import refresh_manifest
from fairhep import schema
from fairhep.backends import Backend, PreparedModel
from fairhep.bench import frameworks
from fairhep.cli import main
from fairhep.data.synth import synthesize
from fairhep.results import load_records


def _error(capsys: pytest.CaptureFixture[str]) -> str:
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1, err
    return err


def _bench(*args: str, data, run, results, cache) -> int:
    return main(["bench", *args, "--data", str(data), "--run", str(run), "--results",
                 str(results), "--cache-dir", str(cache), "--max-jets", "8", "--no-report"])


@pytest.mark.parametrize(("args", "message"), [
    (["--frameworks", "--repeats", "0"], "--repeats: must be at least 1, got 0"),
    (["--batch-sweep", "--repeats", "0"], "--repeats: must be at least 1, got 0"),
    (["--batch-sweep", "--batch-sizes", "100:10:10"],
     "--batch-sizes: '100:10:10' is empty: its start 100 is above its stop 10"),
    (["--batch-sweep", "--batch-sizes", "8,x"], "--batch-sizes: 'x' is not an integer"),
    (["--batch-sweep", "--batch-sizes", "128,,256"],
     "--batch-sizes: '128,,256' has an empty entry"),
    (["--batch-sweep", "--batch-sizes", "128,256,"], "--batch-sizes: '128,256,' has an empty"),
    (["--batch-sweep", "--batch-sizes", "100:300:100,300"],
     "--batch-sizes: '100:300:100,300' names 300 more than once"),
    (["--batch-sweep", "--batch-sizes", "0,8"], "--batch-sizes: sizes must be at least 1"),
    (["--batch-sweep", "--repeat-seconds", "0"], "--repeat-seconds: must be above 0, got '0'"),
    (["--batch-sweep", "--repeat-seconds", "inf"],
     "--repeat-seconds: must be a finite number above 0, got 'inf'"),
    (["--frameworks", "--max-jets", "0"], "--max-jets: must be at least 1, got 0"),
])
def test_options_no_mode_can_run_are_one_line_errors(args, message, capsys, tmp_path,
                                                     tiny_test_set, untrained_run):
    assert _bench(*args, data=tiny_test_set, run=untrained_run, results=tmp_path / "r",
                  cache=tmp_path / "c") == 1
    assert message in _error(capsys)
    assert not (tmp_path / "r").exists()  # refused before anything was written


def test_an_unwritable_results_folder_is_refused_first(read_only_dir, capsys, tiny_test_set,
                                                       untrained_run, tmp_path):
    assert _bench("--frameworks", data=tiny_test_set, run=untrained_run,
                  results=read_only_dir / "results", cache=tmp_path / "c") == 1
    err = _error(capsys)
    assert f"{read_only_dir / 'results'}: results directory is not writable" in err
    assert "choose another with --results" in err


def test_an_unreadable_best_pth_stops_every_mode(tmp_path, capsys, tiny_test_set,
                                                 untrained_run, bench_cache):
    run = tmp_path / "run"
    shutil.copytree(untrained_run, run)
    (run / "best.pth").write_bytes(b"not a checkpoint")
    for mode in (["--frameworks"], ["--batch-sweep"], []):
        results = tmp_path / f"results{len(mode)}{mode[:1]}"
        assert _bench(*mode, data=tiny_test_set, run=run, results=results,
                      cache=bench_cache) == 1, mode
        assert f"{run / 'best.pth'}: not a PyTorch checkpoint (a text file)" in _error(capsys)
        assert load_records(results) == []  # no per-backend "failed" records


def test_jets_holding_nan_stop_the_bench_naming_file_jets_and_feature(tmp_path, capsys,
                                                                      untrained_run):
    data = tmp_path / "data"
    synthesize(data, files=2, jets_per_file=6, seed=3, split="test")
    victim = data / "newdata_1.h5"
    with h5py.File(victim, "r+") as h5:
        tracks = h5[schema.h5_dataset_name("test", schema.H5_TRACK_INDEX)]
        block = tracks[...]
        block[0, 5, 0] = np.nan  # jets 6 and 7 of the dataset: 0 and 1 of its second file
        block[1, 7, 3] = np.inf
        tracks[...] = block
    refresh_manifest(data)
    assert _bench("--frameworks", data=data, run=untrained_run, results=tmp_path / "r",
                  cache=tmp_path / "c") == 1
    err = _error(capsys)
    assert (f"{victim}: tracks of jets 0-1 hold NaN and inf (2 jets; first: jet 0, feature "
            f"{schema.TRACK_FEATURES[5]})") in err
    assert f"`fairhep data check {data}`" in err and "\n" not in err.strip()


class _Broken(Backend):
    name, needs_onnx = "broken", False

    def available(self) -> str | None:
        return None

    def prepare(self, _model: PreparedModel) -> None:
        raise RuntimeError("CUDA error: an illegal memory access was encountered")

    def predict(self, _tracks: np.ndarray, _svs: np.ndarray) -> np.ndarray:
        raise AssertionError("never prepared")


def test_a_run_whose_every_backend_failed_exits_non_zero(monkeypatch, tmp_path, capsys,
                                                         tiny_test_set, untrained_run,
                                                         bench_cache):
    monkeypatch.setattr(frameworks, "select_backends", lambda _names, **_options: [_Broken()])
    results = tmp_path / "results"
    assert _bench("--frameworks", data=tiny_test_set, run=untrained_run, results=results,
                  cache=bench_cache) == 1
    err = _error(capsys)
    assert ("every backend failed (1; first broken-cpu: RuntimeError: CUDA error: an illegal "
            "memory access was encountered)") in err
    (rec,) = load_records(results, frameworks.KIND)  # the failure is on record all the same
    assert rec.status == "failed"


def test_an_interrupted_bench_says_that_the_same_command_continues(tmp_path, monkeypatch,
                                                                   capsys):
    import fairhep.bench

    def interrupted(_opts):
        raise KeyboardInterrupt

    monkeypatch.setattr(fairhep.bench, "run", interrupted)
    assert main(["bench", "--results", str(tmp_path), "--cache-dir", str(tmp_path)]) == 130
    err = capsys.readouterr().err.strip()
    assert err.startswith("fairhep bench: interrupted; run the same command again to continue")
    assert "\n" not in err
