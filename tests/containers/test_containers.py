"""Container stacks: the committed definitions equal a fresh render of containers/stacks.toml,
parse with spython, agree with each other, pin their bases by digest; the CLI checks, refuses
malformed stacks files in one line, and prints the build command where no engine exists."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import zipfile
from importlib.metadata import version
from pathlib import Path

import pytest

from fairhep import __version__
from fairhep.cli import main
from fairhep.containers.build import EXIT_NO_ENGINE
from fairhep.containers.check import DIGEST_RE, digest_problem, parse_definition, parse_dockerfile
from fairhep.containers.dockerignore import dockerignore_excludes
from fairhep.containers.render import environment, package_sources, render_all, stale_files
from fairhep.containers.runtime import get_runtime, run_env_for_image
from fairhep.containers.stacks import (
    CONDA_NAME,
    DEF_NAME,
    DOCKERFILE_NAME,
    PINS_NAME,
    REQUIREMENTS_NAME,
    STACKS_FILE,
    load_stacks,
)
from fairhep.results import container_info

ROOT = Path(__file__).resolve().parents[2]
STACKS = load_stacks(ROOT / STACKS_FILE)
STACK_IDS = sorted(STACKS.stacks)


def _tree(tmp_path: Path) -> Path:
    """A throw-away source tree: its own containers/ (editable) and the real sources."""
    root = tmp_path / "tree"
    root.mkdir()
    shutil.copytree(ROOT / "containers", root / "containers")
    for name in ("pyproject.toml", "README.md", "suite", ".dockerignore"):
        (root / name).symlink_to(ROOT / name)
    (root / "results").mkdir()
    (root / "results" / "published").symlink_to(ROOT / "results" / "published")
    return root


def _edit_stacks(root: Path, old: str, new: str) -> Path:
    path = root / STACKS_FILE
    text = path.read_text()
    assert old in text, old
    path.write_text(text.replace(old, new, 1))
    return path


def test_required_stacks_exist() -> None:
    assert {"x86_64-cuda", "ppc64le-cuda", "x86_64-cpu"} <= set(STACK_IDS)
    assert STACKS.stacks["ppc64le-cuda"].arch == "ppc64le"
    assert STACKS.stacks["ppc64le-cuda"].installer == "conda"
    assert STACKS.stacks["x86_64-cuda"].has_tensorrt
    assert STACKS.stacks["x86_64-cpu"].onnxruntime_package == "onnxruntime"


def test_images_copy_everything_the_wheel_build_reads() -> None:
    sources = package_sources(ROOT)
    assert sources[:3] == ["pyproject.toml", "README.md", "suite"]
    assert "results/published" in sources  # pyproject's force-include
    for sid in STACK_IDS:
        parsed = parse_definition(ROOT / "containers" / sid / DEF_NAME)
        copied = [src for src, _ in parsed.files]
        assert set(sources) <= set(copied)


def test_the_copied_sources_alone_build_the_fairhep_wheel(tmp_path) -> None:
    """What %files/COPY put in /opt/fairhep/src is enough for the image's `pip install`."""
    src = tmp_path / "src"
    for rel in package_sources(ROOT):
        if (ROOT / rel).is_dir():
            shutil.copytree(ROOT / rel, src / rel, ignore=shutil.ignore_patterns("__pycache__"))
        else:
            (src / rel).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(ROOT / rel, src / rel)
    done = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q",
         "-w", str(tmp_path / "dist"), str(src)], capture_output=True, text=True, timeout=120,
        check=False)
    assert done.returncode == 0, done.stderr
    wheels = list((tmp_path / "dist").glob("fairhep-*.whl"))
    assert len(wheels) == 1
    with zipfile.ZipFile(wheels[0]) as zf:
        names = zf.namelist()
    assert "fairhep/containers/selftest.py" in names and "fairhep/cli/containers.py" in names
    assert "fairhep/runners/slurm/templates/task.sbatch.j2" in names


def test_committed_files_equal_a_fresh_render() -> None:
    rendered = render_all(ROOT)
    assert len(rendered) >= 4 * len(STACK_IDS)
    for rel, text in rendered.items():
        assert (ROOT / rel).read_text() == text, f"{rel} is stale: run fairhep containers render"
    assert stale_files(ROOT) == []


