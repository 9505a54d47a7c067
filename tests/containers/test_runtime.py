"""Container runtimes: the launch words of each engine, the registry, and the build commands.

The words for Apptainer, Docker and no container are the ones the Slurm scripts in
tests/expected/ exec (byte-equal there); here each runtime is asked directly.
"""

from __future__ import annotations

import hashlib
import os
import shlex
import subprocess
import sys
import tarfile
from dataclasses import replace
from pathlib import Path

import pytest

from fairhep.cli import main
from fairhep.containers.runtime import (
    RUNTIMES,
    Apptainer,
    Buildah,
    BuildRequest,
    Docker,
    Launch,
    NoContainer,
    Podman,
    Raw,
    builders,
    get_builder,
    get_runtime,
    image_digest,
    shell_word,
)
from fairhep.errors import ConfigError

ROOT = Path(__file__).resolve().parents[2]

ARGS = ("task", "run", "--site", "/r/jobs/site.toml")
JOB = Launch(ARGS, image="/img/fairhep.sif", binds=("/lus", "/r", "/d:/data:ro"), gpus=True,
             env=("OMP_NUM_THREADS", "EXTRA", "OMP_NUM_THREADS", "SLURM_JOB_ID"))


def script(lines: list[list[str | Raw]]) -> str:
    """As the Slurm renderer writes them."""
    return " \\\n    ".join(" ".join(shell_word(w) for w in line) for line in lines)


def test_registry_is_keyed_by_the_sites_runtime_names() -> None:
    assert list(RUNTIMES) == ["apptainer", "docker", "podman", "none"]
    assert all(get_runtime(name).name == name for name in RUNTIMES)
    # Buildah builds (into Podman's store) but launches nothing: no site can name it.
    assert builders() == ["apptainer", "docker", "podman", "buildah"]
    assert "buildah" not in RUNTIMES
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
        "    --env FAIRHEP_IMAGE=/img/fairhep.sif --env \"FAIRHEP_IMAGE_DIGEST=$(docker image "
        "inspect --format '{{.Id}}' /img/fairhep.sif 2>/dev/null || true)\" \\\n"
        "    /img/fairhep.sif \\\n"
        "    task run --site /r/jobs/site.toml")
    cpu = Docker().launch(Launch(ARGS, image="fairhep:cpu"))
    # No --gpus and no job variables: only the image's name and id for the records.
    assert [line[0] for line in cpu] == ["docker", "--env", "fairhep:cpu", "task"]


def test_podman_runs_rootless_with_cdi_gpus() -> None:
    lines = Podman().launch(JOB)
    assert lines[0] == ["podman", "run", "--rm", "--userns=keep-id", "--security-opt",
                        "label=disable"]
    assert ["--device", "nvidia.com/gpu=all"] in lines
    env = lines[-4]
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
                       tag="fairhep:0.1.0-x86_64-cpu", fakeroot=True,
                       volumes=("/opt/wheels:/opt/wheels:ro",))
    assert Apptainer().build_argv(req) == [
        "apptainer", "build", "--fakeroot", "--build-arg", "FAIRHEP_GIT_SHA=abc",
        "--bind", "/opt/wheels:/opt/wheels:ro", "out.sif", "containers/x86_64-cpu/fairhep.def"]
    assert shlex.join(Docker().build_argv(replace(req, volumes=()))) == (
        "docker build --platform linux/amd64 --build-arg FAIRHEP_GIT_SHA=abc "
        "-f containers/x86_64-cpu/Dockerfile -t fairhep:0.1.0-x86_64-cpu --iidfile out.sif .")
    for engine, words in ((Podman(), "podman build"), (Buildah(), "buildah bud")):
        assert shlex.join(engine.build_argv(req)) == (
            f"{words} --platform linux/amd64 --format docker --build-arg FAIRHEP_GIT_SHA=abc "
            "--volume /opt/wheels:/opt/wheels:ro -f containers/x86_64-cpu/Dockerfile "
            "-t fairhep:0.1.0-x86_64-cpu --iidfile out.sif .")
    with pytest.raises(ConfigError, match="'none' builds no images: use apptainer, docker, "
                                          "podman, buildah"):
        get_builder("none")
    with pytest.raises(ConfigError, match="unknown container runtime 'lxc'"):
        get_builder("lxc")
    with pytest.raises(ConfigError, match="buildah builds images but runs no jobs"):
        Buildah().launch(JOB)
    assert Apptainer().default_out("s") == Path("fairhep.sif")
    for builder in (Docker(), Podman(), Buildah()):
        assert builder.default_out("s") == Path("build/fairhep-s.iid")


