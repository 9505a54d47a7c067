"""A killed sweep loses only the backend it was in: each backend's record is written as it
finishes, and the same command (in a campaign: the same task) continues the session, never
writing a measurement or a skip twice."""

from __future__ import annotations

import csv
import os
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import pytest

from fairhep.bench import BenchOptions
from fairhep.bench.session import open_session, session_key
from fairhep.bench.sweep import KIND, session_settings
from fairhep.cli import main
from fairhep.results import load_records

TASK = "sweep-s0-kfold-f0"


def _argv(results: Path, data: Path, run: Path, cache: Path) -> list[str]:
    return ["bench", "--batch-sweep", "--backends", "torch,onnxruntime", "--batch-sizes",
            "8,16", "--repeats", "3", "--repeat-seconds", "0.3", "--max-jets", "16",
            "--data", str(data), "--run", str(run), "--results", str(results),
            "--cache-dir", str(cache), "--no-report"]


def _labels(results: Path) -> list[str]:
    return [r.config["label"] for r in load_records(results, KIND)]


def _kill_after_first_backend(argv: list[str], results: Path) -> None:
    """Start the sweep as its own process and SIGKILL it while it sweeps the second backend
    (as soon as the first one's record and the skip after it exist)."""
    env = {**os.environ, "FAIRHEP_TASK_ID": TASK}
    proc = subprocess.Popen([sys.executable, "-m", "fairhep", *argv], env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 300
    try:
        while not {"torch-cpu", "torch-cuda"} <= set(_labels(results)):
            if proc.poll() is not None:
                pytest.fail(f"the sweep ended before it could be killed: {proc.communicate()[1]}")
            if time.monotonic() > deadline:
                pytest.fail("the first backend took over 5 minutes")
            time.sleep(0.05)
        proc.send_signal(signal.SIGKILL)
    finally:
        proc.wait()
    assert proc.returncode == -signal.SIGKILL


def test_a_killed_sweep_resumes_without_duplicates(tmp_path, monkeypatch, tiny_test_set,
                                                   untrained_run, bench_cache, onnx_export):
    results = tmp_path / "results"
    argv = _argv(results, tiny_test_set, untrained_run, bench_cache)
    _kill_after_first_backend(argv, results)
    before = {r.config["label"]: r for r in load_records(results, KIND)}
    assert before["torch-cpu"].status == "ok"  # written as it finished, not at the end
    assert "onnxruntime-cpu" not in before  # killed while it was being swept
    assert before["torch-cuda"].status == "skipped"  # skips come as the loop reaches them

    monkeypatch.setenv("FAIRHEP_TASK_ID", TASK)  # the campaign reruns the same task
    assert main(argv) == 0
    after = load_records(results, KIND)
    counts = Counter(r.config["label"] for r in after)
    assert set(counts.values()) == {1}, counts  # no measurement or skip twice
    assert set(counts) == {"torch-cpu", "torch-cuda", "onnxruntime-cpu", "onnxruntime-cuda",
                           "onnxruntime-tensorrt-ep"}
    by_label = {r.config["label"]: r for r in after}
    assert by_label["torch-cpu"].record_id == before["torch-cpu"].record_id  # kept, not redone
    assert by_label["onnxruntime-cpu"].status == "ok"
    assert {r.config["session"]["id"] for r in after} == {
        before["torch-cpu"].config["session"]["id"]}
    assert {r.task_id for r in after} == {TASK}
    # The figure's data has both backends, the one swept before the kill included.
    rec = by_label["onnxruntime-cpu"]
    with open(results / rec.artifacts["csv"]) as fh:
        assert {row["backend"] for row in csv.DictReader(fh)} == {"torch-cpu",
                                                                 "onnxruntime-cpu"}
    assert rec.artifacts == by_label["torch-cpu"].artifacts
    # Complete now: the same command starts a new session (measures afresh).
    opts = BenchOptions(data=tiny_test_set, run=untrained_run, results=results,
                        backends=("torch", "onnxruntime"), batch_sizes=(8, 16), repeats=3,
                        repeat_s=0.3, max_jets=16, cache_dir=bench_cache)
    fresh = open_session(results, KIND, session_settings(opts, tiny_test_set, untrained_run),
                         list(counts))
    old = by_label["torch-cpu"].config["session"]
    assert fresh.key == old["key"] and fresh.id != old["id"] and fresh.done == {}


def test_sessions_differ_by_settings_and_by_campaign_task(monkeypatch):
    settings = {"run": "r", "data": "d", "repeats": 3}
    monkeypatch.delenv("FAIRHEP_TASK_ID", raising=False)
    plain = session_key(KIND, settings)
    assert plain == session_key(KIND, dict(settings))
    assert plain != session_key(KIND, {**settings, "repeats": 4})
    monkeypatch.setenv("FAIRHEP_TASK_ID", TASK)
    assert session_key(KIND, settings) != plain
