"""Container runtimes: one small class per engine behind one interface, in a registry keyed by
a site's ``container.runtime`` (``apptainer``, ``docker``, ``podman``, ``none``).

A runtime knows how to launch fairhep in an image: the words a job script execs (binds, GPU
flags, environment passed on, image). Where it builds images (Apptainer from the definition,
Docker from the Dockerfile) it also knows the build command and how to name what it built. The
images' entry point is ``fairhep``, so a launch is always "fairhep with these arguments".

Launch words are for a shell script: plain words are quoted by the caller, :class:`Raw` words
(written here, never user data) are left as they are, e.g. Docker's ``"$(id -u):$(id -g)"``.
"""

from __future__ import annotations

import shlex
import shutil
import subprocess
from abc import ABC, abstractmethod
from dataclasses import dataclass
from pathlib import Path
from typing import ClassVar, TypeAlias

from fairhep.containers.stacks import DEF_NAME, DOCKERFILE_NAME
from fairhep.errors import ConfigError, FairhepError


@dataclass(frozen=True)
class Raw:
    """A word of shell written by fairhep itself (never user data), left unquoted."""

    text: str


Word: TypeAlias = "str | Raw"


def shell_word(word: Word) -> str:
    return word.text if isinstance(word, Raw) else shlex.quote(word)


@dataclass(frozen=True)
class Launch:
    """fairhep with ``args``, in ``image`` where the runtime has one."""

    args: tuple[Word, ...]
    image: str = ""
    binds: tuple[str, ...] = ()  # "SRC" or "SRC:DEST[:ro]"
    gpus: bool = False
    # Variables passed on by name (their values are the job's) where the engine does not
    # pass the environment itself.
    env: tuple[str, ...] = ()
    fairhep: str = "fairhep"  # the command outside a container (runtime "none")


@dataclass(frozen=True)
class BuildRequest:
    """One image build, run from the build context (the repository root)."""

    stack_dir: Path  # the stack's rendered files, relative to the build context
    out: Path  # the image file (.sif) or image-id file
    build_args: tuple[tuple[str, str], ...]
    platform: str
    tag: str
    fakeroot: bool = False


@dataclass(frozen=True)
class BuiltImage:
    image: str | Path  # what FAIRHEP_IMAGE names: a .sif path or an image name
    digest: str
    summary: str  # the line that says what was built


def image_digest(path: Path) -> str:
    """``sha256:<hex>`` of an image file (a .sif): what runners pass as FAIRHEP_IMAGE_DIGEST."""
    from fairhep.data.manifest import sha256_file

    try:
        return f"sha256:{sha256_file(Path(path))}"
    except OSError as exc:
        raise FairhepError(f"{path}: cannot read the image to digest it ({exc.strerror})") from None


def run_env_for_image(image: str | Path, digest: str) -> dict[str, str]:
    """The run-time environment that makes result records name the image: a .sif path
    (made absolute) or a Docker image name, and its digest."""
    name = str(Path(image).resolve()) if isinstance(image, Path) else image
    return {"FAIRHEP_IMAGE": name, "FAIRHEP_IMAGE_DIGEST": digest}


class ContainerRuntime(ABC):
    name: ClassVar[str]
    needs_image: ClassVar[bool] = True
    executables: ClassVar[tuple[str, ...]] = ()  # the engine's binary, first found wins

    @abstractmethod
    def launch(self, job: Launch) -> list[list[Word]]:
        """The command a job execs, as lines of words (a script shows one line each)."""

    def engine_path(self) -> str | None:
        return next((p for p in map(shutil.which, self.executables) if p), None)

    def unavailable_reason(self) -> str | None:
        """Why the engine cannot be used on this machine, or None."""
        if self.executables and self.engine_path() is None:
            return f"{self.name}: not installed on this machine"
        return None

    def image_warning(self, image: str) -> str | None:
        """What ``fairhep sites check`` says about a site's ``container.image``."""
        if not Path(image).exists():
            return f"container.image {image} does not exist here"
        return None


class ImageBuilder(ContainerRuntime):
    """A runtime whose engine builds images of a stack (``fairhep containers build``)."""

    out_pattern: ClassVar[str]  # the default image (id) file, relative to the source tree

    def default_out(self, stack_id: str) -> Path:
        return Path(self.out_pattern.format(stack=stack_id))

    @abstractmethod
    def build_argv(self, req: BuildRequest) -> list[str]:
        """The exact engine command, run from the build context."""

    @abstractmethod
    def built(self, req: BuildRequest) -> BuiltImage:
        """What the build of ``req`` made (``req.out`` as it is from here)."""


class NoContainer(ContainerRuntime):
    """The site's own fairhep command (a virtual environment), no image."""

    name = "none"
    needs_image = False

    def launch(self, job: Launch) -> list[list[Word]]:
        return [[job.fairhep, *job.args]]