@pytest.mark.parametrize("sid", STACK_IDS)
def test_definition_parses_and_has_runscript_labels_test_environment(sid: str) -> None:
    stack = STACKS.stacks[sid]
    parsed = parse_definition(ROOT / "containers" / sid / DEF_NAME)
    assert "Bootstrap: docker" in parsed.sections["header"]
    assert parsed.from_ref == f"{stack.base.image}:{stack.base.tag}@{stack.base.digest}"
    assert parsed.runscript == 'exec fairhep "$@"'
    assert parsed.labels["fairhep.stack"] == sid
    assert parsed.labels["fairhep.version"] == __version__
    # The sha is an Apptainer build argument, filled by `fairhep containers build`.
    assert parsed.labels["fairhep.git_sha"] == "{{ FAIRHEP_GIT_SHA }}"
    assert "FAIRHEP_GIT_SHA=unknown" in parsed.sections["arguments"]
    assert parsed.labels["fairhep.torch"] == stack.torch
    assert parsed.labels["fairhep.python"] == stack.python
    assert parsed.test is not None
    assert "fairhep model info --json" in parsed.test
    assert "fairhep containers selftest --pins /opt/fairhep/pins.json" in parsed.test
    env = parsed.environment
    assert env["FAIRHEP_STACK"] == sid
    assert env["FAIRHEP_BASE_IMAGE"] == stack.base.ref
    assert env["FAIRHEP_CONTAINER_RUNTIME"] == "apptainer"
    assert env["PATH"].startswith("/opt/fairhep/env/bin:")
    # Every %files source exists in the build context (the repository root).
    for src, _ in parsed.files:
        assert (ROOT / src).exists(), src


@pytest.mark.parametrize("sid", STACK_IDS)
def test_dockerfile_has_entrypoint_and_the_same_pins_as_the_definition(sid: str) -> None:
    adef = parse_definition(ROOT / "containers" / sid / DEF_NAME)
    dock = parse_dockerfile(ROOT / "containers" / sid / DOCKERFILE_NAME)
    assert dock.entrypoint == ["fairhep"]
    assert dock.from_ref == adef.from_ref
    sha_free = {k: v for k, v in adef.labels.items() if "FAIRHEP_GIT_SHA" not in v}
    assert {k: dock.labels[k] for k in sha_free} == sha_free
    assert set(dock.labels) == set(adef.labels)
    assert dock.labels["fairhep.git_sha"] == "${FAIRHEP_GIT_SHA}"
    assert dock.environment["FAIRHEP_CONTAINER_RUNTIME"] == "docker"
    same_env = {k: v for k, v in adef.environment.items()
                if k not in ("FAIRHEP_CONTAINER_RUNTIME", "FAIRHEP_GIT_SHA")}
    assert {k: dock.environment[k] for k in same_env} == same_env
    assert sorted(dock.files) == sorted(adef.files)
    # The install steps are the same lines in %post and RUN.
    post = adef.sections["post"]
    docker_text = (ROOT / "containers" / sid / DOCKERFILE_NAME).read_text()
    for line in post.splitlines()[1:]:
        assert line.strip() in docker_text, line


@pytest.mark.parametrize("sid", STACK_IDS)
def test_requirements_and_pins_agree_with_the_stack(sid: str) -> None:
    stack = STACKS.stacks[sid]
    d = ROOT / "containers" / sid
    pins = json.loads((d / PINS_NAME).read_text())
    assert pins["packages"]["torch"] == stack.torch
    assert pins["packages"]["onnx"] == stack.onnx
    assert pins["packages"][stack.onnxruntime_package] == stack.onnxruntime
    # Never both ONNX Runtime packages in one image.
    other = "onnxruntime" if stack.onnxruntime_package == "onnxruntime-gpu" else "onnxruntime-gpu"
    assert other not in pins["packages"]
    req = [ln for ln in (d / REQUIREMENTS_NAME).read_text().splitlines()
           if ln and not ln.startswith("#")]
    for line in req:
        assert line.startswith("--extra-index-url https://") or "==" in line, line
    if stack.installer == "pip":
        assert f"torch=={stack.torch}" in req
        # PyPI's x86_64 torch is the CUDA build; a CPU stack takes the +cpu one.
        assert ("+cpu" in stack.torch) == (not stack.has_cuda)
    else:
        conda = (d / CONDA_NAME).read_text()
        assert f"pytorch={stack.torch}" in conda
    if not stack.has_tensorrt:
        assert "tensorrt" in pins["absent"]


def test_digest_pins_are_well_formed_and_placeholders_are_rejected() -> None:
    for stack in STACKS.stacks.values():
        assert DIGEST_RE.match(stack.base.digest), stack.id
        assert digest_problem(stack.base.digest) is None
        assert stack.base.read_on and stack.base.sources
    assert "not sha256" in str(digest_problem("sha256:abc123"))
    assert "not sha256" in str(digest_problem("sha256:" + "A" * 64))
    assert "placeholder" in str(digest_problem("sha256:" + "1a2b3c4d5e6f7a8b9c0d" * 3 + "1a2b"))
    assert "placeholder" in str(digest_problem("sha256:" + "0" * 64))


