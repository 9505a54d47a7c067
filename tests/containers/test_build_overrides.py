"""Build overrides: a site that cannot reach the pinned base or the PyTorch index builds from
a derived render (build/containers/<stack>/) that says, in its labels, environment and
pins.json, what it changed; bad build arguments are one line; the selftest checks the
overridden pins and ONNX Runtime's providers, and says when it runs outside an image.

The real build and run with buildah/podman is `make container-test` (tools/container-test).
"""

from __future__ import annotations

import json
import os
import platform
import shutil
from importlib.metadata import version
from pathlib import Path

import pytest

from fairhep.cli import main
from fairhep.containers import render as render_module
from fairhep.containers.build import EXIT_NO_ENGINE, BuildPlan, plan_build, write_derived
from fairhep.containers.check import (
    parse_definition,
    parse_dockerfile,
    shell_syntax_problem,
)
from fairhep.containers.dockerignore import dockerignore_excludes
from fairhep.containers.render import derived_dir, environment, labels
from fairhep.containers.selftest import IMAGE_PINS, version_matches
from fairhep.containers.stacks import STACKS_FILE, load_stacks
from fairhep.errors import ConfigError
from fairhep.results import container_info

ROOT = Path(__file__).resolve().parents[2]
STACK = load_stacks(ROOT / STACKS_FILE).stacks["x86_64-cpu"]
BASE = "localhost/fairhep-base:bookworm-py"
OVERRIDES = ["--base", BASE, "--build-arg", "torch=2.13.0", "--build-arg",
             "EXTRA_INDEX_URLS=none", "--build-arg", "PIP_FIND_LINKS=/opt/wheels",
             "--build-arg", "PIP_INDEX_URL=https://mirror.example/simple"]


@pytest.fixture
def tree(tmp_path: Path) -> Path:
    """A source tree whose build/ is this test's (derived renders are written there)."""
    root = tmp_path / "tree"
    root.mkdir()
    for name in ("containers", "pyproject.toml", "README.md", "suite", ".dockerignore",
                 "results"):
        (root / name).symlink_to(ROOT / name)
    return root


def _plan(tree: Path, *args: str, runtime: str = "buildah") -> BuildPlan:
    bases = [a for i, a in enumerate(args) if i and args[i - 1] == "--base"]
    build_args = [a for i, a in enumerate(args) if i and args[i - 1] == "--build-arg"]
    return plan_build(tree, "x86_64-cpu", runtime=runtime, base=bases[0] if bases else None,
                      build_args=build_args)


def test_derived_render_says_what_it_changed_everywhere(tree: Path) -> None:
    plan = _plan(tree, *OVERRIDES)
    write_derived(tree, plan)
    d = tree / derived_dir(STACK)
    dock = parse_dockerfile(d / "Dockerfile")
    adef = parse_definition(d / "fairhep.def")
    assert dock.from_ref == adef.from_ref == BASE
    said = plan.described
    assert said[0] == f"base image {BASE} instead of the pinned {STACK.base.ref}"
    assert "torch==2.13.0 instead of the pinned 2.13.0+cpu" in said
    assert "extra index URLs none instead of https://download.pytorch.org/whl/cpu" in said
    assert "pip setting PIP_INDEX_URL=https://mirror.example/simple during the build" in said
    for parsed in (dock, adef):
        assert parsed.labels["fairhep.base_image"] == BASE
        assert parsed.labels["fairhep.base_image_pinned"] == STACK.base.ref
        assert parsed.labels["fairhep.build_overrides"] == "; ".join(said)
        assert parsed.labels["fairhep.torch"] == "2.13.0"
        assert parsed.environment["FAIRHEP_BUILD_OVERRIDES"] == "; ".join(said)
        assert parsed.environment["FAIRHEP_BASE_IMAGE"] == BASE
        assert "org.opencontainers.image.base.digest" not in parsed.labels  # a local image
    # The files copied in are the derived ones, admitted to the Docker build context.
    assert ("build/containers/x86_64-cpu/requirements.txt",
            "/opt/fairhep/requirements.txt") in dock.files
    assert not dockerignore_excludes(ROOT, "build/containers/x86_64-cpu/pins.json")
    req = (d / "requirements.txt").read_text().splitlines()
    assert "torch==2.13.0" in req and not any(r.startswith("--extra-index-url") for r in req)
    pins = json.loads((d / "pins.json").read_text())
    assert pins["packages"]["torch"] == "2.13.0" and pins["python"] == "3.11"
    assert pins["build_overrides"] == list(said) and pins["base_image"] == BASE
    # pip settings reach the install steps only, never the image's environment.
    assert 'ARG PIP_FIND_LINKS="/opt/wheels"' in (d / "Dockerfile").read_text()
    assert "export PIP_FIND_LINKS=/opt/wheels" in adef.sections["post"]
    assert "PIP_FIND_LINKS" not in dock.environment and "PIP_FIND_LINKS" not in adef.environment
    assert shell_syntax_problem(adef.sections["post"]) is None
    # The committed files are untouched: a derived build is never a stale render.
    assert render_module.stale_files(ROOT) == []


