"""The C++ path off-line: a bundle carries the runner's source, CMake file, headers (when the
packaging machine had them) and its sample as float32 .npy; the recipe in cpp/README.md builds
a program by hand from the bundle alone, linked against the onnxruntime wheel's
libonnxruntime.so.1.NN.0 as named (which gave `libonnxruntime.so.1: cannot open shared object
file` before), that runs without LD_LIBRARY_PATH and matches the expected scores."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest

from fairhep import schema
from fairhep.fair.bundle import Bundle
from fairhep.fair.cppbuild import (
    DEB_SHA256,
    CompiledUnavailable,
    deb_name,
    unavailable_reason,
    unpack_headers,
)


def test_bundle_carries_sources_inputs_and_the_recipe(foreign_bundle: Bundle) -> None:
    cpp = foreign_bundle.root / "cpp"
    assert (cpp / "CMakeLists.txt").is_file() and (cpp / "fairhep_ort_runner.cpp").is_file()
    v = foreign_bundle.validation_dir
    from fairhep.fair.sample import read_sample

    jets = read_sample(v)
    assert np.array_equal(np.load(v / "tracks.npy"), jets.tracks)
    assert np.load(v / "svs.npy").dtype == np.float32
    readme = (cpp / "README.md").read_text()
    assert "--expect ../validation/expected_scores.npy" in readme
    assert f"{schema.ONNX_INPUT_TRACKS}=../validation/tracks.npy" in readme


def test_the_pinned_header_source_refuses_another_file(tmp_path: Path) -> None:
    fake = tmp_path / "libonnxruntime-dev_1.21.0+dfsg-1_amd64.deb"
    fake.write_bytes(b"!<arch>\nnot the package\n")
    with pytest.raises(CompiledUnavailable, match="not the pinned") as err:
        unpack_headers(fake, tmp_path / "h")
    assert len(str(err.value).splitlines()) == 1 and not (tmp_path / "h").exists()
    assert DEB_SHA256[deb_name("amd64")]  # amd64 is pinned by its sha256


def test_hand_build_from_the_bundle_alone_runs_and_matches(foreign_bundle: Bundle,
                                                           tmp_path: Path) -> None:
    from fairhep.backends.ort_library import ort_library

    if (reason := unavailable_reason()) is not None:
        pytest.skip(reason)
    if not (foreign_bundle.root / "cpp" / "include").is_dir():
        pytest.skip("the packaging machine had no ONNX Runtime header to put in the bundle")
    lib = ort_library()
    assert not isinstance(lib, str)
    copy = tmp_path / "bundle"  # the bundle alone, somewhere else
    shutil.copytree(foreign_bundle.root, copy)
    cpp = copy / "cpp"
    env = {k: v for k, v in os.environ.items() if k != "LD_LIBRARY_PATH"}
    for cmd in (["cmake", "-S", ".", "-B", "build", f"-DORT_INCLUDE_DIR={cpp / 'include'}",
                 f"-DORT_LIBRARY={lib.path}"],  # the wheel's libonnxruntime.so.1.NN.0
                ["cmake", "--build", "build", "--parallel", "2"]):
        done = subprocess.run(cmd, cwd=cpp, env=env, capture_output=True, text=True,
                              timeout=600, check=False)
        assert done.returncode == 0, done.stderr[-2000:]
    tol = foreign_bundle.validation["tolerance"]["fp32"]
    run = ["build/fairhep-ort-runner", "../model.onnx", "scores.npy",
           f"{schema.ONNX_INPUT_TRACKS}=../validation/tracks.npy",
           f"{schema.ONNX_INPUT_SVS}=../validation/svs.npy", "--output", schema.ONNX_OUTPUT,
           "--expect", "../validation/expected_scores.npy", "--tolerance", str(tol)]
    done = subprocess.run(run, cwd=cpp, env=env, capture_output=True, text=True, timeout=120,
                          check=False)
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout)
    expected = np.load(copy / "validation" / "expected_scores.npy")
    got = np.load(cpp / "scores.npy")
    assert report["max_abs_diff"] == pytest.approx(float(np.abs(got - expected).max()), abs=1e-9)
    assert report["within_tolerance"] and report["max_abs_diff"] <= tol
    # a changed expectation is caught, exit 1 with one line
    np.save(copy / "validation" / "expected_scores.npy", expected + 10 * tol)
    done = subprocess.run(run, cwd=cpp, env=env, capture_output=True, text=True, timeout=120,
                          check=False)
    assert done.returncode == 1 and "differs" in done.stderr
