"""`fairhep bench` on the embedded default, end to end on a tiny configuration: synthesis and
training into the cache, evaluation, the bench.default record, and cache reuse."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from fairhep.bench import BenchOptions, run
from fairhep.cli import main
from fairhep.data.synth import synthesize
from fairhep.errors import ConfigError
from fairhep.results import load_records, read_record

# Generator v1: four steps of 32 jets learn its caricature (AUC > 0.5 below), not reliably
# v2's realistic, unnormalised magnitudes (AUC 0.25 measured), which the embedded default
# uses since issue 26; the default's generator choice is tested in test_generator_choice.py.
TINY = {"train_files": 3, "jets_per_file": 64, "test_jets": 128, "epochs": 1,
        "batch_size": 32, "lr": 3e-3, "generator": "v1"}

pytestmark = pytest.mark.usefixtures("one_torch_thread")


@pytest.fixture(scope="module")
def cold(tmp_path_factory) -> tuple[BenchOptions, Path]:
    base = tmp_path_factory.mktemp("bench")
    opts = BenchOptions(results=base / "results", cache_dir=base / "cache", device="cpu",
                        defaults=dict(TINY))
    paths = run(opts)
    assert len(paths) == 1
    return opts, paths[0]


def test_cold_bench_writes_a_complete_record(cold):
    opts, path = cold
    rec = read_record(path)
    assert rec.kind == "bench.default" and rec.status == "ok"
    m, t = rec.metrics, rec.timings
    assert m["n_train_jets"] == 128 and m["n_test_jets"] == 128  # 2 of 3 files train
    assert 0.5 < m["auc"] <= 1.0 and 0.0 <= m["accuracy"] <= 1.0
    for key in ("synth_jets_per_s", "train_jets_per_s", "eval_jets_per_s", "train_s", "total_s"):
        assert t[key] > 0, key
    assert rec.config["cached_data"] is False and rec.config["cached_run"] is False
    assert rec.config["default"]["jets_per_file"] == 64
    assert rec.config["training"]["lr"] == 3e-3  # the brief default's lr is on record
    assert rec.config["model"]["hidden"] == 60  # the baseline IN
    assert rec.provenance["dataset_manifest_sha256"]
    # The training of the default model left its own record.
    (train,) = load_records(opts.results, "train")
    assert train.metrics["epochs"] == 1


def test_warm_bench_reuses_the_cache(cold, tmp_path):
    opts, path = cold
    first = read_record(path)
    again = BenchOptions(results=tmp_path / "results", cache_dir=opts.cache_dir, device="cpu",
                         defaults=dict(TINY))
    (second_path,) = run(again)
    second = read_record(second_path)
    assert second.config["cached_data"] is True and second.config["cached_run"] is True
    assert second.metrics["auc"] == first.metrics["auc"]  # same data, same model
    assert second.metrics["accuracy"] == first.metrics["accuracy"]
    assert second.timings["synth_jets_per_s"] == first.timings["synth_jets_per_s"]
    assert load_records(tmp_path / "results", "train") == []  # nothing retrained


def test_corrupted_cache_is_rebuilt(cold, tmp_path):
    opts, _ = cold
    data_root = next((Path(opts.cache_dir) / "data").iterdir())
    victim = data_root / "test" / "newdata_0.h5"
    victim.write_bytes(victim.read_bytes()[:1000])  # truncated
    again = BenchOptions(results=tmp_path / "results", cache_dir=opts.cache_dir, device="cpu",
                         defaults=dict(TINY))
    rec = read_record(run(again)[0])
    assert rec.config["cached_data"] is False and rec.metrics["n_test_jets"] == 128
    # Regenerated deterministically: the cached model scores the rebuilt data as before.
    assert rec.config["cached_run"] is True
    assert rec.metrics["auc"] == read_record(cold[1]).metrics["auc"]


def test_cli_bench_with_data_and_run_and_env_sizes(cold, tmp_path, monkeypatch, capsys):
    opts, path = cold
    first = read_record(path)
    res = tmp_path / "results"
    monkeypatch.setenv("FAIRHEP_BENCH_DEFAULTS", json.dumps(TINY))
    assert main(["bench", "--cache-dir", str(opts.cache_dir), "--results", str(res),
                 "--device", "cpu", "--no-report"]) == 0
    out = capsys.readouterr().out
    assert "AUC" in out and "train jets/s" in out
    (rec,) = load_records(res, "bench.default")
    assert rec.config["cached_run"] is True and rec.metrics["auc"] == first.metrics["auc"]

    # --data / --run: use what is given, train nothing.
    monkeypatch.delenv("FAIRHEP_BENCH_DEFAULTS")
    res2 = tmp_path / "results2"
    assert main(["bench", "--data", first.config["data"], "--run", first.config["run"],
                 "--results", str(res2), "--device", "cpu", "--max-jets", "50",
                 "--no-report"]) == 0
    (rec2,) = load_records(res2, "bench.default")
    assert rec2.metrics["n_test_jets"] == 50
    assert rec2.config["cached_data"] is None and rec2.config["cached_run"] is None
    assert load_records(res2, "train") == []


def test_unknown_default_setting_is_a_config_error(tmp_path, monkeypatch):
    monkeypatch.setenv("FAIRHEP_BENCH_DEFAULTS", '{"jets": 5}')
    with pytest.raises(ConfigError, match="unknown key"):
        run(BenchOptions(results=tmp_path / "r", cache_dir=tmp_path / "c"))


def test_data_without_run_trains_on_it_and_tests_on_the_held_out_file(cold, tmp_path):
    _, path = cold
    train_dir = Path(read_record(path).config["training"]["data"])
    mine = BenchOptions(data=train_dir, results=tmp_path / "results", device="cpu",
                        cache_dir=tmp_path / "cache", defaults=dict(TINY))
    rec = read_record(run(mine)[0])
    assert rec.config["test_files"] == ["newdata_0.h5"]  # the validation fold, never trained on
    assert rec.metrics["n_test_jets"] == 64 and rec.metrics["n_train_jets"] == 128
    assert rec.config["cached_data"] is None and rec.config["cached_run"] is False

    npy = tmp_path / "npy"
    synthesize(npy, files=1, jets_per_file=10, seed=1, layout="npy")
    with pytest.raises(ConfigError, match="needs an HDF5 dataset"):
        run(BenchOptions(data=npy, results=tmp_path / "r2", cache_dir=tmp_path / "cache"))


def test_bench_ends_with_a_report_of_what_it_ran(cold, tmp_path, monkeypatch):
    opts, _ = cold
    monkeypatch.setenv("FAIRHEP_BENCH_DEFAULTS", json.dumps(TINY))
    results = tmp_path / "results"
    assert main(["bench", "--results", str(results), "--cache-dir", str(opts.cache_dir),
                 "--device", "cpu"]) == 0
    (report_dir,) = (results / "reports").iterdir()
    md = (report_dir / "report.md").read_text()
    html = (report_dir / "report.html").read_text()
    (rec,) = load_records(results, "bench.default")
    auc = rec.metrics["auc"]
    assert f"{auc:.4f}" in md and f"{auc:.4f}" in html
    assert "<img" in html and 'src="http' not in html


def test_bench_names_its_record_and_trained_run_in_full_whatever_the_width(
        cold, tmp_path, monkeypatch, capsys):
    """`make run`'s trained run is what `fairhep package --run` needs: said in full, on a
    line of its own (a table cell would be cut at the terminal's width)."""
    opts, _ = cold
    monkeypatch.setenv("COLUMNS", "40")
    results = tmp_path / "a results folder with a long name" / "results"
    again = BenchOptions(results=results, cache_dir=opts.cache_dir, device="cpu",
                         defaults=dict(TINY))
    (path,) = run(again)
    lines = capsys.readouterr().out.splitlines()
    assert f"record: {path}" in lines
    (run_line,) = [line for line in lines if line.startswith("trained run: ")]
    run_dir = Path(read_record(path).config["run"])
    assert run_line.startswith(f"trained run: {run_dir} ") and run_dir.parent.parent == (
        opts.cache_dir)
    assert f"  package it: fairhep package --run {run_dir} --out BUNDLE_DIR" in lines