def test_without_overrides_the_committed_files_are_built(tree: Path) -> None:
    plan = _plan(tree, "--build-arg", "torch=2.13.0+cpu")  # the pinned value: no change
    assert plan.described == () and plan.derived == {}
    assert plan.request.stack_dir == Path("containers/x86_64-cpu")
    committed = parse_dockerfile(ROOT / "containers/x86_64-cpu/Dockerfile")
    assert committed.labels["fairhep.build_overrides"] == "none"
    assert committed.environment["FAIRHEP_BUILD_OVERRIDES"] == "none"
    assert dict(labels(STACK, "docker"))["fairhep.base_image"] == STACK.base.ref


@pytest.mark.parametrize(("args", "message"), [
    (["--build-arg", "colour=blue"], ("--build-arg colour: not a build argument of stack "
                                       "x86_64-cpu; use a pinned package")),
    (["--build-arg", "torch"], "--build-arg 'torch': expected KEY=VALUE"),
    (["--build-arg", "torch=2.13 rc"], "--build-arg torch=2.13 rc: not a version"),
    (["--build-arg", "EXTRA_INDEX_URLS=mirror/simple"], "'mirror/simple' is not a URL"),
    (["--build-arg", "PIP_INDEX_URL=a; b"], "without control characters or '; '"),
    (["--base", "two words"], "--base 'two words': expected an image reference"),
])
def test_bad_build_overrides_are_one_line(tree: Path, capsys: pytest.CaptureFixture[str],
                                          args: list[str], message: str) -> None:
    assert main(["containers", "--root", str(tree), "build", "x86_64-cpu", *args,
                 "--print-only"]) == 1
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and message in err, err


def test_volumes_are_checked_and_refused_where_the_engine_has_none(tree: Path,
                                                                   tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="does not exist on this machine"):
        plan_build(tree, "x86_64-cpu", runtime="buildah", volumes=[f"{tmp_path}/no:/x"])
    with pytest.raises(ConfigError, match="expected SRC:/DEST or SRC:/DEST:ro"):
        plan_build(tree, "x86_64-cpu", runtime="buildah", volumes=[f"{tmp_path}"])
    with pytest.raises(ConfigError, match="--volume: docker build mounts nothing at build time"):
        plan_build(tree, "x86_64-cpu", runtime="docker", volumes=[f"{tmp_path}:/w:ro"])
    plan = plan_build(tree, "x86_64-cpu", runtime="buildah", volumes=[f"{tmp_path}:/w:ro"])
    assert plan.request.volumes == (f"{tmp_path}:/w:ro",)
    assert f"build-time mount {tmp_path}:/w:ro" in plan.described