def test_containers_check_exits_zero_and_reports_each_stack(capsys) -> None:
    assert main(["containers", "--root", str(ROOT), "check"]) == 0
    out = capsys.readouterr().out
    for sid in STACK_IDS:
        assert f"{sid}: ok" in out
    # Unconfirmed base platforms are said, not hidden.
    for stack in STACKS.stacks.values():
        if not stack.base.platform_verified:
            assert f"WARN base digest {stack.base.digest[:19]}" in out


def test_check_fails_on_a_stale_render_and_render_fixes_it(tmp_path, capsys) -> None:
    root = _tree(tmp_path)
    _edit_stacks(root, 'onnx = "1.18.0"', 'onnx = "1.18.1"')
    assert main(["containers", "--root", str(root), "render", "--check"]) == 1
    assert main(["containers", "--root", str(root), "check"]) == 1
    out = capsys.readouterr().out
    assert "x86_64-cuda: FAILED" in out and "differs from containers/stacks.toml" in out
    assert main(["containers", "--root", str(root), "render"]) == 0
    assert main(["containers", "--root", str(root), "check"]) == 0
    assert 'LABEL fairhep.onnx="1.18.1"' in (root / "containers/x86_64-cuda/Dockerfile").read_text()


def test_check_fails_when_arch_and_base_platform_disagree(tmp_path, capsys) -> None:
    root = _tree(tmp_path)
    _edit_stacks(root, 'arch = "x86_64"\nplatform = "linux/amd64"\nos = "debian12"',
                 'arch = "ppc64le"\nplatform = "linux/ppc64le"\nos = "debian12"')
    assert main(["containers", "--root", str(root), "render"]) == 0
    assert main(["containers", "--root", str(root), "check"]) == 1
    out = capsys.readouterr().out
    assert "x86_64-cuda: FAILED" in out
    assert ("base image docker.io/library/python:3.11.9-slim-bookworm@sha256:8fb09919" in out
            and "is for linux/amd64, the stack is linux/ppc64le" in out)


def test_check_fails_when_a_definition_loses_its_runscript(tmp_path, capsys) -> None:
    root = _tree(tmp_path)
    d = root / "containers/x86_64-cpu/fairhep.def"
    d.write_text(d.read_text().replace('exec fairhep "$@"', "exec python"))
    assert main(["containers", "--root", str(root), "check"]) == 1
    out = capsys.readouterr().out
    assert "x86_64-cpu: FAILED" in out and "%runscript is 'exec python'" in out


def test_check_fails_on_broken_shell_in_post_and_run(tmp_path, capsys) -> None:
    root = _tree(tmp_path)
    for name in ("fairhep.def", "Dockerfile"):
        p = root / "containers/x86_64-cpu" / name
        p.write_text(p.read_text().replace("python3 -m venv /opt/fairhep/env",
                                           "if python3 -m venv /opt/fairhep/env", 1))
    assert main(["containers", "--root", str(root), "check"]) == 1
    out = capsys.readouterr().out
    assert "FAIL %post: not valid sh" in out
    assert "FAIL Dockerfile RUN: not valid sh" in out


@pytest.mark.parametrize(("old", "new", "key"), [
    ('fairhep_extra = "cpu,serve,loadgen"', 'fairhep_extra = "cpu,serve,loadgen"\ncolour = "blue"',
     "key 'stacks.x86_64-cpu.colour' is not a known setting"),
    ('torch = "2.13.0+cpu"\n', "", "missing required key 'torch'"),
    ('"numpy==2.2.6"', '"numpy>=2"', "key 'pip': 'numpy>=2' is not pinned"),
    ('platform_verified = false\nread_on', 'platform_verified = "yes"\nread_on',
     "key 'stacks.x86_64-cuda.base.platform_verified' must be true or false"),
    ('schema = 1', 'schema = 1\n[stacks.x86_64-cpu', "not valid TOML"),
])
def test_malformed_stacks_file_is_one_line_naming_file_and_key(tmp_path, capsys, old, new,
                                                               key) -> None:
    root = _tree(tmp_path)
    path = _edit_stacks(root, old, new)
    assert main(["containers", "--root", str(root), "check"]) == 1
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1, err
    assert str(path) in err and key in err


