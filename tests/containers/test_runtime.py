"""Container runtimes: the launch words of each engine, the registry, and the build commands.

The words for Apptainer, Docker and no container are the ones the Slurm scripts in
tests/expected/ exec (byte-equal there); here each runtime is asked directly.
"""

from __future__ import annotations

import shlex
import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import pytest

from fairhep.containers.runtime import (
    RUNTIMES,
    Apptainer,
    BuildRequest,
    Docker,
    Launch,
    NoContainer,
    Podman,
    Raw,
    builders,
    get_builder,
    get_runtime,
    shell_word,
)
from fairhep.errors import ConfigError

ARGS = ("task", "run", "--site", "/r/jobs/site.toml")
JOB = Launch(ARGS, image="/img/fairhep.sif", binds=("/lus", "/r", "/d:/data:ro"), gpus=True,
             env=("OMP_NUM_THREADS", "EXTRA", "OMP_NUM_THREADS", "SLURM_JOB_ID"))


def script(lines: list[list[str | Raw]]) -> str:
    """As the Slurm renderer writes them."""
    return " \\\n    ".join(" ".join(shell_word(w) for w in line) for line in lines)


def test_registry_is_keyed_by_the_sites_runtime_names() -> None:
    assert list(RUNTIMES) == ["apptainer", "docker", "podman", "none"]
    assert all(get_runtime(name).name == name for name in RUNTIMES)
    assert builders() == ["apptainer", "docker"]
    with pytest.raises(ConfigError, match="unknown container runtime 'lxc'; known: apptainer, "
                                          "docker, podman, none") as exc:
        get_runtime("lxc")
    assert "\n" not in str(exc.value)
    assert [r.needs_image for r in RUNTIMES.values()] == [True, True, True, False]


def test_apptainer_passes_the_environment_itself_and_asks_for_gpus_with_nv() -> None:
    assert Apptainer().launch(JOB) == [
        ["apptainer", "run", "--nv"], ["--bind", "/lus"], ["--bind", "/r"],
        ["--bind", "/d:/data:ro"], ["/img/fairhep.sif"], list(ARGS)]
    cpu = Apptainer().launch(Launch(ARGS, image="x.sif", binds=("/r",)))
    assert cpu[0] == ["apptainer", "run"]


def test_docker_passes_ids_gpus_volumes_and_environment_by_name() -> None:
    lines = Docker().launch(JOB)
    assert script(lines) == (
        'docker run --rm --user "$(id -u):$(id -g)" \\\n'
        '    --gpus "\\"device=${CUDA_VISIBLE_DEVICES:?no GPU allocated}\\"" \\\n'
        "    --volume /lus:/lus \\\n"
        "    --volume /r:/r \\\n"
        "    --volume /d:/data:ro \\\n"
        "    --env OMP_NUM_THREADS --env EXTRA --env SLURM_JOB_ID \\\n"
        "    /img/fairhep.sif \\\n"
        "    task run --site /r/jobs/site.toml")
    cpu = Docker().launch(Launch(ARGS, image="fairhep:cpu"))
    assert [line[0] for line in cpu] == ["docker", "fairhep:cpu", "task"]  # no --gpus, no --env


def test_podman_runs_rootless_with_cdi_gpus() -> None:
    lines = Podman().launch(JOB)
    assert lines[0] == ["podman", "run", "--rm", "--userns=keep-id", "--security-opt",
                        "label=disable"]
    assert ["--device", "nvidia.com/gpu=all"] in lines
    env = lines[-3]
    assert env[-2:] == ["--env", "CUDA_VISIBLE_DEVICES"]
    assert lines[-2:] == [["/img/fairhep.sif"], list(ARGS)]
    assert "CUDA_VISIBLE_DEVICES" not in str(Podman().launch(Launch(ARGS, image="i")))


def test_no_container_runs_the_sites_fairhep_command() -> None:
    assert NoContainer().launch(Launch(ARGS, fairhep="/venv/bin/fairhep")) == [
        ["/venv/bin/fairhep", *ARGS]]
    assert NoContainer().unavailable_reason() is None


def test_build_commands_of_the_engines_that_build() -> None:
    req = BuildRequest(stack_dir=Path("containers/x86_64-cpu"), out=Path("out.sif"),
                       build_args=(("FAIRHEP_GIT_SHA", "abc"),), platform="linux/amd64",
                       tag="fairhep:0.1.0-x86_64-cpu", fakeroot=True)
    assert Apptainer().build_argv(req) == [
        "apptainer", "build", "--fakeroot", "--build-arg", "FAIRHEP_GIT_SHA=abc", "out.sif",
        "containers/x86_64-cpu/fairhep.def"]
    assert shlex.join(Docker().build_argv(req)) == (
        "docker build --platform linux/amd64 --build-arg FAIRHEP_GIT_SHA=abc "
        "-f containers/x86_64-cpu/Dockerfile -t fairhep:0.1.0-x86_64-cpu --iidfile out.sif .")
    for name in ("podman", "none"):
        with pytest.raises(ConfigError, match=f"'{name}' builds no images: use apptainer or "
                                              "docker"):
            get_builder(name)
    assert Apptainer().default_out("s") == Path("fairhep.sif")
    assert Docker().default_out("s") == Path("build/fairhep-s.iid")


def test_built_images_are_named_with_their_digest(tmp_path: Path) -> None:
    sif = tmp_path / "x.sif"
    sif.write_bytes(b"image")
    req = BuildRequest(stack_dir=Path("containers/s"), out=sif, build_args=(),
                       platform="linux/amd64", tag="fairhep:t")
    built = Apptainer().built(req)
    assert built.image == sif and built.digest.startswith("sha256:")
    assert built.summary == f"built {sif}"
    iid = tmp_path / "x.iid"
    iid.write_text("sha256:" + "ab" * 32 + "\n")
    built = Docker().built(replace(req, out=iid))
    assert (built.image, built.digest) == ("fairhep:t", "sha256:" + "ab" * 32)
    assert built.summary == f"built image fairhep:t sha256:{'ab' * 32} (id file {iid})"


def test_engines_missing_here_are_named(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))
    for name in ("apptainer", "docker", "podman"):
        assert get_runtime(name).unavailable_reason() == f"{name}: not installed on this machine"


def test_selftest_runs_without_toml_jinja_or_spython() -> None:
    """Images have few packages (and Python 3.10 has no tomllib): `containers selftest` must
    not need them."""
    code = ("import sys\n"
            "for m in ('tomllib', 'tomli', 'jinja2', 'spython', 'rich'): sys.modules[m] = None\n"
            "from fairhep.cli import main\n"
            "sys.exit(main(['containers', 'selftest', '--json']))\n")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          timeout=300, check=False)
    assert done.returncode == 0, done.stderr
    assert '"ok": true' in done.stdout
