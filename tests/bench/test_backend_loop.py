"""The one loop of the portability modes (fairhep.bench.backend_loop): a backend that raises
marks only itself failed, an unavailable one is skipped with its reason, the others' records
are written; and the same through ``bench --frameworks`` and ``bench --batch-sweep``."""

from __future__ import annotations

import csv

import numpy as np
import pytest

from fairhep.backends import Backend, PreparedModel, all_backends
from fairhep.backends.torch_backend import TorchBackend
from fairhep.bench import BenchOptions, frameworks, sweep
from fairhep.bench.backend_loop import (
    FAILED,
    OK,
    SKIPPED,
    NotRun,
    Outcome,
    Planned,
    Ran,
    device_excluded,
    plan_backends,
    run_backends,
)
from fairhep.bench.workload import Workload
from fairhep.cli import main
from fairhep.data.load import JetArrays
from fairhep.errors import BackendUnavailable
from fairhep.gpu import nvml_unavailable_reason
from fairhep.results import load_records, read_record

KIND = "bench.frameworks"


class Fake(Backend):
    """A backend that runs, is unavailable, or breaks where it is told to."""

    def __init__(self, name: str, *, reason: str | None = None, device: str = "cpu",
                 needs_onnx: bool = False, prepare_error: Exception | None = None,
                 predict_error: Exception | None = None) -> None:
        self.name, self.device, self.needs_onnx = name, device, needs_onnx
        self.reason, self.prepare_error, self.predict_error = reason, prepare_error, predict_error
        self.prepared = self.closed = 0
        self.model: PreparedModel | None = None

    def available(self) -> str | None:
        return self.reason

    def prepare(self, model: PreparedModel) -> None:
        self.prepared += 1
        self.model = model
        if self.prepare_error is not None:
            raise self.prepare_error

    def predict(self, tracks: np.ndarray, svs: np.ndarray) -> np.ndarray:
        if self.predict_error is not None:
            raise self.predict_error
        assert len(svs) == len(tracks)
        return np.full((len(tracks), 2), 0.5, np.float32)

    def close(self) -> None:
        self.closed += 1


def _workload(tmp_path, export_error: str | None = None) -> Workload:
    jets = JetArrays(np.zeros((4, 30, 60), np.float32), np.zeros((4, 14, 5), np.float32),
                     np.array([0, 1, 0, 1]))
    model = PreparedModel(tmp_path / "run", None, (1, 128), tmp_path / "cache")
    return Workload(tmp_path / "data", tmp_path / "run", jets, model, export_error,
                    tmp_path / "results")


def _run(work: Workload, backends: list[Backend], seen: list[Outcome[int]] | None = None,
         excluded=None) -> list[Outcome[int]]:
    plan = plan_backends(BenchOptions(), work, backends, excluded)
    return run_backends(
        work, plan, kind=KIND, config=lambda b: {**b.config(), "run": "r"},
        measure=lambda b: len(b.predict(work.jets.tracks, work.jets.svs)),
        not_run_metrics=lambda b: {"tolerance": b.tolerance},
        on_outcome=None if seen is None else seen.append,
    )


def test_a_broken_backend_marks_only_itself_failed(tmp_path):
    good, late = Fake("good"), Fake("late")
    broken = Fake("broken", predict_error=RuntimeError("boom"))
    crashed = Fake("crashed", prepare_error=OSError("no engine"))
    work = _workload(tmp_path)
    seen: list[Outcome[int]] = []
    outcomes = _run(work, [good, broken, crashed, late], seen)
    assert seen == outcomes  # each outcome handed over as soon as it is known, in order
    assert [o.status for o in outcomes] == [OK, FAILED, FAILED, OK]
    for o in (outcomes[0], outcomes[3]):
        assert isinstance(o, Ran) and o.result == 4 and o.config["run"] == "r"
        assert 0 <= o.prepare_s <= o.total_s
    failed = [o for o in outcomes if isinstance(o, NotRun)]
    assert [o.reason for o in failed] == ["RuntimeError: boom", "OSError: no engine"]
    for o in failed:
        rec = read_record(o.record)
        assert rec.kind == KIND and rec.status == FAILED
        assert rec.skipped == [{"what": o.backend.label, "reason": o.reason}]
        assert rec.metrics == {"tolerance": 1e-5} and rec.config["run"] == "r"
    assert good.model is work.model  # every backend builds itself from the one workload
    # Every backend that was prepared was closed, broken or not.
    assert [(b.prepared, b.closed) for b in (good, broken, crashed, late)] == [(1, 1)] * 4
    # Only the not-run records are the loop's to write: the mode writes the others.
    assert sorted(r.status for r in load_records(work.results, KIND)) == [FAILED, FAILED]