def _no_engines(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # Only git on PATH (for the sha): no apptainer, singularity or docker.
    bindir = tmp_path / "bin"
    bindir.mkdir()
    git = shutil.which("git")
    assert git is not None
    (bindir / "git").symlink_to(git)
    monkeypatch.setenv("PATH", str(bindir))


def test_build_without_engine_prints_the_command_and_the_reason(tmp_path, monkeypatch,
                                                                capsys) -> None:
    _no_engines(tmp_path, monkeypatch)
    monkeypatch.setenv("FAIRHEP_GIT_SHA", "0123abcd")
    rc = main(["containers", "--root", str(ROOT), "build", "x86_64-cuda"])
    cap = capsys.readouterr()
    assert rc == EXIT_NO_ENGINE == 3
    assert cap.out.strip() == (f"cd {ROOT} && apptainer build --build-arg FAIRHEP_GIT_SHA=0123abcd "
                               "fairhep.sif containers/x86_64-cuda/fairhep.def")
    assert "apptainer: not installed on this machine" in cap.err
    rc = main(["containers", "--root", str(ROOT), "build", "ppc64le-cuda", "--runtime", "docker",
               "--out", "img.iid"])
    cap = capsys.readouterr()
    assert rc == 3
    assert ("docker build --platform linux/ppc64le --build-arg FAIRHEP_GIT_SHA=0123abcd "
            "-f containers/ppc64le-cuda/Dockerfile") in cap.out
    assert "docker: not installed on this machine" in cap.err
    assert main(["containers", "--root", str(ROOT), "build", "x86_64-cpu", "--print-only"]) == 0
    assert main(["containers", "--root", str(ROOT), "build", "no-such-stack"]) == 1
    assert "no stack 'no-such-stack'" in capsys.readouterr().err


@pytest.mark.skipif(shutil.which("docker") is None, reason="no docker client on this machine")
def test_docker_client_without_daemon_is_named_as_such() -> None:
    reason = get_runtime("docker").unavailable_reason()
    if reason is None:
        pytest.skip("a Docker engine answers here")
    assert "no engine answers" in reason or "cannot reach a daemon" in reason


def test_rendered_environment_reaches_result_provenance(monkeypatch) -> None:
    """The names in %environment and the run-time --env ones are what records read."""
    stack = STACKS.stacks["x86_64-cuda"]
    for key in list(os.environ):
        if key.startswith(("FAIRHEP_", "APPTAINER_", "SINGULARITY_")):
            monkeypatch.delenv(key)
    for key, value in environment(stack, "apptainer"):
        if key.startswith("FAIRHEP_"):
            monkeypatch.setenv(key, value)
    monkeypatch.setenv("APPTAINER_CONTAINER", "/images/fairhep.sif")
    run_env = run_env_for_image(Path("/images/fairhep.sif"), "sha256:" + "ab" * 32)
    for key, value in run_env.items():
        monkeypatch.setenv(key, value)
    info = container_info()
    assert info == {"runtime": "apptainer", "stack": "x86_64-cuda", "image": "/images/fairhep.sif",
                    "image_digest": "sha256:" + "ab" * 32, "base_image": stack.base.ref,
                    "build_overrides": []}


def test_selftest_checks_real_versions_and_runs_a_forward_pass(tmp_path, capsys) -> None:
    import platform

    import torch

    cuda = ".".join(torch.version.cuda.split(".")[:2]) if torch.version.cuda else None
    good = {"stack": "here", "python": ".".join(platform.python_version().split(".")[:2]),
            "arch": platform.machine(), "torch_cuda": cuda,
            "packages": {"jinja2": version("jinja2"), "spython": version("spython")}}
    pins = tmp_path / "pins.json"
    pins.write_text(json.dumps(good))
    assert main(["containers", "selftest", "--pins", str(pins), "--json"]) == 0
    result = json.loads(capsys.readouterr().out)
    assert result["ok"] and result["mismatches"] == []
    assert result["forward"]["ok"] and result["forward"]["shape"] == [4, 2]
    bad = dict(good, packages={"jinja2": "0.0.1", "not-a-package-here": "1.0"})
    pins.write_text(json.dumps(bad))
    assert main(["containers", "selftest", "--pins", str(pins)]) == 1
    out = capsys.readouterr().out
    assert f"jinja2 {version('jinja2')} (pinned 0.0.1)" in out
    assert "not-a-package-here not installed (pinned 1.0)" in out
    assert "selftest FAILED" in out


def test_dockerignore_keeps_the_context_small() -> None:
    for path in (".venv/bin/python", "results/records/x.json", "reports/index.html",
                 ".git/HEAD", "fairhep.sif", "suite/fairhep/__pycache__/x.pyc"):
        assert dockerignore_excludes(ROOT, path), path
    for path in ("pyproject.toml", "README.md", "suite/fairhep/containers/selftest.py",
                 "containers/x86_64-cuda/requirements.txt", "results/published/README.md"):
        assert not dockerignore_excludes(ROOT, path), path


def test_no_site_paths_or_secrets_in_rendered_files() -> None:
    for rel, text in render_all(ROOT).items():
        for needle in ("/home/", "/work/", "/scratch/", "/projects/", "password", "token",
                       "SECRET"):
            assert needle not in text, f"{rel} contains {needle!r}"