def test_build_with_overrides_and_no_engine_prints_the_derived_command(
        tree: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    bindir = tree.parent / "bin"
    bindir.mkdir()
    (bindir / "git").symlink_to(shutil.which("git") or "/usr/bin/git")
    monkeypatch.setenv("PATH", str(bindir))
    rc = main(["containers", "--root", str(tree), "build", "x86_64-cpu", "--runtime", "podman",
               "--build-arg", "FAIRHEP_GIT_SHA=feed", *OVERRIDES])
    cap = capsys.readouterr()
    assert rc == EXIT_NO_ENGINE
    assert cap.out.strip() == (
        f"cd {tree} && podman build --platform linux/amd64 --format docker --build-arg "
        "FAIRHEP_GIT_SHA=feed -f build/containers/x86_64-cpu/Dockerfile -t "
        "fairhep:0.1.0-x86_64-cpu --iidfile build/fairhep-x86_64-cpu.iid .")
    assert "podman: not installed on this machine; nothing was built" in cap.err
    assert f"base image {BASE} instead of the pinned" in cap.err
    assert (tree / "build/containers/x86_64-cpu/Dockerfile").is_file()
    # auto, with no engine at all: every engine's reason, and Apptainer's command.
    assert main(["containers", "--root", str(tree), "build", "x86_64-cpu"]) == EXIT_NO_ENGINE
    cap = capsys.readouterr()
    assert cap.out.startswith(f"cd {tree} && apptainer build")
    for name in ("apptainer", "docker", "podman", "buildah"):
        assert f"{name}: not installed on this machine" in cap.err


def test_ppc64le_pins_the_cuda_build_of_onnxruntime_and_selftest_asserts_its_provider() -> None:
    ppc = load_stacks(ROOT / STACKS_FILE).stacks["ppc64le-cuda"]
    assert ppc.conda is not None
    assert "onnxruntime=1.16.3=*cuda12.2*" in ppc.conda.packages
    assert "onnxruntime=1.16.3=*cuda12.2*" in (
        ROOT / "containers/ppc64le-cuda/conda-packages.txt").read_text().splitlines()
    for sid, want in (("ppc64le-cuda", ["CUDAExecutionProvider", "CPUExecutionProvider"]),
                      ("x86_64-cuda", ["TensorrtExecutionProvider", "CUDAExecutionProvider",
                                       "CPUExecutionProvider"]),
                      ("x86_64-cpu", ["CPUExecutionProvider"])):
        pins = json.loads((ROOT / "containers" / sid / "pins.json").read_text())
        assert pins["onnxruntime_providers"] == want, sid


def test_selftest_fails_where_onnxruntime_lacks_the_stacks_provider(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """This environment's onnxruntime, checked against a stack that needs a provider no
    build here has (ROCm: neither the CPU nor the CUDA wheel of ONNX Runtime carries it)."""
    pins = tmp_path / "pins.json"
    pins.write_text(json.dumps({"stack": "rocm-like", "python": platform.python_version(),
                                "onnxruntime_providers": ["ROCMExecutionProvider",
                                                          "CPUExecutionProvider"],
                                "build_overrides": ["torch==9 instead of the pinned 8"]}))
    assert main(["containers", "selftest", "--pins", str(pins)]) == 1
    out = capsys.readouterr().out
    assert "pin mismatch: onnxruntime: ROCMExecutionProvider not in this build" in out
    assert "the stack needs ROCMExecutionProvider" in out
    assert "build override: torch==9 instead of the pinned 8" in out
    assert "selftest FAILED" in out


def test_selftest_outside_an_image_says_so(capsys: pytest.CaptureFixture[str]) -> None:
    assert not Path(IMAGE_PINS).exists()
    assert IMAGE_PINS == render_module.IMAGE_PINS  # where every image has its pins
    assert main(["containers", "selftest"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("not in a fairhep image (no --pins, no /opt/fairhep/pins.json)")
    assert "stack -" not in out
    assert out.strip().endswith("selftest passed (outside an image)")
    assert main(["containers", "selftest", "--json"]) == 0
    result = json.loads(capsys.readouterr().out)
    assert result["in_image"] is False and result["pins"] is None


def test_pins_without_a_local_label_match_builds_with_one() -> None:
    assert version_matches("2.13.0+cpu", "2.13.0")  # pip's == accepted it
    assert version_matches("2.8.0+cpu", "2.8.0+cpu")
    assert not version_matches("2.8.0+cu128", "2.8.0+cpu")
    assert not version_matches("2.13.1", "2.13.0")
    assert version_matches(version("jinja2"), version("jinja2"))


def test_records_made_in_a_derived_image_list_its_overrides(
        monkeypatch: pytest.MonkeyPatch, tree: Path) -> None:
    plan = _plan(tree, *OVERRIDES)
    for key in list(os.environ):
        if key.startswith(("FAIRHEP_", "APPTAINER_", "SINGULARITY_")):
            monkeypatch.delenv(key)
    env = dict(environment(STACK, "docker", BASE, plan.described))
    for key in ("FAIRHEP_STACK", "FAIRHEP_BASE_IMAGE", "FAIRHEP_BUILD_OVERRIDES"):
        monkeypatch.setenv(key, env[key])
    info = container_info()
    assert info is not None
    assert info["base_image"] == BASE
    assert info["build_overrides"] == list(plan.described)


@pytest.mark.parametrize("arg", ["PIP_INDEX_URL=https://user:secret@mirror.example/simple",
                                 "EXTRA_INDEX_URLS=https://token@wheels.example/cu12"])
def test_credentials_in_an_index_url_are_refused_they_would_stay_in_the_image(
        tree: Path, arg: str) -> None:
    with pytest.raises(ConfigError, match=r"credentials, which would be kept in the image; "
                                          r"put them in a pip\.conf") as err:
        _plan(tree, "--build-arg", arg)
    assert "secret" not in str(err.value) and "token" not in str(err.value)
