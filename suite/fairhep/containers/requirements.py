"""fairhep's own requirements (``pyproject.toml``) against one stack's pins, on the stack's
Python and architecture, and the image names a build engine can resolve.

Images install fairhep with ``--no-deps`` (its dependencies are pinned by the stack), so a
requirement the pins do not meet is found by nobody until a command fails inside the image:
``tomli`` on Python 3.10, any ``python_version`` or ``platform_machine`` marker. Each
requirement that applies to the stack must be pinned at a version it admits, or named in the
stack's ``[absent]`` table with the reason.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

from fairhep.configfile import read_toml
from fairhep.containers.stacks import STACKS_FILE, Stack

PYPROJECT = "pyproject.toml"


def marker_environment(stack: Stack) -> dict[str, str]:
    """The environment markers of the stack's interpreter (PEP 508), as pip would see them
    inside the image."""
    minor = ".".join(stack.python.split(".")[:2])
    full = stack.python if stack.python.count(".") >= 2 else f"{minor}.0"
    return {
        "python_version": minor, "python_full_version": full,
        "platform_machine": stack.arch, "sys_platform": "linux", "platform_system": "Linux",
        "os_name": "posix", "implementation_name": "cpython",
        "platform_python_implementation": "CPython", "extra": "",
    }


def stack_extras(stack: Stack) -> list[str]:
    """fairhep's extras the image provides (``fairhep_extra``, comma-separated)."""
    return [e.strip() for e in stack.fairhep_extra.split(",") if e.strip()]


def requirement_problems(root: Path, stack: Stack, pinned: Mapping[str, str]
                         ) -> tuple[list[str], list[str]]:
    """(what holds, what does not): every requirement of fairhep and of the stack's extras
    that applies on the stack's Python, against ``pinned`` (pins.json's packages)."""
    from packaging.requirements import InvalidRequirement, Requirement
    from packaging.utils import canonicalize_name
    from packaging.version import InvalidVersion, Version

    project = read_toml(root / PYPROJECT).get("project", {})
    texts = list(project.get("dependencies", []))
    optional = project.get("optional-dependencies", {})
    held: list[str] = []
    problems: list[str] = []
    for extra in stack_extras(stack):
        if extra not in optional:
            problems.append(f"fairhep_extra names '{extra}', which is not an extra of fairhep "
                            f"in {PYPROJECT} ({', '.join(sorted(optional))})")
        texts += optional.get(extra, [])
    env = marker_environment(stack)
    pins = {canonicalize_name(k): v for k, v in pinned.items()}
    absent = {canonicalize_name(k) for k in stack.absent}
    where = f"Python {env['python_version']} on {stack.arch}"
    fix = (f"pin it in [stacks.{stack.id}] of {STACKS_FILE.as_posix()} (pip list) or say why "
           f"it is missing in [stacks.{stack.id}.absent]")
    for text in texts:
        try:
            req = Requirement(text)
        except InvalidRequirement as exc:
            problems.append(f"{PYPROJECT}: requirement {text!r} cannot be read ({exc})")
            continue
        if req.marker is not None and not req.marker.evaluate(env):
            continue
        name = canonicalize_name(req.name)
        marker = f" (marker: {req.marker})" if req.marker is not None else ""
        if name in absent:
            held.append(f"{req.name}: absent by design")
            continue
        version = pins.get(name)
        if version is None:
            problems.append(f"fairhep requires {req} on {where}{marker}, and stack {stack.id} "
                            f"pins no {req.name} (it installs fairhep with --no-deps): {fix}")
            continue
        try:
            admitted = req.specifier.contains(Version(version), prereleases=True)
        except InvalidVersion:
            admitted = False
        if admitted:
            held.append(f"{req.name}=={version} meets {req}")
        else:
            problems.append(f"fairhep requires {req} on {where}{marker}, but stack {stack.id} "
                            f"pins {req.name}=={version}: change the pin in "
                            f"{STACKS_FILE.as_posix()}")
    return held, problems


def qualified_image_problem(ref: str) -> str | None:
    """None when ``ref`` names its registry (``docker.io/library/python:...``,
    ``localhost/...``); else why a short name fails: podman and buildah refuse a short name
    where no unqualified-search registries are configured, as on most build hosts."""
    name = ref.split("@", 1)[0]
    first, slash, _ = name.partition("/")
    if slash and ("." in first or ":" in first or first == "localhost"):
        return None
    path = name.rsplit(":", 1)[0] if ":" in name.rsplit("/", 1)[-1] else name
    full = f"docker.io/{path if slash else 'library/' + path}"
    return (f"image name {path!r} is not fully qualified (podman and buildah refuse short "
            f"names where no unqualified-search registries are defined): write {full}")