def test_an_unavailable_backend_is_skipped_with_its_reason_and_never_prepared(tmp_path):
    absent = Fake("absent", reason="absent: module not installed")
    gone = Fake("gone", prepare_error=BackendUnavailable("gone: no GPU after all"))
    good = Fake("good")
    outcomes = _run(_workload(tmp_path), [absent, gone, good])
    assert [(o.status, getattr(o, "reason", None)) for o in outcomes] == [
        (SKIPPED, "absent: module not installed"), (SKIPPED, "gone: no GPU after all"),
        (OK, None)]
    assert (absent.prepared, absent.closed) == (0, 0)
    assert (gone.prepared, gone.closed) == (1, 1)
    for o in outcomes[:2]:
        assert isinstance(o, NotRun)
        rec = read_record(o.record)
        assert rec.status == SKIPPED and rec.skipped[0]["reason"] == o.reason


def test_plan_fails_backends_that_need_the_broken_export_and_keeps_torch(tmp_path):
    work = _workload(tmp_path, export_error="ONNX export: it broke")
    onnx_based, torch_like = Fake("onnxish", needs_onnx=True), Fake("torchish")
    absent = Fake("absent", needs_onnx=True, reason="absent: module not installed")
    plan = plan_backends(BenchOptions(), work, [onnx_based, torch_like, absent])
    assert plan == [Planned(onnx_based, "ONNX export: it broke", FAILED), Planned(torch_like),
                    Planned(absent, "absent: module not installed", SKIPPED)]
    assert [p.runnable for p in plan] == [False, True, False]


def test_plan_asks_the_mode_only_about_backends_that_could_run(tmp_path):
    asked: list[str] = []

    def excluded(b: Backend) -> str | None:
        asked.append(b.label)
        return "not in this mode" if b.name == "left" else None

    backends = [Fake("left"), Fake("right"), Fake("absent", reason="absent: no"),
                Fake("gpu", device="cuda")]
    plan = plan_backends(BenchOptions(device="cpu"), _workload(tmp_path), backends, excluded)
    assert asked == ["left-cpu", "right-cpu"]
    assert [(p.backend.name, p.reason) for p in plan] == [
        ("left", "not in this mode"), ("right", None), ("absent", "absent: no"),
        ("gpu", "--device cpu: GPU backends not run")]


def test_device_option_excludes_backends_but_keeps_the_reference():
    opts = {d: BenchOptions(device=d) for d in ("auto", "cpu", "cuda")}
    by_label = {b.label: b for b in all_backends()}
    assert device_excluded(opts["auto"], by_label["tensorrt-fp16"]) is None
    assert device_excluded(opts["cpu"], by_label["torch-cuda"]) == (
        "--device cpu: GPU backends not run")
    assert device_excluded(opts["cuda"], by_label["onnxruntime-cpu"]) == (
        "--device cuda: CPU backends not run")
    assert device_excluded(opts["cuda"], by_label["torch-cpu"]) is None


@pytest.fixture
def with_broken_backends(monkeypatch):
    """torch-cpu, one backend that breaks while running and one that is absent."""

    def select(names, **_options):
        return [TorchBackend("cpu"), Fake("broken", predict_error=RuntimeError("boom")),
                Fake("absent", reason="absent: module not installed")]

    monkeypatch.setattr(frameworks, "select_backends", select)
    monkeypatch.setattr(sweep, "select_backends", select)


def _argv(mode, results, tiny_test_set, untrained_run, bench_cache):
    return ["bench", mode, "--data", str(tiny_test_set), "--run", str(untrained_run),
            "--results", str(results), "--cache-dir", str(bench_cache), "--max-jets", "8",
            "--batch-sizes", "4", "--repeats", "1", "--no-report"]


