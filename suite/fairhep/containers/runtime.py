"""Container runtimes: one small class per engine behind one interface, in a registry keyed by
a site's ``container.runtime`` (``apptainer``, ``docker``, ``podman``, ``none``).

A runtime knows how to launch fairhep in an image: the words a job script execs (binds, GPU
flags, environment passed on, image). Where it builds images (Apptainer from the definition;
Docker, Podman and Buildah from the Dockerfile) it also knows the build command and how to name
what it built (:data:`BUILDERS`; Buildah builds but launches nothing, so sites cannot name it).
The images' entry point is ``fairhep``, so a launch is always "fairhep with these arguments".

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
    # One rank of a distributed training: its peers on other nodes reach it at the host's
    # address, and NCCL shares memory with the ranks beside it.
    host_network: bool = False


@dataclass(frozen=True)
class BuildRequest:
    """One image build, run from the build context (the repository root)."""

    stack_dir: Path  # the stack's rendered files, relative to the build context
    out: Path  # the image file (.sif) or image-id file
    build_args: tuple[tuple[str, str], ...]
    platform: str
    tag: str
    fakeroot: bool = False
    volumes: tuple[str, ...] = ()  # SRC:DST[:ro], mounted during the build only


@dataclass(frozen=True)
class BuiltImage:
    image: str | Path  # what FAIRHEP_IMAGE names: a .sif path or an image name
    digest: str
    summary: str  # the line that says what was built


# What an image file starts with: SIF (after its 32-byte launch line) or a legacy SquashFS
# Singularity image.
SIF_MAGIC_OFFSET, SIF_MAGIC = 32, b"SIF_MAGIC"
SQUASHFS_MAGIC = b"hsqs"


def image_file_problem(path: Path) -> str | None:
    """Why ``path`` is not an image file fairhep can digest (None: it is one)."""
    try:
        with open(path, "rb") as fh:
            head = fh.read(SIF_MAGIC_OFFSET + len(SIF_MAGIC))
    except OSError as exc:
        return f"cannot read it ({exc.strerror})"
    if head[SIF_MAGIC_OFFSET:] == SIF_MAGIC or head.startswith(SQUASHFS_MAGIC):
        return None
    return ("not a container image (no SIF header, not SquashFS): digest the .sif that "
            "`fairhep containers build` made; Docker/Podman images are named by the image id "
            "in their .iid file")


def image_digest(path: Path) -> str:
    """``sha256:<hex>`` of an image file (a .sif): what runners pass as FAIRHEP_IMAGE_DIGEST.
    Anything that is not an image (a text file, a tarball) is refused in one line."""
    from fairhep.data.manifest import sha256_file

    problem = image_file_problem(Path(path))
    if problem:
        raise FairhepError(f"{path}: {problem}")
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
    # Build-time mounts (``--volume``): the engine's option, or "" where it has none.
    volume_option: ClassVar[str] = ""

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

    volume_option = "--bind"

    def build_argv(self, req: BuildRequest) -> list[str]:
        cmd = ["apptainer", "build", *(["--fakeroot"] if req.fakeroot else [])]
        for key, value in req.build_args:
            cmd += ["--build-arg", f"{key}={value}"]
        for volume in req.volumes:
            cmd += ["--bind", volume]
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

    def image_warning(self, image: str) -> str | None:
        """A tag, not a file: asked of the engine where it runs here (a login node without
        one says nothing; the job's node pulls or has the image)."""
        engine = self.engine_path()
        if engine is None:
            return None
        try:
            probe = subprocess.run([engine, "image", "inspect", image], capture_output=True,
                                   timeout=30, check=False)
        except (OSError, subprocess.TimeoutExpired):
            return None
        if probe.returncode == 0:
            return None
        return (f"container.image {image} is not among {self.name}'s images here "
                f"(`{self.name} pull {image}`, or load it, on the nodes that run the jobs)")

    def launch(self, job: Launch) -> list[list[Word]]:
        # The engine passes neither the job's environment nor its GPU allocation.
        lines: list[list[Word]] = [[self.name, "run", "--rm", *self.run_options]]
        if job.gpus:
            lines.append(list(self.gpu_options))
        if job.host_network:
            lines.append(["--network=host", "--ipc=host"])
        lines += [["--volume", b if ":" in b else f"{b}:{b}"] for b in job.binds]
        names = dict.fromkeys([*job.env, *(self.gpu_env if job.gpus else ())])
        if names:
            lines.append([w for n in names for w in ("--env", n)])
        # Records made inside name the image and its id, as the engine tells them at start.
        inspect = (f"{self.name} image inspect --format '{{{{.Id}}}}' {shlex.quote(job.image)}"
                   " 2>/dev/null || true")
        lines.append(["--env", f"FAIRHEP_IMAGE={job.image}",
                      "--env", Raw(f'"FAIRHEP_IMAGE_DIGEST=$({inspect})"')])
        return [*lines, [job.image], list(job.args)]


class _OciBuilder(ImageBuilder):
    """Engines that build the Dockerfile into an image named by a tag and an image id."""

    out_pattern = "build/fairhep-{stack}.iid"  # the image-id file; build/ is git-ignored
    build_words: ClassVar[tuple[str, ...]]  # the engine's build sub-command
    format_options: ClassVar[tuple[str, ...]] = ()
    info_words: ClassVar[tuple[str, ...]] = ("info",)  # a quick probe that the engine works
    not_answering: ClassVar[str] = "installed, but it cannot start here"

    def unavailable_reason(self) -> str | None:
        path = self.engine_path()
        if path is None:
            return super().unavailable_reason()
        try:
            probe = subprocess.run([path, *self.info_words], capture_output=True, text=True,
                                   timeout=60, check=False)
        except (OSError, subprocess.SubprocessError) as exc:
            return f"{self.name}: the engine does not answer ({exc})"
        if probe.returncode != 0:
            first = (probe.stderr.strip().splitlines() or [f"exit {probe.returncode}"])[0]
            return f"{self.name}: {self.not_answering} ({first})"
        return None

    def build_argv(self, req: BuildRequest) -> list[str]:
        cmd = [self.name, *self.build_words, "--platform", req.platform, *self.format_options]
        for key, value in req.build_args:
            cmd += ["--build-arg", f"{key}={value}"]
        for volume in req.volumes:
            cmd += [self.volume_option, volume]
        dockerfile = (req.stack_dir / DOCKERFILE_NAME).as_posix()
        return [*cmd, "-f", dockerfile, "-t", req.tag, "--iidfile", str(req.out), "."]

    def built(self, req: BuildRequest) -> BuiltImage:
        digest = req.out.read_text().strip()
        if not digest.startswith("sha256:"):
            digest = f"sha256:{digest}"
        return BuiltImage(req.tag, digest, f"built image {req.tag} {digest} (id file {req.out})")


class Docker(_DockerCommandLine, _OciBuilder):
    name = "docker"
    executables = ("docker",)
    build_words = ("build",)
    info_words = ("info", "--format", "{{.ServerVersion}}")
    not_answering = "the client is installed but no engine answers"


class Podman(_DockerCommandLine, _OciBuilder):
    """Rootless Podman: Docker's command line, the user's own ids, GPUs through CDI."""

    name = "podman"
    executables = ("podman",)
    build_words = ("build",)
    # Docker's image format keeps HEALTHCHECK NONE (OCI's has no health checks).
    format_options = ("--format", "docker")
    volume_option = "--volume"
    # keep-id: files written into binds belong to the user; label=disable: binds stay
    # readable on SELinux hosts without relabelling them.
    run_options = ("--userns=keep-id", "--security-opt", "label=disable")
    # Every GPU of the node through CDI; CUDA_VISIBLE_DEVICES, passed on, keeps the job to
    # its own allocation.
    gpu_options = ("--device", "nvidia.com/gpu=all")
    gpu_env = ("CUDA_VISIBLE_DEVICES",)


class Buildah(_OciBuilder):
    """Buildah builds the Dockerfile (``buildah bud``) into the same local image store that
    Podman runs from; it launches no jobs, so it is a builder only."""

    name = "buildah"
    executables = ("buildah",)
    build_words = ("bud",)
    format_options = ("--format", "docker")
    volume_option = "--volume"

    def launch(self, job: Launch) -> list[list[Word]]:  # noqa: ARG002 (the interface's)
        raise ConfigError("buildah builds images but runs no jobs: use podman to run them")


RUNTIMES: dict[str, ContainerRuntime] = {
    r.name: r for r in (Apptainer(), Docker(), Podman(), NoContainer())
}
# What builds images, in the order `containers build --runtime auto` tries them.
BUILDERS: dict[str, ImageBuilder] = {
    r.name: r for r in (Apptainer(), Docker(), Podman(), Buildah())
}


def get_runtime(name: str) -> ContainerRuntime:
    try:
        return RUNTIMES[name]
    except KeyError:
        raise ConfigError(f"unknown container runtime {name!r}; known: "
                          f"{', '.join(RUNTIMES)}") from None


def get_builder(name: str) -> ImageBuilder:
    try:
        return BUILDERS[name]
    except KeyError:
        pass
    get_runtime(name)  # an unknown name is said as such
    raise ConfigError(f"container runtime {name!r} builds no images: use "
                      f"{', '.join(builders())}")


def builders() -> list[str]:
    """The engines that build images (``fairhep containers build --runtime``)."""
    return list(BUILDERS)
