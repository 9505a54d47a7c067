"""Building an image of a stack with the engine of a container runtime.

:func:`plan_build` decides everything before anything runs: which engine (``auto``: the first
of :data:`~fairhep.containers.runtime.BUILDERS` that works here), which files (the committed
``containers/<stack>/``, or with build overrides a derived render under
``build/containers/<stack>/``), the exact command and why it cannot run here, if it cannot.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from fairhep import __version__
from fairhep.containers.overrides import BuildOverrides, parse_overrides
from fairhep.containers.render import GIT_SHA_ARG, derived_dir, pins, render_stack, write_files
from fairhep.containers.runtime import BUILDERS, BuildRequest, ImageBuilder, get_builder
from fairhep.containers.stacks import STACKS_FILE, Stack, StacksFile, load_stacks, stack_dir
from fairhep.errors import ConfigError

# `fairhep containers build` exit status when no engine can build here: nothing was built,
# so scripts must not go on as if an image existed; 0 is kept for --print-only.
EXIT_NO_ENGINE = 3
AUTO = "auto"


def git_sha_for_build() -> str:
    """The commit being built, ``-dirty`` when tracked files have uncommitted changes."""
    from fairhep.results import git_state

    state = git_state()
    sha = state.get("sha") or "unknown"
    return f"{sha}-dirty" if state.get("dirty") else sha


def docker_tag(stack: Stack) -> str:
    return f"fairhep:{__version__.replace('+', '-')}-{stack.id}"


def build_request(stack: Stack, out: Path, git_sha: str, fakeroot: bool = False,
                  files: Path | None = None, volumes: tuple[str, ...] = (),
                  tag: str | None = None) -> BuildRequest:
    return BuildRequest(stack_dir=files or stack_dir(stack), out=out,
                        build_args=((GIT_SHA_ARG, git_sha),), platform=stack.platform,
                        tag=tag or docker_tag(stack), fakeroot=fakeroot, volumes=volumes)


@dataclass(frozen=True)
class BuildPlan:
    engine: ImageBuilder
    request: BuildRequest
    overrides: BuildOverrides
    described: tuple[str, ...]  # one line per override (empty: the committed files)
    derived: dict[Path, str]  # the derived render to write first (empty without overrides)
    unavailable: str | None  # why no engine can build here (None: it can)


def _choose(runtime: str) -> tuple[ImageBuilder, str | None]:
    """The engine asked for, or with ``auto`` the first that works here (Apptainer's
    command, and every engine's reason, when none does)."""
    if runtime != AUTO:
        engine = get_builder(runtime)
        return engine, engine.unavailable_reason()
    reasons = []
    for engine in BUILDERS.values():
        reason = engine.unavailable_reason()
        if reason is None:
            return engine, None
        reasons.append(reason)
    return BUILDERS["apptainer"], "; ".join(reasons)


def plan_build(root: Path, stack_id: str, *, runtime: str = AUTO, out: Path | None = None,
               base: str | None = None, build_args: Sequence[str] = (),
               volumes: Sequence[str] = (), fakeroot: bool = False,
               tag: str | None = None) -> BuildPlan:
    stacks_file: StacksFile = load_stacks(root / STACKS_FILE)
    if stack_id not in stacks_file.stacks:
        raise ConfigError(f"{root / STACKS_FILE}: no stack {stack_id!r} "
                          f"(known: {', '.join(stacks_file.stacks)})")
    stack = stacks_file.stacks[stack_id]
    pinned = pins(stacks_file, stack)["packages"]
    overrides, sha = parse_overrides(stack, pinned, base=base, build_args=build_args,
                                     volumes=volumes)
    engine, unavailable = _choose(runtime)
    if overrides.volumes and not engine.volume_option:
        raise ConfigError(f"--volume: {engine.name} build mounts nothing at build time; use a "
                          "build argument (e.g. --build-arg PIP_INDEX_URL=...) or another "
                          "--runtime")
    derived: dict[Path, str] = {}
    files = stack_dir(stack)
    if not overrides.empty:
        derived = render_stack(root, stacks_file, stack, overrides)
        files = derived_dir(stack)
    described = tuple(overrides.describe(stack, pinned))
    request = build_request(stack, out or engine.default_out(stack.id),
                            sha or git_sha_for_build(), fakeroot=fakeroot, files=files,
                            volumes=overrides.volumes, tag=tag)
    return BuildPlan(engine, request, overrides, described, derived, unavailable)


def write_derived(root: Path, plan: BuildPlan) -> list[Path]:
    """Write the derived render the build reads (nothing without overrides)."""
    return write_files(root, plan.derived)
