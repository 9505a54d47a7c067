"""Building an image of a stack with the engine of a container runtime."""

from __future__ import annotations

from pathlib import Path

from fairhep import __version__
from fairhep.containers.render import GIT_SHA_ARG
from fairhep.containers.runtime import BuildRequest
from fairhep.containers.stacks import Stack, stack_dir

# `fairhep containers build` exit status when the engine is not installed here: nothing was
# built, so scripts must not go on as if an image existed; 0 is kept for --print-only.
EXIT_NO_ENGINE = 3


def git_sha_for_build() -> str:
    """The commit being built, ``-dirty`` when tracked files have uncommitted changes."""
    from fairhep.results import git_state

    state = git_state()
    sha = state.get("sha") or "unknown"
    return f"{sha}-dirty" if state.get("dirty") else sha


def docker_tag(stack: Stack) -> str:
    return f"fairhep:{__version__.replace('+', '-')}-{stack.id}"


def build_request(stack: Stack, out: Path, git_sha: str, fakeroot: bool = False) -> BuildRequest:
    return BuildRequest(stack_dir=stack_dir(stack), out=out, build_args=((GIT_SHA_ARG, git_sha),),
                        platform=stack.platform, tag=docker_tag(stack), fakeroot=fakeroot)