def test_frameworks_keeps_the_others_results_when_a_backend_breaks(
        with_broken_backends, tmp_path, capsys, tiny_test_set, untrained_run, bench_cache):
    assert main(_argv("--frameworks", tmp_path, tiny_test_set, untrained_run,
                      bench_cache)) == 0
    recs = {r.config["label"]: r for r in load_records(tmp_path, frameworks.KIND)}
    assert recs["torch-cpu"].status == OK and recs["torch-cpu"].metrics["n_jets"] == 8
    assert recs["broken-cpu"].status == FAILED
    assert recs["broken-cpu"].skipped == [{"what": "broken-cpu", "reason": "RuntimeError: boom"}]
    assert recs["absent-cpu"].status == SKIPPED
    assert recs["absent-cpu"].skipped[0]["reason"] == "absent: module not installed"
    out = capsys.readouterr().out
    assert "failed broken-cpu: RuntimeError: boom" in out
    assert "skipped absent-cpu: absent: module not installed" in out


def test_sweep_keeps_the_others_results_when_a_backend_breaks(
        with_broken_backends, tmp_path, tiny_test_set, untrained_run, bench_cache):
    assert main(_argv("--batch-sweep", tmp_path, tiny_test_set, untrained_run,
                      bench_cache)) == 0
    recs = {r.config["label"]: r for r in load_records(tmp_path, sweep.KIND)}
    assert recs["torch-cpu"].status == OK and recs["torch-cpu"].metrics["peak_batch_size"] == 4
    assert recs["broken-cpu"].status == FAILED
    assert recs["broken-cpu"].skipped[0]["reason"] == "RuntimeError: boom"
    assert recs["absent-cpu"].status == SKIPPED
    for r in recs.values():
        assert "nvml" in r.metrics
    with open(tmp_path / recs["torch-cpu"].artifacts["csv"]) as fh:
        assert {row["backend"] for row in csv.DictReader(fh)} == {"torch-cpu"}


class _OutOfMemoryAt16(Fake):
    """Runs batches of 8, runs out of memory at 16 (as a GPU might at 4200)."""

    def predict(self, tracks: np.ndarray, svs: np.ndarray) -> np.ndarray:
        if len(tracks) >= 16:
            raise RuntimeError("CUDA out of memory")
        return super().predict(tracks, svs)


def test_a_backend_breaking_mid_sweep_keeps_its_points_in_a_failed_record(
        monkeypatch, tmp_path, capsys, tiny_test_set, untrained_run, bench_cache):
    monkeypatch.setattr(sweep, "select_backends",
                        lambda _names, **_options: [_OutOfMemoryAt16("oom")])
    argv = _argv("--batch-sweep", tmp_path, tiny_test_set, untrained_run, bench_cache)
    argv[argv.index("--batch-sizes") + 1] = "8,16"
    # Its only backend failed: non-zero, with the record (and its points) written.
    assert main([*argv, "--repeat-seconds", "0.01"]) == 1
    assert "every backend failed (1; first oom-cpu: RuntimeError at batch size 16" in (
        capsys.readouterr().err)
    (rec,) = load_records(tmp_path, sweep.KIND)
    assert rec.status == FAILED
    assert rec.skipped == [{"what": "oom-cpu", "reason": (
        "RuntimeError at batch size 16: CUDA out of memory")}]
    assert {p["batch_size"] for p in rec.metrics["points"]} == {8}  # what it did measure
    assert rec.metrics["peak_batch_size"] == 8
    assert (tmp_path / rec.artifacts["csv"]).is_file()


def test_a_cpu_only_sweep_prints_the_nvml_note_once(tmp_path, capsys, tiny_test_set,
                                                    untrained_run, bench_cache):
    if nvml_unavailable_reason() is None:
        pytest.skip("NVML works on this node")
    argv = _argv("--batch-sweep", tmp_path, tiny_test_set, untrained_run, bench_cache)
    assert main([*argv, "--backends", "torch-cpu", "--repeat-seconds", "0.01"]) == 0
    out = capsys.readouterr().out
    # A CPU-only node: no "(GPU util.)" in the title, and the NVML note printed once.
    assert "Sweep: median jets/s" in out and "(GPU util.)" not in out
    assert out.count("GPU utilisation: NVML unavailable") == 1
