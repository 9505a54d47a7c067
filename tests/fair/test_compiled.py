"""The compiled runtime: a C++ program on the ONNX Runtime C++ API, built with CMake against
the onnxruntime wheel's library, its header fetched at build time and never committed."""

from __future__ import annotations

import subprocess
from pathlib import Path

import numpy as np
import pytest

from fairhep import schema
from fairhep.backends import PreparedModel
from fairhep.fair import cppbuild
from fairhep.fair.inference_runtimes import CompiledBackend
from fairhep.fair.sample import read_expected, read_sample
from fairhep.fair.validate import validate


def test_runner_links_the_wheels_library_and_no_header_is_in_the_sources(cpp_runner):
    ldd = subprocess.run(["ldd", str(cpp_runner)], capture_output=True, text=True, check=True)
    line = next(ln for ln in ldd.stdout.splitlines() if "libonnxruntime.so.1" in ln)
    target = Path(line.split("=>")[1].split("(")[0].strip()).resolve()
    assert target.parent.name == "capi" and target.parent.parent.name == "onnxruntime"
    shipped = sorted(p.name for p in cppbuild.source_dir().iterdir())
    assert shipped == sorted(cppbuild.SOURCES)  # no ONNX Runtime header among them
    tracked = subprocess.run(["git", "ls-files"], capture_output=True, text=True,
                             cwd=cppbuild.source_dir(), check=False).stdout
    assert "onnxruntime_cxx_api.h" not in tracked


def test_compiled_scores_match_the_expected_ones_in_one_process(cpp_runner, cpp_cache,
                                                               run_bundle):
    jets = read_sample(run_bundle.validation_dir)
    expected = read_expected(run_bundle.validation_dir, len(jets))
    b = CompiledBackend(cpp_cache)
    b.prepare(PreparedModel(run_dir=run_bundle.root, onnx_path=run_bundle.onnx))
    scores = b.predict_batched(jets.tracks, jets.svs, batch=7)  # 3 batches, the last short
    np.testing.assert_allclose(scores, expected, atol=1e-5, rtol=0)
    assert scores.dtype == np.float32 and scores.shape == (len(jets), 2)
    assert b.last_run["rows"] == len(jets) and b.last_run["batch"] == 7
    assert b.last_run["api"] >= 16 and b.last_run["onnxruntime"]


def test_warmup_runs_untimed_and_changes_no_score(cpp_runner, run_bundle, tmp_path):
    """--warmup W runs the first batch W times before the clock starts (what a benchmark of a
    long-lived session times); the scores written are the same as without it."""
    import json

    jets = read_sample(run_bundle.validation_dir)
    np.save(tmp_path / "cpf.npy", jets.tracks)
    np.save(tmp_path / "sv.npy", jets.svs)
    said, scores = [], []
    for warmup in ("0", "3"):
        out = tmp_path / f"o{warmup}.npy"
        cmd = [str(cpp_runner), str(run_bundle.onnx), str(out), f"input_cpf={tmp_path / 'cpf.npy'}",
               f"input_sv={tmp_path / 'sv.npy'}", "--batch", "7", "--warmup", warmup]
        done = subprocess.run(cmd, capture_output=True, text=True, check=True)
        said.append(json.loads(done.stdout.splitlines()[-1]))
        scores.append(np.load(out))
    assert [s["warmup"] for s in said] == [0, 3]
    assert said[1]["rows"] == len(jets)
    np.testing.assert_array_equal(scores[0], scores[1])
    bad = subprocess.run([*cmd[:-1], "-1"], capture_output=True, text=True, check=False)
    assert bad.returncode == 1 and bad.stderr.count("\n") == 1 and "--warmup" in bad.stderr


def test_runner_errors_are_one_line_and_exit_1(cpp_runner, run_bundle, tmp_path):
    good, bad = tmp_path / "svs.npy", tmp_path / "tracks.npy"
    np.save(good, np.zeros((2, *schema.SV_SHAPE), np.float32))
    np.save(bad, np.zeros((2, *schema.TRACK_SHAPE), np.float64))
    cases = [
        (tmp_path / "none.onnx", good, "none.onnx"),
        (run_bundle.onnx, bad, "expected little-endian float32"),
        (run_bundle.onnx, tmp_path / "gone.npy", "gone.npy: cannot be opened"),
    ]
    for model, tracks, needle in cases:
        cmd = [str(cpp_runner), str(model), str(tmp_path / "o.npy"), f"input_cpf={tracks}",
               f"input_sv={good}"]
        done = subprocess.run(cmd, capture_output=True, text=True, check=False)
        assert done.returncode == 1, done
        assert done.stderr.count("\n") == 1 and needle in done.stderr


def test_without_cmake_the_compiled_runtime_is_skipped_with_the_reason(run_bundle, tmp_path,
                                                                      monkeypatch):
    monkeypatch.setenv("PATH", str(tmp_path))  # no cmake, no compiler
    v = validate(run_bundle.root, ["cpp"], results=None, cache_dir=tmp_path / "cache")
    (r,) = v.results
    assert r.status == "skipped" and r.reason == (
        "cpp: no cmake on this machine (install cmake and a C++ compiler)")


def test_the_runner_sources_and_card_templates_ship_in_the_wheel():
    from hatchling.builders.wheel import WheelBuilder

    root = Path(__file__).resolve().parents[2]
    names = {f.distribution_path for f in WheelBuilder(str(root)).recurse_included_files()}
    assert {f"fairhep/fair/cpp/{name}" for name in cppbuild.SOURCES} <= names
    assert {f"fairhep/fair/templates/{t}" for t in (
        "model_card.md.j2", "CITATION.cff.j2", "config.pbtxt.j2")} <= names
    assert not any(n.endswith(".h") for n in names)  # the header is fetched, never shipped


def test_a_header_folder_without_the_header_is_named_in_the_skip(run_bundle, tmp_path,
                                                                 monkeypatch):
    missing = cppbuild.unavailable_reason()
    if missing:
        pytest.skip(missing)
    monkeypatch.setenv(cppbuild.INCLUDE_ENV, str(tmp_path))
    v = validate(run_bundle.root, ["cpp"], results=None, cache_dir=tmp_path / "cache")
    (r,) = v.results
    assert r.status == "skipped"
    assert r.reason == (f"cpp: ${cppbuild.INCLUDE_ENV}={tmp_path} has no onnxruntime_cxx_api.h; "
                        "point it at the folder holding the ONNX Runtime C++ API headers")


def test_two_validations_building_at_once_share_one_build(cpp_runner, tmp_path):
    """Two processes building into one fresh cache: one builds, the other waits for it and
    takes the same program (they used to remove each other's staging folders)."""
    import sys

    code = ("import sys; from pathlib import Path; from fairhep.fair.cppbuild import "
            "build_runner; print(build_runner(Path(sys.argv[1])))")
    procs = [subprocess.Popen([sys.executable, "-c", code, str(tmp_path)], text=True,
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE) for _ in range(2)]
    outs = [p.communicate(timeout=900) for p in procs]
    assert [p.returncode for p in procs] == [0, 0], [err for _, err in outs]
    (program,) = {out.strip() for out, _ in outs}
    assert Path(program).is_file() and Path(program).parent.parent == tmp_path / "cpp-runner"
