"""The static check of every stack (no container engine needed).

:func:`check` re-renders in memory and compares with the committed files, parses every
Apptainer definition and Dockerfile with spython, runs ``sh -n`` on the build scripts, and
checks per stack: base pinned by a well-formed digest, arch <-> platform <-> base platform,
``%runscript``/``ENTRYPOINT``, ``%test``, labels, environment, ``%files`` = ``COPY`` and what
``.dockerignore`` lets into the build context.
"""

from __future__ import annotations

import contextlib
import json
import re
import shlex
import shutil
import subprocess
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from fairhep.containers.dockerignore import DOCKERIGNORE, MUST_BE_IGNORED, dockerignore_excludes
from fairhep.containers.render import (
    APPTAINER_GIT_SHA,
    DOCKER_GIT_SHA,
    RUNSCRIPT,
    TEST_LINES,
    environment,
    labels,
    pins,
    render_all,
)
from fairhep.containers.requirements import qualified_image_problem, requirement_problems
from fairhep.containers.stacks import (
    DEF_NAME,
    DOCKERFILE_NAME,
    STACKS_FILE,
    TEMPLATES_DIR,
    Stack,
    StacksFile,
    load_stacks,
    stack_dir,
)
from fairhep.errors import ConfigError, FairhepError

ARCH_PLATFORMS = {"x86_64": "linux/amd64", "ppc64le": "linux/ppc64le", "aarch64": "linux/arm64"}
DIGEST_RE = re.compile(r"^sha256:[0-9a-f]{64}$")


# ---- parsing the committed definitions ---------------------------------------------------

@dataclass
class ParsedDefinition:
    """What spython reads from an Apptainer definition or a Dockerfile, normalised."""

    from_ref: str | None
    labels: dict[str, str]
    environment: dict[str, str]
    files: list[tuple[str, str]]
    runscript: str | None = None
    entrypoint: list[str] | None = None
    test: str | None = None
    sections: dict[str, str] = field(default_factory=dict)


def _unquote(value: str) -> str:
    value = value.strip()
    if len(value) >= 2 and value[0] == value[-1] == '"':
        return json.loads(value) if value.startswith('"') else value[1:-1]
    return value


@contextlib.contextmanager
def _quiet_spython() -> Iterator[None]:
    from spython.logger import bot
    from spython.logger.message import QUIET

    level, bot.level = bot.level, QUIET  # it warns on stdout about build-context files
    try:
        yield
    finally:
        bot.level = level


def _spython_recipe(path: Path, kind: str) -> Any:
    try:
        from spython.main.parse.parsers import DockerParser, SingularityParser
    except ImportError:
        raise FairhepError("checking container definitions needs spython: "
                           "pip install 'fairhep[containers]'") from None
    parser = SingularityParser if kind == "apptainer" else DockerParser
    with _quiet_spython():
        try:
            recipes = parser(str(path)).recipe
        except (Exception, SystemExit) as exc:  # spython raises bare errors or exits
            raise ConfigError(f"{path}: spython cannot parse it ({exc})") from None
    if len(recipes) != 1:
        raise ConfigError(f"{path}: expected one stage, spython found {len(recipes)}")
    return next(iter(recipes.values()))


def _def_sections(text: str) -> dict[str, str]:
    """Raw sections of an Apptainer definition, for what spython folds away (%test)."""
    sections: dict[str, list[str]] = {"header": []}
    current = "header"
    for line in text.splitlines():
        m = re.match(r"^%(\w+)\s*$", line)
        if m:
            current = m.group(1).lower()
            sections[current] = []
        else:
            sections[current].append(line)
    return {k: "\n".join(v).strip() for k, v in sections.items()}


def parse_definition(path: Path) -> ParsedDefinition:
    r = _spython_recipe(path, "apptainer")
    sections = _def_sections(path.read_text())
    lab = {}
    for item in r.labels:
        key, _, value = item.partition(" ")
        lab[key] = value.strip()
    env = {}
    for item in r.environ:
        key, _, value = item.partition("=")
        env[key.strip()] = _unquote(value)
    files = [tuple(f.split(None, 1)) for f in r.files]
    return ParsedDefinition(
        from_ref=r.fromHeader, labels=lab, environment=env,
        files=[(a, b) for a, b in files], runscript=sections.get("runscript"),
        test=sections.get("test"), sections=sections,
    )