class Apptainer(ImageBuilder):
    name = "apptainer"
    executables = ("apptainer", "singularity")  # Apptainer is also installed as singularity
    out_pattern = "fairhep.sif"

    def launch(self, job: Launch) -> list[list[Word]]:
        # Apptainer passes the job's environment and its GPU allocation on by itself.
        lines: list[list[Word]] = [["apptainer", "run", *(["--nv"] if job.gpus else [])]]
        lines += [["--bind", b] for b in job.binds]
        return [*lines, [job.image], list(job.args)]

    def build_argv(self, req: BuildRequest) -> list[str]:
        cmd = ["apptainer", "build", *(["--fakeroot"] if req.fakeroot else [])]
        for key, value in req.build_args:
            cmd += ["--build-arg", f"{key}={value}"]
        return [*cmd, str(req.out), (req.stack_dir / DEF_NAME).as_posix()]

    def built(self, req: BuildRequest) -> BuiltImage:
        return BuiltImage(req.out, image_digest(req.out), f"built {req.out}")


class _DockerCommandLine(ContainerRuntime):
    """``<engine> run`` as Docker spells it (Podman takes the same words)."""

    # Files written into binds belong to the user.
    run_options: ClassVar[tuple[Word, ...]] = ("--user", Raw('"$(id -u):$(id -g)"'))
    gpu_options: ClassVar[tuple[Word, ...]] = (
        "--gpus", Raw('"\\"device=${CUDA_VISIBLE_DEVICES:?no GPU allocated}\\""'))
    gpu_env: ClassVar[tuple[str, ...]] = ()  # passed on as well when the job has GPUs

    def launch(self, job: Launch) -> list[list[Word]]:
        # The engine passes neither the job's environment nor its GPU allocation.
        lines: list[list[Word]] = [[self.name, "run", "--rm", *self.run_options]]
        if job.gpus:
            lines.append(list(self.gpu_options))
        lines += [["--volume", b if ":" in b else f"{b}:{b}"] for b in job.binds]
        names = dict.fromkeys([*job.env, *(self.gpu_env if job.gpus else ())])
        if names:
            lines.append([w for n in names for w in ("--env", n)])
        return [*lines, [job.image], list(job.args)]


class Docker(_DockerCommandLine, ImageBuilder):
    name = "docker"
    executables = ("docker",)
    out_pattern = "build/fairhep-{stack}.iid"  # the image-id file; build/ is git-ignored

    def unavailable_reason(self) -> str | None:
        path = self.engine_path()
        if path is None:
            return super().unavailable_reason()
        try:
            probe = subprocess.run([path, "info", "--format", "{{.ServerVersion}}"],
                                   capture_output=True, text=True, timeout=20, check=False)
        except (OSError, subprocess.SubprocessError) as exc:
            return f"docker: the client cannot reach a daemon ({exc})"
        if probe.returncode != 0:
            first = (probe.stderr.strip().splitlines() or ["no daemon"])[0]
            return f"docker: the client is installed but no engine answers ({first})"
        return None

    def build_argv(self, req: BuildRequest) -> list[str]:
        cmd = ["docker", "build", "--platform", req.platform]
        for key, value in req.build_args:
            cmd += ["--build-arg", f"{key}={value}"]
        dockerfile = (req.stack_dir / DOCKERFILE_NAME).as_posix()
        return [*cmd, "-f", dockerfile, "-t", req.tag, "--iidfile", str(req.out), "."]

    def built(self, req: BuildRequest) -> BuiltImage:
        digest = req.out.read_text().strip()
        return BuiltImage(req.tag, digest, f"built image {req.tag} {digest} (id file {req.out})")


class Podman(_DockerCommandLine):
    """Rootless Podman: Docker's command line, the user's own ids, GPUs through CDI. It builds
    no images here (``podman build`` of the Dockerfile would work; no site has asked yet)."""

    name = "podman"
    executables = ("podman",)
    # keep-id: files written into binds belong to the user; label=disable: binds stay
    # readable on SELinux hosts without relabelling them.
    run_options = ("--userns=keep-id", "--security-opt", "label=disable")
    # Every GPU of the node through CDI; CUDA_VISIBLE_DEVICES, passed on, keeps the job to
    # its own allocation.
    gpu_options = ("--device", "nvidia.com/gpu=all")
    gpu_env = ("CUDA_VISIBLE_DEVICES",)


RUNTIMES: dict[str, ContainerRuntime] = {
    r.name: r for r in (Apptainer(), Docker(), Podman(), NoContainer())
}


def get_runtime(name: str) -> ContainerRuntime:
    try:
        return RUNTIMES[name]
    except KeyError:
        raise ConfigError(f"unknown container runtime {name!r}; known: "
                          f"{', '.join(RUNTIMES)}") from None


def get_builder(name: str) -> ImageBuilder:
    runtime = get_runtime(name)
    if not isinstance(runtime, ImageBuilder):
        raise ConfigError(f"container runtime {name!r} builds no images: use "
                          f"{' or '.join(builders())}")
    return runtime


def builders() -> list[str]:
    """The runtimes that build images (``fairhep containers build --runtime``)."""
    return [name for name, r in RUNTIMES.items() if isinstance(r, ImageBuilder)]
