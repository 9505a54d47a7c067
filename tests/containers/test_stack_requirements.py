"""`fairhep containers check` holds every stack to fairhep's own requirements on the stack's
Python (images install fairhep with --no-deps) and to fully qualified image names; a build may
leave TensorRT out, and then says so everywhere."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from fairhep.cli import main
from fairhep.containers.overrides import parse_overrides
from fairhep.containers.render import derive, onnxruntime_providers, pins, pip_requirements
from fairhep.containers.requirements import qualified_image_problem, requirement_problems
from fairhep.containers.stacks import STACKS_FILE, load_stacks
from fairhep.errors import ConfigError

ROOT = Path(__file__).resolve().parents[2]
TODAY_CUDA = ROOT / "tests" / "fixtures" / "stacks" / "x86_64-cuda-2026-12-07.toml"


def _tree_with(tmp_path: Path, stacks_text: str) -> Path:
    root = tmp_path / "tree"
    (root / "containers").mkdir(parents=True)
    shutil.copytree(ROOT / "containers" / "templates", root / "containers" / "templates")
    (root / STACKS_FILE).write_text(stacks_text)
    for name in ("pyproject.toml", "README.md", "suite", ".dockerignore"):
        (root / name).symlink_to(ROOT / name)
    (root / "results").mkdir()
    (root / "results" / "published").symlink_to(ROOT / "results" / "published")
    return root


def test_check_fails_on_the_x86_64_cuda_definition_of_2026_12_07(tmp_path, capsys) -> None:
    root = _tree_with(tmp_path, TODAY_CUDA.read_text())
    assert main(["containers", "--root", str(root), "render"]) == 0
    capsys.readouterr()
    assert main(["containers", "--root", str(root), "check"]) == 1
    out = capsys.readouterr().out
    assert "x86_64-cuda: FAILED" in out
    tomli = [ln for ln in out.splitlines() if "tomli" in ln]
    assert tomli and "Python 3.10" in tomli[0] and "pins no tomli" in tomli[0], out
    short = [ln for ln in out.splitlines() if "not fully qualified" in ln]
    assert any("'nvidia/cuda'" in ln and "docker.io/nvidia/cuda" in ln for ln in short), out


def test_every_committed_stack_meets_fairheps_requirements() -> None:
    stacks = load_stacks(ROOT / STACKS_FILE)
    for stack in stacks.stacks.values():
        held, problems = requirement_problems(ROOT, stack, pins(stacks, stack)["packages"])
        assert problems == [], stack.id
        assert len(held) >= 15, (stack.id, held)
        assert qualified_image_problem(stack.base.ref) is None


def test_markers_pins_and_absent_packages_are_judged_on_the_stacks_python() -> None:
    stacks = load_stacks(ROOT / STACKS_FILE)
    stack = stacks.stacks["x86_64-cuda"]
    packages = dict(pins(stacks, stack)["packages"])
    packages["numpy"] = "1.21.0"  # below fairhep's numpy>=1.24
    del packages["h5py"]
    _, problems = requirement_problems(ROOT, stack, packages)
    assert any("numpy>=1.24" in p and "pins numpy==1.21.0" in p for p in problems), problems
    assert any("pins no h5py" in p for p in problems), problems
    # The ppc64le stack names uproot, awkward and onnxscript as absent, with reasons.
    ppc = stacks.stacks["ppc64le-cuda"]
    held, problems = requirement_problems(ROOT, ppc, pins(stacks, ppc)["packages"])
    assert problems == []
    assert {"uproot: absent by design", "onnxscript: absent by design"} <= set(held)


@pytest.mark.parametrize(("ref", "fine"), [
    ("docker.io/library/python:3.11.9-slim-bookworm@sha256:" + "ab" * 32, True),
    ("localhost/fairhep-base:bookworm-py", True),
    ("registry.example.org:5000/team/image:1", True),
    ("nvidia/cuda:12.8.1-cudnn-runtime-ubuntu22.04@sha256:" + "ab" * 32, False),
    ("python:3.11.9-slim-bookworm", False),
])
def test_short_image_names_are_refused_with_the_qualified_name(ref: str, fine: bool) -> None:
    problem = qualified_image_problem(ref)
    assert (problem is None) == fine
    if problem is not None:
        assert "docker.io/" in problem


def test_tensorrt_left_out_by_build_argument_is_said_in_pins_and_absent() -> None:
    stacks = load_stacks(ROOT / STACKS_FILE)
    stack = stacks.stacks["x86_64-cuda"]
    pinned = pins(stacks, stack)["packages"]
    overrides, _ = parse_overrides(stack, pinned, build_args=["tensorrt-cu12=none"])
    lines = overrides.describe(stack, pinned)
    said = f"tensorrt-cu12=={stack.tensorrt}: left out by override (--build-arg tensorrt-cu12=none)"
    assert lines == [said]
    new_file, new = derive(stacks, stack, overrides)
    derived = pins(new_file, new)
    assert "tensorrt-cu12" not in derived["packages"]
    assert "left out by override" in derived["absent"]["tensorrt"]
    assert not any(ln.startswith("tensorrt") for ln in pip_requirements(new_file, new))
    # ONNX Runtime's GPU wheel still has its TensorRT provider compiled in.
    assert "TensorrtExecutionProvider" in onnxruntime_providers(new)
    with pytest.raises(ConfigError, match="only the TensorRT package"):
        parse_overrides(stack, pinned, build_args=["numpy=none"])


def test_a_stacks_own_pin_replaces_the_common_pin_of_that_package() -> None:
    stacks = load_stacks(ROOT / STACKS_FILE)
    cpu = pip_requirements(stacks, stacks.stacks["x86_64-cpu"])
    assert [ln for ln in cpu if ln.startswith("onnxscript==")] == ["onnxscript==0.7.2"]
    cuda = pip_requirements(stacks, stacks.stacks["x86_64-cuda"])
    assert [ln for ln in cuda if ln.startswith("onnxscript==")] == ["onnxscript==0.3.2"]
    pinned = json.loads((ROOT / "containers/x86_64-cuda/pins.json").read_text())["packages"]
    assert pinned["tritonclient"] == "2.73.0"  # extras are not part of the name