def parse_dockerfile(path: Path) -> ParsedDefinition:
    r = _spython_recipe(path, "docker")
    lab = {}
    for item in r.labels:
        text = item[0] if isinstance(item, list) else item
        key, _, value = text.partition("=")
        lab[key.strip()] = _unquote(value)
    env = {}
    for item in r.environ:
        key, _, value = item.partition("=")
        env[key.strip()] = _unquote(value)
    entry = r.entrypoint if isinstance(r.entrypoint, list) else (
        shlex.split(r.entrypoint) if r.entrypoint else None)
    return ParsedDefinition(
        from_ref=r.fromHeader, labels=lab, environment=env,
        files=[(f[0], f[1]) for f in r.files], entrypoint=entry,
    )


# ---- the static check --------------------------------------------------------------------

@dataclass
class StackReport:
    stack: str
    passed: list[str] = field(default_factory=list)
    failures: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.failures

    def expect(self, condition: bool, what: str, failure: str) -> None:
        (self.passed.append(what) if condition else self.failures.append(failure))


def digest_problem(digest: str) -> str | None:
    if not DIGEST_RE.match(digest):
        return f"digest {digest!r} is not sha256:<64 lower-case hex>"
    hexpart = digest.split(":", 1)[1]
    # A hand-typed placeholder ("abc123...", "1a2b3c...") repeats a few characters.
    periodic = any(hexpart == (hexpart[:p] * (64 // p + 1))[:64] for p in range(1, 33))
    if len(set(hexpart)) < 10 or periodic:
        return f"digest {digest!r} looks like a placeholder, not a real image digest"
    return None


def check_stack(root: Path, stacks_file: StacksFile, stack: Stack,
                rendered: Mapping[Path, str]) -> StackReport:
    rep = StackReport(stack.id)
    # Pins and digest.
    problem = digest_problem(stack.base.digest)
    rep.expect(problem is None, "base image pinned by a well-formed digest",
               f"base image: {problem}")
    want_platform = ARCH_PLATFORMS.get(stack.arch)
    rep.expect(want_platform is not None, f"arch {stack.arch} known",
               f"arch {stack.arch!r} is not one of {', '.join(ARCH_PLATFORMS)}")
    rep.expect(stack.platform == want_platform, "platform matches arch",
               f"platform {stack.platform!r} does not match arch {stack.arch!r} "
               f"(expected {want_platform!r})")
    rep.expect(stack.base.platform == stack.platform, "base image platform matches arch",
               f"base image {stack.base.ref} is for {stack.base.platform}, the stack is "
               f"{stack.platform}")
    other = [a for a in ("amd64", "x86_64", "ppc64le", "arm64", "aarch64")
             if a in stack.base.tag and ARCH_PLATFORMS.get(a, f"linux/{a}").split("/")[1]
             not in (stack.platform.split("/")[1], stack.arch)]
    rep.expect(not other, "base tag names no other architecture",
               f"base tag {stack.base.tag!r} names architecture {other} but the stack is "
               f"{stack.arch}")
    if not stack.base.platform_verified:
        rep.warnings.append(
            f"base digest {stack.base.digest[:19]}... is real but that it covers "
            f"{stack.platform} is unconfirmed here: run `docker buildx imagetools inspect "
            f"{stack.base.image}:{stack.base.tag}` on a build host")
    rep.expect(stack.has_cuda == (stack.cudnn != "none"), "CUDA and cuDNN pinned together",
               f"cuda={stack.cuda!r} but cudnn={stack.cudnn!r}")
    if stack.has_cuda:
        rep.expect(stack.onnxruntime_package == "onnxruntime-gpu" or stack.installer == "conda",
                   "CUDA stack uses onnxruntime-gpu",
                   "a pip CUDA stack must pin onnxruntime-gpu, not the CPU package")
        rep.expect(stack.installer == "conda" or "+cpu" not in stack.torch,
                   "CUDA stack pins a CUDA build of torch",
                   f"torch {stack.torch} is a CPU build; selftest would find no CUDA in it")
    else:
        rep.expect(stack.onnxruntime_package == "onnxruntime", "CPU stack uses onnxruntime",
                   "a CPU stack must pin onnxruntime, not onnxruntime-gpu")
        rep.expect(stack.installer == "conda" or "+cpu" in stack.torch,
                   "CPU stack pins torch's CPU build",
                   f"torch {stack.torch} without '+cpu' is PyPI's multi-GB CUDA build on "
                   "x86_64: pin the CPU build (e.g. 2.13.0+cpu) from PyTorch's CPU index")
    problem = qualified_image_problem(stack.base.image)
    rep.expect(problem is None, "base image name fully qualified", f"base image: {problem}")
    held, problems = requirement_problems(root, stack, pins(stacks_file, stack)["packages"])
    rep.failures += problems
    if not problems:
        rep.passed.append(f"fairhep's requirements met by the pins ({len(held)} checked)")

    # Committed files equal a fresh render.
    for rel, text in rendered.items():
        path = root / rel
        if not path.is_file():
            rep.failures.append(f"{rel}: missing; run `fairhep containers render`")
        elif path.read_text() != text:
            rep.failures.append(f"{rel}: differs from {STACKS_FILE}; run `fairhep containers "
                                "render` and commit")
        else:
            rep.passed.append(f"{rel} up to date")

    d = root / stack_dir(stack)
    def_path, docker_path = d / DEF_NAME, d / DOCKERFILE_NAME
    if not def_path.is_file() or not docker_path.is_file():
        return rep
    try:
        adef = parse_definition(def_path)
        dock = parse_dockerfile(docker_path)
    except ConfigError as exc:
        rep.failures.append(str(exc))
        return rep
    ref = stack.base.ref
    rep.expect("Bootstrap: docker" in adef.sections.get("header", ""), "Bootstrap: docker",
               f"{def_path.name}: header lacks 'Bootstrap: docker'")
    rep.expect(adef.from_ref == ref, "definition From: pinned by digest",
               f"{def_path.name}: From is {adef.from_ref!r}, expected {ref!r}")
    rep.expect(dock.from_ref == ref, "Dockerfile FROM pinned by digest",
               f"Dockerfile: FROM is {dock.from_ref!r}, expected {ref!r}")
    for name, parsed in ((def_path.name, adef), (docker_path.name, dock)):
        problem = qualified_image_problem(parsed.from_ref or "")
        rep.expect(problem is None, f"{name} names its base fully qualified", f"{name}: {problem}")
    rep.expect((adef.runscript or "").strip() == RUNSCRIPT, "%runscript execs fairhep",
               f"{def_path.name}: %runscript is {adef.runscript!r}, expected {RUNSCRIPT!r}")
    rep.expect(dock.entrypoint == ["fairhep"], 'ENTRYPOINT ["fairhep"]',
               f"Dockerfile: ENTRYPOINT is {dock.entrypoint!r}, expected ['fairhep']")
    test = adef.test or ""
    rep.expect(all(line in test for line in TEST_LINES), "%test runs the smoke check",
               f"{def_path.name}: %test must run {' and '.join(TEST_LINES)}")
    want_labels = dict(labels(stack, "apptainer"))
    rep.expect(adef.labels == want_labels, "%labels carry stack, version, git sha and pins",
               f"{def_path.name}: %labels differ from the stack's: "
               f"{_dict_diff(want_labels, adef.labels)}")
    for key in ("fairhep.stack", "fairhep.version", "fairhep.git_sha"):
        rep.expect(bool(adef.labels.get(key)), f"label {key}", f"{def_path.name}: no {key} label")
    rep.expect(_same_except_sha(adef.labels, dock.labels), "Dockerfile labels = %labels",
               f"Dockerfile labels differ from %labels: {_dict_diff(adef.labels, dock.labels)}")
    want_env = dict(environment(stack, "apptainer"))
    rep.expect(adef.environment == want_env, "%environment sets the defaults",
               f"{def_path.name}: %environment differs: {_dict_diff(want_env, adef.environment)}")
    rep.expect(_same_except_sha(adef.environment, dock.environment, runtime_differs=True),
               "Dockerfile ENV = %environment",
               f"Dockerfile ENV differs from %environment: "
               f"{_dict_diff(adef.environment, dock.environment)}")
    rep.expect(sorted(adef.files) == sorted(dock.files), "%files = COPY",
               f"%files {adef.files} differ from Dockerfile COPY {dock.files}")
    for src, _ in adef.files:
        rep.expect((root / src).exists(), f"build context has {src}",
                   f"{def_path.name}: %files source {src} does not exist under {root}")
    _check_build_context(root, rep, [src for src, _ in dock.files])
    for where, script in (("%post", adef.sections.get("post", "")),
                          ("%test", adef.test or ""),
                          ("Dockerfile RUN", _docker_run_script(docker_path))):
        problem = shell_syntax_problem(script)
        rep.expect(problem is None, f"{where} is valid sh", f"{where}: {problem}")
    return rep


def _docker_run_script(path: Path) -> str:
    """The shell of every RUN instruction, continuation lines joined as Docker joins them."""
    logical, scripts = "", []
    for line in path.read_text().splitlines():
        if not logical and line.lstrip().startswith("#"):
            continue
        stripped = line.rstrip()
        if stripped.endswith("\\"):
            logical += stripped[:-1]
            continue
        logical += line
        if logical.startswith("RUN "):
            scripts.append(logical[4:])
        logical = ""
    return "\n".join(scripts)


def shell_syntax_problem(script: str) -> str | None:
    """``sh -n`` of a build script (Apptainer runs %post with /bin/sh); None when it parses
    or when no sh is available to ask."""
    sh = shutil.which("sh")
    if sh is None:
        return None
    done = subprocess.run([sh, "-n"], input=script, capture_output=True, text=True, timeout=20,
                          check=False)
    if done.returncode == 0:
        return None
    return "not valid sh: " + (done.stderr.strip().splitlines() or ["syntax error"])[0]


def _same_except_sha(a: Mapping[str, str], b: Mapping[str, str],
                     runtime_differs: bool = False) -> bool:
    def norm(d: Mapping[str, str]) -> dict[str, str]:
        out = {}
        for k, v in d.items():
            value = v.replace(APPTAINER_GIT_SHA, "<sha>").replace(DOCKER_GIT_SHA, "<sha>")
            if runtime_differs and k == "FAIRHEP_CONTAINER_RUNTIME":
                value = "<runtime>"
            out[k] = value
        return out
    return norm(a) == norm(b)


def _dict_diff(want: Mapping[str, str], got: Mapping[str, str]) -> str:
    parts = [f"{k}: {want.get(k)!r} vs {got.get(k)!r}"
             for k in sorted(set(want) | set(got)) if want.get(k) != got.get(k)]
    return "; ".join(parts[:4]) + (" ..." if len(parts) > 4 else "")


def _check_build_context(root: Path, rep: StackReport, sources: list[str]) -> None:
    for src in sources:
        probe = src
        if (root / src).is_dir():  # a file inside, as Docker decides per file
            inside = next((p for p in sorted((root / src).rglob("*")) if p.is_file()), None)
            probe = inside.relative_to(root).as_posix() if inside else src
        rep.expect(not dockerignore_excludes(root, probe), f"{DOCKERIGNORE} admits {src}",
                   f"{DOCKERIGNORE} excludes {probe}, which the Dockerfile COPYs")
    for name in MUST_BE_IGNORED:
        rep.expect(dockerignore_excludes(root, f"{name}/x"), f"{DOCKERIGNORE} excludes {name}/",
                   f"{DOCKERIGNORE} lets {name}/ into the build context; exclude it")


def check(root: Path) -> list[StackReport]:
    """The static check of every stack (no container engine needed)."""
    stacks_file = load_stacks(root / STACKS_FILE)
    rendered = render_all(root)
    reports = []
    for stack in stacks_file.stacks.values():
        prefix = stack_dir(stack)
        mine = {rel: text for rel, text in rendered.items() if rel.parent == prefix}
        reports.append(check_stack(root, stacks_file, stack, mine))
    # A stack directory that the stacks file no longer names would be built by mistake.
    known = set(stacks_file.stacks)
    for d in sorted((root / "containers").iterdir()):
        if d.is_dir() and d.name not in known and d.name != TEMPLATES_DIR.name \
                and (d / DEF_NAME).exists():
            rep = StackReport(d.name)
            rep.failures.append(f"containers/{d.name}/ is not a stack in {STACKS_FILE}; "
                                "remove it or add the stack")
            reports.append(rep)
    return reports