def sif_like(path: Path, payload: bytes) -> Path:
    """A file with the SIF header (its 32-byte launch line, then the magic) and a payload:
    GENERATED for the test, as no SIF builder exists on this machine."""
    launch = b"#!/usr/bin/env run-singularity\n".ljust(32, b"\0")
    path.write_bytes(launch + b"SIF_MAGIC\x0001\0" + payload)
    return path


def test_built_images_are_named_with_their_digest(tmp_path: Path) -> None:
    sif = sif_like(tmp_path / "x.sif", b"image")
    req = BuildRequest(stack_dir=Path("containers/s"), out=sif, build_args=(),
                       platform="linux/amd64", tag="fairhep:t")
    built = Apptainer().built(req)
    assert built.image == sif
    assert built.digest == "sha256:" + hashlib.sha256(sif.read_bytes()).hexdigest()
    assert built.summary == f"built {sif}"
    iid = tmp_path / "x.iid"
    for engine in (Docker(), Podman(), Buildah()):
        for text in ("sha256:" + "ab" * 32 + "\n", "ab" * 32):  # podman 4 / older ids
            iid.write_text(text)
            built = engine.built(replace(req, out=iid))
            assert (built.image, built.digest) == ("fairhep:t", "sha256:" + "ab" * 32)
    assert built.summary == f"built image fairhep:t sha256:{'ab' * 32} (id file {iid})"


def test_image_digest_is_the_sha256_of_the_file(tmp_path: Path,
                                                capsys: pytest.CaptureFixture[str]) -> None:
    sif = sif_like(tmp_path / "fairhep.sif", os.urandom(3 << 20) + b"tail")
    want = "sha256:" + hashlib.sha256(sif.read_bytes()).hexdigest()
    assert image_digest(sif) == want
    assert main(["containers", "digest", str(sif)]) == 0
    assert capsys.readouterr().out.strip() == want
    assert main(["containers", "digest", str(tmp_path / "missing.sif")]) == 1
    assert "cannot read it" in capsys.readouterr().err


def test_digest_refuses_a_file_that_is_not_an_image(tmp_path: Path,
                                                    capsys: pytest.CaptureFixture[str]) -> None:
    tarball = tmp_path / "image.tar"
    with tarfile.open(tarball, "w") as tf:  # what `docker save` writes: not a file image
        tf.add(ROOT / "pyproject.toml", arcname="manifest.json")
    for path in (ROOT / "README.md", tarball):
        assert main(["containers", "digest", str(path)]) == 1
        err = capsys.readouterr().err.strip()
        assert len(err.splitlines()) == 1
        assert f"{path}: not a container image (no SIF header, not SquashFS)" in err
        assert "digest the .sif" in err


def test_engines_missing_here_are_named(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))
    for name in builders():
        assert get_builder(name).unavailable_reason() == f"{name}: not installed on this machine"


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


def test_a_docker_or_podman_image_is_a_tag_not_a_file(tmp_path: Path,
                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    """`sites check` asks the engine about a tag (here a recorder that knows one image), and
    says nothing where the engine is not installed, instead of "does not exist here"."""
    engine = tmp_path / "docker"
    engine.write_text('#!/bin/sh\n[ "$3" = "known:tag" ]\n')
    engine.chmod(0o755)
    monkeypatch.setenv("PATH", str(tmp_path))
    assert Docker().image_warning("known:tag") is None
    warning = Docker().image_warning("fairhep:cuda") or ""
    assert "not among docker's images here" in warning and "docker pull fairhep:cuda" in warning
    monkeypatch.setenv("PATH", str(tmp_path / "nothing"))
    assert Docker().image_warning("fairhep:cuda") is None
