"""Container stacks: one TOML source of truth rendered into Apptainer definitions and Dockerfiles.

``containers/stacks.toml`` describes each software stack (architecture, base image pinned by
digest, Python, CUDA/cuDNN, torch, ONNX, ONNX Runtime, TensorRT and fairhep's own pinned
dependencies). :func:`render_all` turns it, through the Jinja templates in
``containers/templates/``, into ``containers/<stack>/fairhep.def``, ``Dockerfile``,
``requirements.txt``, ``pins.json`` (and ``conda-packages.txt`` for conda stacks). Both
definitions are rendered from the same install steps, labels and environment, so they agree by
construction; :func:`check` re-renders in memory, parses what is committed (spython for the
Apptainer definition and the Dockerfile) and reports per stack.

Inside a built image, :func:`selftest` verifies the installed versions against ``pins.json``
and runs a tiny forward pass; :func:`image_digest` gives the digest that runners pass as
``FAIRHEP_IMAGE_DIGEST`` (an image's own digest is only known after it is built).
"""

from __future__ import annotations

import contextlib
import json
import os
import platform
import re
import shlex
import shutil
import subprocess
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from fairhep import __version__
from fairhep.errors import ConfigError, FairhepError

STACKS_FILE = Path("containers") / "stacks.toml"
TEMPLATES_DIR = Path("containers") / "templates"
DEF_NAME = "fairhep.def"
DOCKERFILE_NAME = "Dockerfile"
REQUIREMENTS_NAME = "requirements.txt"
PINS_NAME = "pins.json"
CONDA_NAME = "conda-packages.txt"

# Where things live inside every image; runners and docs rely on these paths.
IMAGE_ROOT = "/opt/fairhep"
IMAGE_ENV = f"{IMAGE_ROOT}/env"
IMAGE_SRC = f"{IMAGE_ROOT}/src"
IMAGE_PINS = f"{IMAGE_ROOT}/{PINS_NAME}"

# Apptainer build argument (>= 1.2) and Docker ARG: the commit is filled in at build time so
# the committed definitions do not change with every commit.
GIT_SHA_ARG = "FAIRHEP_GIT_SHA"
APPTAINER_GIT_SHA = "{{ " + GIT_SHA_ARG + " }}"
DOCKER_GIT_SHA = "${" + GIT_SHA_ARG + "}"

RUNSCRIPT = 'exec fairhep "$@"'
TEST_LINES = ("fairhep model info --json", f"fairhep containers selftest --pins {IMAGE_PINS}")

# `fairhep containers build` exit status when the engine is not installed here: nothing was
# built, so scripts must not go on as if an image existed; 0 is kept for --print-only.
EXIT_NO_ENGINE = 3

ARCH_PLATFORMS = {"x86_64": "linux/amd64", "ppc64le": "linux/ppc64le", "aarch64": "linux/arm64"}
DIGEST_RE = re.compile(r"^sha256:[0-9a-f]{64}$")
# Conda package names whose Python distribution is named differently.
CONDA_TO_DIST = {"pytorch": "torch"}
CONDA_NOT_DISTS = {"python", "pip"}

_STACK_REQUIRED = (
    "description", "arch", "platform", "os", "python", "cuda", "cudnn", "installer",
    "torch", "onnx", "onnxruntime_package", "onnxruntime", "tensorrt", "base",
)
_STACK_OPTIONAL = (
    "sites", "system_packages", "tensorrt_package", "extra_index_urls", "fairhep_extra",
    "pip", "use_common_pip", "pip_check", "conda", "absent",
)
_BASE_REQUIRED = ("image", "tag", "digest", "platform", "platform_verified", "read_on", "sources")
_CONDA_REQUIRED = ("installer_url", "channels", "packages")
_TOP_KEYS = ("schema", "common", "stacks")


# ---- the stacks file ---------------------------------------------------------------------

@dataclass(frozen=True)
class BaseImage:
    """A base image pinned by digest, and where the digest was read."""

    image: str
    tag: str
    digest: str
    platform: str
    platform_verified: bool
    read_on: str
    sources: tuple[str, ...]

    @property
    def ref(self) -> str:
        return f"{self.image}:{self.tag}@{self.digest}"


@dataclass(frozen=True)
class CondaSpec:
    installer_url: str
    channels: tuple[str, ...]
    packages: tuple[str, ...]


@dataclass(frozen=True)
class Stack:
    """One software stack: everything an image of it pins."""

    id: str
    description: str
    arch: str
    platform: str
    os: str
    python: str
    cuda: str
    cudnn: str
    installer: str
    torch: str
    onnx: str
    onnxruntime_package: str
    onnxruntime: str
    tensorrt: str
    base: BaseImage
    sites: tuple[str, ...] = ()
    system_packages: tuple[str, ...] = ()
    tensorrt_package: str = "tensorrt"
    extra_index_urls: tuple[str, ...] = ()
    fairhep_extra: str = ""
    pip: tuple[str, ...] = ()
    use_common_pip: bool = True
    pip_check: bool = True
    conda: CondaSpec | None = None
    absent: Mapping[str, str] = field(default_factory=dict)

    @property
    def has_cuda(self) -> bool:
        return self.cuda != "none"

    @property
    def has_tensorrt(self) -> bool:
        return self.tensorrt != "none"


@dataclass(frozen=True)
class StacksFile:
    path: Path
    common_pip: tuple[str, ...]
    stacks: dict[str, Stack]


def _load_toml(path: Path) -> dict[str, Any]:
    try:
        import tomllib
    except ModuleNotFoundError:  # Python 3.10 (the x86_64-cuda image): only render needs TOML
        try:
            import tomli as tomllib  # type: ignore[no-redef]
        except ModuleNotFoundError:
            raise ConfigError(f"{path}: reading it needs Python >= 3.11 or the tomli "
                              "package") from None
    try:
        with open(path, "rb") as fh:
            return tomllib.load(fh)
    except FileNotFoundError:
        raise ConfigError(f"{path}: not found (run from the fairhep source tree "
                          "or pass --root)") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path}: not valid TOML ({exc}); fix the syntax") from None


def _check_keys(path: Path, where: str, table: Any, required: tuple[str, ...],
                optional: tuple[str, ...] = ()) -> None:
    if not isinstance(table, dict):
        raise ConfigError(f"{path}: [{where}] must be a table")
    known = set(required) | set(optional)
    for key in table:
        if key not in known:
            raise ConfigError(f"{path}: [{where}] unknown key '{key}' "
                              f"(known keys: {', '.join(sorted(known))})")
    for key in required:
        if key not in table:
            raise ConfigError(f"{path}: [{where}] missing required key '{key}'")


def _str(path: Path, where: str, key: str, value: Any) -> str:
    if not isinstance(value, str) or not value.strip():
        raise ConfigError(f"{path}: [{where}] key '{key}' must be a non-empty string")
    return value


def _strs(path: Path, where: str, key: str, value: Any) -> tuple[str, ...]:
    if not isinstance(value, list) or not all(isinstance(v, str) and v for v in value):
        raise ConfigError(f"{path}: [{where}] key '{key}' must be a list of strings")
    return tuple(value)


def _bool(path: Path, where: str, key: str, value: Any) -> bool:
    if not isinstance(value, bool):
        raise ConfigError(f"{path}: [{where}] key '{key}' must be true or false")
    return value


def _pinned(path: Path, where: str, key: str, specs: tuple[str, ...], sep: str) -> None:
    """Every requirement must be an exact pin (pip ``name==1.2``, conda ``name=1.2``)."""
    for spec in specs:
        if key == "packages" and spec in CONDA_NOT_DISTS:
            continue  # conda's pip is a tool, not a pinned dependency
        name, _, ver = spec.partition(sep)
        if not ver or not name or (sep == "=" and ver.startswith("=")):
            raise ConfigError(f"{path}: [{where}] key '{key}': '{spec}' is not pinned "
                              f"(write name{sep}VERSION)")


def load_stacks(path: Path) -> StacksFile:
    """Read and validate the stacks file; any problem is one line naming the file and key."""
    data = _load_toml(path)
    _check_keys(path, "top level", data, ("stacks",), ("schema", "common"))
    common: tuple[str, ...] = ()
    if "common" in data:
        _check_keys(path, "common", data["common"], ("pip",))
        common = _strs(path, "common", "pip", data["common"]["pip"])
        _pinned(path, "common", "pip", common, "==")
    if not isinstance(data["stacks"], dict) or not data["stacks"]:
        raise ConfigError(f"{path}: [stacks] must hold at least one [stacks.<id>] table")
    stacks = {}
    for sid, raw in data["stacks"].items():
        where = f"stacks.{sid}"
        if not re.fullmatch(r"[a-z0-9][a-z0-9_.-]*", sid):
            raise ConfigError(f"{path}: [{where}] stack ids are lower-case letters, digits, "
                              "'-', '_' and '.'")
        _check_keys(path, where, raw, _STACK_REQUIRED, _STACK_OPTIONAL)
        kw: dict[str, Any] = {"id": sid}
        for key in _STACK_REQUIRED:
            if key != "base":
                kw[key] = _str(path, where, key, raw[key])
        bwhere = f"{where}.base"
        _check_keys(path, bwhere, raw["base"], _BASE_REQUIRED)
        b = raw["base"]
        kw["base"] = BaseImage(
            image=_str(path, bwhere, "image", b["image"]), tag=_str(path, bwhere, "tag", b["tag"]),
            digest=_str(path, bwhere, "digest", b["digest"]),
            platform=_str(path, bwhere, "platform", b["platform"]),
            platform_verified=_bool(path, bwhere, "platform_verified", b["platform_verified"]),
            read_on=_str(path, bwhere, "read_on", str(b["read_on"])),
            sources=_strs(path, bwhere, "sources", b["sources"]),
        )
        for key in ("sites", "system_packages", "extra_index_urls", "pip"):
            if key in raw:
                kw[key] = _strs(path, where, key, raw[key]) if raw[key] else ()
        _pinned(path, where, "pip", kw.get("pip", ()), "==")
        for key in ("tensorrt_package", "fairhep_extra"):
            if key in raw:
                kw[key] = raw[key] if raw[key] == "" else _str(path, where, key, raw[key])
        for key in ("use_common_pip", "pip_check"):
            if key in raw:
                kw[key] = _bool(path, where, key, raw[key])
        if "absent" in raw:
            if not isinstance(raw["absent"], dict):
                raise ConfigError(f"{path}: [{where}.absent] must be a table of name = reason")
            kw["absent"] = {k: _str(path, f"{where}.absent", k, v)
                            for k, v in raw["absent"].items()}
        if kw["installer"] not in ("pip", "conda"):
            raise ConfigError(f"{path}: [{where}] key 'installer' must be 'pip' or 'conda'")
        if kw["installer"] == "conda":
            if "conda" not in raw:
                raise ConfigError(f"{path}: [{where}] missing required key 'conda' "
                                  "(installer = 'conda')")
            cwhere = f"{where}.conda"
            _check_keys(path, cwhere, raw["conda"], _CONDA_REQUIRED)
            c = raw["conda"]
            kw["conda"] = CondaSpec(
                installer_url=_str(path, cwhere, "installer_url", c["installer_url"]),
                channels=_strs(path, cwhere, "channels", c["channels"]),
                packages=_strs(path, cwhere, "packages", c["packages"]),
            )
            _pinned(path, cwhere, "packages", kw["conda"].packages, "=")
        elif "conda" in raw:
            raise ConfigError(f"{path}: [{where}] key 'conda' needs installer = 'conda'")
        if kw["tensorrt"] == "none" and "tensorrt" not in kw.get("absent", {}):
            raise ConfigError(f"{path}: [{where}.absent] missing key 'tensorrt': say why the "
                              "stack has no TensorRT")
        stacks[sid] = Stack(**kw)
    return StacksFile(path=path, common_pip=common, stacks=stacks)


# ---- finding the source tree -------------------------------------------------------------

def find_root(start: Path | None = None) -> Path:
    """The source tree holding ``containers/stacks.toml``: from ``start`` (or the working
    directory) upwards, else the tree this package was installed from (editable installs)."""
    candidates = [Path(start or Path.cwd()).resolve()]
    candidates.append(Path(__file__).resolve().parent)
    for base in candidates:
        for d in (base, *base.parents):
            if (d / STACKS_FILE).is_file():
                return d
    raise ConfigError(f"{STACKS_FILE}: not found above {candidates[0]}; run from the fairhep "
                      "source tree or pass --root")


# ---- rendering ---------------------------------------------------------------------------

def _stack_dir(stack: Stack) -> Path:
    return Path("containers") / stack.id


def _dist_name(spec: str, sep: str) -> tuple[str, str]:
    name, _, ver = spec.partition(sep)
    ver = ver.split("=", 1)[0]  # conda build-string glob after the version
    name = name.strip()
    return CONDA_TO_DIST.get(name, name), ver.strip()


def pip_requirements(stacks_file: StacksFile, stack: Stack) -> list[str]:
    """The pip lines installed into the image (pins only; index options first)."""
    lines = [f"--extra-index-url {url}" for url in stack.extra_index_urls]
    if stack.installer == "pip":
        lines += [f"torch=={stack.torch}", f"onnx=={stack.onnx}",
                  f"{stack.onnxruntime_package}=={stack.onnxruntime}"]
        if stack.has_tensorrt:
            lines.append(f"{stack.tensorrt_package}=={stack.tensorrt}")
    if stack.use_common_pip:
        lines += list(stacks_file.common_pip)
    lines += list(stack.pip)
    return lines


def pins(stacks_file: StacksFile, stack: Stack) -> dict[str, Any]:
    """What ``selftest`` checks inside the image: Python, CUDA as torch sees it, packages."""
    packages: dict[str, str] = {}
    if stack.conda is not None:
        for spec in stack.conda.packages:
            name, ver = _dist_name(spec, "=")
            if name not in CONDA_NOT_DISTS:
                packages[name] = ver
    for line in pip_requirements(stacks_file, stack):
        if not line.startswith("-"):
            name, ver = _dist_name(line, "==")
            packages[name] = ver
    # The headline pins win over anything spelled differently above.
    packages["torch"] = stack.torch
    packages["onnx"] = stack.onnx
    packages[stack.onnxruntime_package] = stack.onnxruntime
    if stack.has_tensorrt:
        packages[stack.tensorrt_package] = stack.tensorrt
    return {
        "stack": stack.id,
        "arch": stack.arch,
        "python": stack.python,
        "cuda": stack.cuda,
        "cudnn": stack.cudnn,
        "torch_cuda": ".".join(stack.cuda.split(".")[:2]) if stack.has_cuda else None,
        "packages": dict(sorted(packages.items())),
        "absent": dict(sorted(stack.absent.items())),
    }


def _install_lines(stack: Stack) -> list[str]:
    """The build steps, shared verbatim by %post and the Dockerfile's RUN."""
    py = f"{IMAGE_ENV}/bin/python"
    lines: list[str] = []
    if stack.system_packages:
        lines += [
            "apt-get update",
            "DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends "
            + " ".join(stack.system_packages),
            "rm -rf /var/lib/apt/lists/*",
        ]
    if stack.installer == "conda":
        assert stack.conda is not None
        channels = " ".join(f"-c {shlex.quote(c)}" for c in stack.conda.channels)
        lines += [
            f"wget -q -O /tmp/conda-installer.sh {shlex.quote(stack.conda.installer_url)}",
            "bash /tmp/conda-installer.sh -b -p /opt/conda",
            "rm -f /tmp/conda-installer.sh",
            f"/opt/conda/bin/conda create -y -p {IMAGE_ENV} --override-channels "
            f"--strict-channel-priority {channels} "
            f"--file {IMAGE_ROOT}/{CONDA_NAME}",
            "/opt/conda/bin/conda clean -afy",
            f"/opt/conda/bin/conda list -p {IMAGE_ENV} --explicit "
            f"> {IMAGE_ROOT}/conda-explicit.txt",
        ]
    else:
        python = "python3"
        lines.append(f"{python} -m venv {IMAGE_ENV}")
    lines += [
        f"{py} -m pip install --no-cache-dir -r {IMAGE_ROOT}/{REQUIREMENTS_NAME}",
        # Dependencies are already pinned above: install fairhep itself without re-resolving.
        f"{py} -m pip install --no-cache-dir --no-deps {IMAGE_SRC}",
    ]
    if stack.pip_check:
        lines.append(f"{py} -m pip check")
    lines += [
        f"{py} -m pip freeze > {IMAGE_ROOT}/pip-freeze.txt",
        # Fails the build if any installed version drifted from the pins.
        f"{IMAGE_ENV}/bin/fairhep containers selftest --pins {IMAGE_PINS}",
    ]
    return lines


def package_sources(root: Path) -> list[str]:
    """What building the fairhep wheel reads, from pyproject.toml: the project file, its
    readme, the wheel's package directories and force-included paths. The images copy exactly
    these, so a new force-include changes the rendered definitions (and `check` notices)."""
    project = _load_toml(root / "pyproject.toml")
    wheel = project.get("tool", {}).get("hatch", {}).get("build", {}).get("targets", {}) \
        .get("wheel", {})
    out = ["pyproject.toml"]
    readme = project.get("project", {}).get("readme")
    if isinstance(readme, str):
        out.append(readme)
    out += sorted({Path(p).parts[0] for p in wheel.get("packages", [])})
    out += sorted(str(k).strip("/") for k in wheel.get("force-include", {}))
    return out


def _files(root: Path, stack: Stack) -> list[tuple[str, str]]:
    d = _stack_dir(stack).as_posix()
    files = [(src, f"{IMAGE_SRC}/{src}") for src in package_sources(root)]
    files += [
        (f"{d}/{REQUIREMENTS_NAME}", f"{IMAGE_ROOT}/{REQUIREMENTS_NAME}"),
        (f"{d}/{PINS_NAME}", IMAGE_PINS),
    ]
    if stack.installer == "conda":
        files.append((f"{d}/{CONDA_NAME}", f"{IMAGE_ROOT}/{CONDA_NAME}"))
    return files


def environment(stack: Stack, runtime: str) -> list[tuple[str, str]]:
    """Image defaults; FAIRHEP_IMAGE / FAIRHEP_IMAGE_DIGEST are given at run time (``--env``)."""
    return [
        ("PATH", f"{IMAGE_ENV}/bin:$PATH"),
        ("LC_ALL", "C.UTF-8"),
        ("PYTHONUNBUFFERED", "1"),
        ("PYTHONDONTWRITEBYTECODE", "1"),
        # No display on compute nodes; the image is read-only, so matplotlib caches go to /tmp.
        ("MPLBACKEND", "Agg"),
        ("MPLCONFIGDIR", "/tmp/fairhep-matplotlib"),
        ("FAIRHEP_STACK", stack.id),
        ("FAIRHEP_BASE_IMAGE", stack.base.ref),
        ("FAIRHEP_CONTAINER_RUNTIME", runtime),
        (GIT_SHA_ARG, APPTAINER_GIT_SHA if runtime == "apptainer" else DOCKER_GIT_SHA),
    ]


def labels(stack: Stack, runtime: str) -> list[tuple[str, str]]:
    """fairhep's own labels (every pin) and the OCI annotations."""
    sha = APPTAINER_GIT_SHA if runtime == "apptainer" else DOCKER_GIT_SHA
    out = [
        ("fairhep.stack", stack.id),
        ("fairhep.version", __version__),
        ("fairhep.git_sha", sha),
        ("fairhep.arch", stack.arch),
        ("fairhep.platform", stack.platform),
        ("fairhep.python", stack.python),
        ("fairhep.cuda", stack.cuda),
        ("fairhep.cudnn", stack.cudnn),
        ("fairhep.torch", stack.torch),
        ("fairhep.onnx", stack.onnx),
        ("fairhep.onnxruntime", f"{stack.onnxruntime_package}=={stack.onnxruntime}"),
        ("fairhep.tensorrt", stack.tensorrt if stack.has_tensorrt
         else f"none ({stack.absent['tensorrt']})"),
        ("fairhep.base_image", stack.base.ref),
        ("org.opencontainers.image.title", f"fairhep ({stack.id})"),
        ("org.opencontainers.image.description", stack.description),
        ("org.opencontainers.image.version", __version__),
        ("org.opencontainers.image.revision", sha),
        ("org.opencontainers.image.licenses", "BSD-3-Clause"),
        ("org.opencontainers.image.base.name", f"{stack.base.image}:{stack.base.tag}"),
        ("org.opencontainers.image.base.digest", stack.base.digest),
    ]
    return out


def _docker_quote(value: str) -> str:
    # JSON string escaping is what Dockerfile double quotes accept for these values.
    return json.dumps(value, ensure_ascii=False)


def _environment_value_quote(value: str) -> str:
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _jinja_env(root: Path) -> Any:
    import jinja2

    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(str(root / TEMPLATES_DIR)),
        undefined=jinja2.StrictUndefined,
        keep_trailing_newline=True,
        autoescape=False,
    )
    env.filters["docker_quote"] = _docker_quote
    return env


def render_stack(root: Path, stacks_file: StacksFile, stack: Stack) -> dict[Path, str]:
    """Every file of one stack, as relative path -> text (nothing written)."""
    env = _jinja_env(root)
    d = _stack_dir(stack)
    header = (f"GENERATED by `fairhep containers render` from {STACKS_FILE.as_posix()} "
              "and containers/templates/: do not edit.")
    ctx: dict[str, Any] = {
        "header": header,
        "stack": stack,
        "version": __version__,
        "base_ref": stack.base.ref,
        "files": _files(root, stack),
        "install_lines": _install_lines(stack),
        "test_lines": list(TEST_LINES),
        "def_path": (d / DEF_NAME).as_posix(),
        "dockerfile_path": (d / DOCKERFILE_NAME).as_posix(),
    }
    out: dict[Path, str] = {}
    ctx["environment"] = lambda rt: [(k, _environment_value_quote(v))
                                     for k, v in environment(stack, rt)]
    ctx["labels"] = lambda rt: labels(stack, rt)
    out[d / DEF_NAME] = env.get_template("fairhep.def.j2").render(ctx)
    ctx["environment"] = lambda rt: environment(stack, rt)
    out[d / DOCKERFILE_NAME] = env.get_template("Dockerfile.j2").render(ctx)
    req_header = f"# {header}\n# Stack {stack.id}: pip pins installed into the image.\n"
    out[d / REQUIREMENTS_NAME] = req_header + "\n".join(pip_requirements(stacks_file, stack)) + "\n"
    out[d / PINS_NAME] = json.dumps(pins(stacks_file, stack), indent=2) + "\n"
    if stack.conda is not None:
        out[d / CONDA_NAME] = (f"# {header}\n# Stack {stack.id}: conda pins, channels "
                               f"{', '.join(stack.conda.channels)} (strict order).\n"
                               + "\n".join(stack.conda.packages) + "\n")
    return out


def render_all(root: Path) -> dict[Path, str]:
    stacks_file = load_stacks(root / STACKS_FILE)
    out: dict[Path, str] = {}
    for stack in stacks_file.stacks.values():
        out.update(render_stack(root, stacks_file, stack))
    return out


def write_rendered(root: Path) -> list[Path]:
    """Write every rendered file whose content changed; return those written."""
    written = []
    for rel, text in render_all(root).items():
        path = root / rel
        if path.is_file() and path.read_text() == text:
            continue
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f".{path.name}.tmp")
        tmp.write_text(text)
        os.replace(tmp, path)
        written.append(rel)
    return written


def stale_files(root: Path) -> list[Path]:
    """Rendered files that are missing or differ from a fresh render."""
    out = []
    for rel, text in render_all(root).items():
        path = root / rel
        if not path.is_file() or path.read_text() != text:
            out.append(rel)
    return out


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


def _digest_problem(digest: str) -> str | None:
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
    problem = _digest_problem(stack.base.digest)
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
        rep.expect(stack.installer == "conda" or any(
            f"/cu{stack.cuda.replace('.', '')[:3]}" in u for u in stack.extra_index_urls),
            "torch comes from the index of the stack's CUDA",
            f"no PyTorch index for CUDA {stack.cuda} in extra_index_urls")
    else:
        rep.expect(stack.onnxruntime_package == "onnxruntime", "CPU stack uses onnxruntime",
                   "a CPU stack must pin onnxruntime, not onnxruntime-gpu")

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

    d = root / _stack_dir(stack)
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
    rep.expect((adef.runscript or "").strip() == RUNSCRIPT, "%runscript execs fairhep",
               f"{def_path.name}: %runscript is {adef.runscript!r}, expected {RUNSCRIPT!r}")
    rep.expect(dock.entrypoint == ["fairhep"], 'ENTRYPOINT ["fairhep"]',
               f"Dockerfile: ENTRYPOINT is {dock.entrypoint!r}, expected ['fairhep']")
    test = adef.test or ""
    rep.expect(all(line in test for line in TEST_LINES), "%test runs the smoke check",
               f"{def_path.name}: %test must run {' and '.join(TEST_LINES)}")
    want_labels = {k: v for k, v in labels(stack, "apptainer")}
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
    done = subprocess.run([sh, "-n"], input=script, capture_output=True, text=True, timeout=20)
    if done.returncode == 0:
        return None
    return "not valid sh: " + (done.stderr.strip().splitlines() or ["syntax error"])[0]


def _same_except_sha(a: Mapping[str, str], b: Mapping[str, str],
                     runtime_differs: bool = False) -> bool:
    def norm(d: Mapping[str, str]) -> dict[str, str]:
        out = {}
        for k, v in d.items():
            v = v.replace(APPTAINER_GIT_SHA, "<sha>").replace(DOCKER_GIT_SHA, "<sha>")
            if runtime_differs and k == "FAIRHEP_CONTAINER_RUNTIME":
                v = "<runtime>"
            out[k] = v
        return out
    return norm(a) == norm(b)


def _dict_diff(want: Mapping[str, str], got: Mapping[str, str]) -> str:
    parts = []
    for k in sorted(set(want) | set(got)):
        if want.get(k) != got.get(k):
            parts.append(f"{k}: {want.get(k)!r} vs {got.get(k)!r}")
    return "; ".join(parts[:4]) + (" ..." if len(parts) > 4 else "")


DOCKERIGNORE = ".dockerignore"
# What must never reach a Docker build context (virtual environments, results, data, git).
MUST_BE_IGNORED = (".venv", "results", "reports", ".git", "site_configs", "data")


def _ignore_regex(pattern: str) -> re.Pattern[str]:
    pattern = pattern.strip("/")
    out, i = "", 0
    while i < len(pattern):
        if pattern.startswith("**/", i):
            out, i = out + "(?:.*/)?", i + 3
        elif pattern.startswith("**", i):
            out, i = out + ".*", i + 2
        elif pattern[i] == "*":
            out, i = out + "[^/]*", i + 1
        elif pattern[i] == "?":
            out, i = out + "[^/]", i + 1
        else:
            out, i = out + re.escape(pattern[i]), i + 1
    return re.compile(out + "$")


def dockerignore_excludes(root: Path, relpath: str) -> bool:
    """Whether ``.dockerignore`` keeps ``relpath`` out of the build context (Docker's rules:
    patterns in order, the last match wins, ``!`` re-admits, a matched directory covers its
    contents)."""
    path = root / DOCKERIGNORE
    if not path.is_file():
        return False
    rules = []
    for line in path.read_text().splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            negated = line.startswith("!")
            rules.append((negated, _ignore_regex(line.lstrip("!").strip())))
    parts = Path(relpath).as_posix().strip("/").split("/")
    candidates = ["/".join(parts[: i + 1]) for i in range(len(parts))]
    excluded = False
    for negated, rx in rules:
        if any(rx.match(c) for c in candidates):
            excluded = not negated
    return excluded


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
        prefix = _stack_dir(stack)
        mine = {rel: text for rel, text in rendered.items() if rel.parent == prefix}
        reports.append(check_stack(root, stacks_file, stack, mine))
    # A stack directory that the stacks file no longer names would be built by mistake.
    known = {s for s in stacks_file.stacks}
    for d in sorted((root / "containers").iterdir()):
        if d.is_dir() and d.name not in known and d.name != TEMPLATES_DIR.name \
                and (d / DEF_NAME).exists():
            rep = StackReport(d.name)
            rep.failures.append(f"containers/{d.name}/ is not a stack in {STACKS_FILE}; "
                                "remove it or add the stack")
            reports.append(rep)
    return reports


# ---- building ----------------------------------------------------------------------------

def git_sha_for_build(root: Path) -> str:
    """The commit being built, ``-dirty`` when tracked files have uncommitted changes."""
    from fairhep.results import git_state

    state = git_state()
    sha = state.get("sha") or "unknown"
    return f"{sha}-dirty" if state.get("dirty") else sha


def build_command(root: Path, stack: Stack, runtime: str, out: Path, git_sha: str,
                  fakeroot: bool = False) -> list[str]:
    """The exact engine command, run from the repository root (the build context)."""
    d = _stack_dir(stack)
    if runtime == "apptainer":
        cmd = ["apptainer", "build"]
        if fakeroot:
            cmd.append("--fakeroot")
        return cmd + ["--build-arg", f"{GIT_SHA_ARG}={git_sha}", str(out),
                      (d / DEF_NAME).as_posix()]
    if runtime == "docker":
        return ["docker", "build", "--platform", stack.platform,
                "--build-arg", f"{GIT_SHA_ARG}={git_sha}",
                "-f", (d / DOCKERFILE_NAME).as_posix(),
                "-t", docker_tag(stack), "--iidfile", str(out), "."]
    raise ConfigError(f"unknown container runtime {runtime!r}: use apptainer or docker")


def docker_tag(stack: Stack) -> str:
    return f"fairhep:{__version__.replace('+', '-')}-{stack.id}"


def engine_path(runtime: str) -> str | None:
    """The engine binary, or None; Apptainer is also installed as ``singularity``."""
    if runtime == "apptainer":
        return shutil.which("apptainer") or shutil.which("singularity")
    return shutil.which("docker")


def engine_unavailable_reason(runtime: str) -> str | None:
    path = engine_path(runtime)
    if path is None:
        return f"{runtime}: not installed on this machine"
    if runtime == "docker":
        try:
            probe = subprocess.run([path, "info", "--format", "{{.ServerVersion}}"],
                                   capture_output=True, text=True, timeout=20)
        except (OSError, subprocess.SubprocessError) as exc:
            return f"docker: the client cannot reach a daemon ({exc})"
        if probe.returncode != 0:
            first = (probe.stderr.strip().splitlines() or ["no daemon"])[0]
            return f"docker: the client is installed but no engine answers ({first})"
    return None


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


# ---- inside the image --------------------------------------------------------------------

@dataclass
class SelftestResult:
    stack: str | None
    python: str
    mismatches: list[str]
    absent: dict[str, str]
    forward: dict[str, Any]

    @property
    def ok(self) -> bool:
        return not self.mismatches and bool(self.forward.get("ok"))

    def to_dict(self) -> dict[str, Any]:
        return {"ok": self.ok, "stack": self.stack, "python": self.python,
                "mismatches": self.mismatches, "absent": self.absent, "forward": self.forward}


def verify_pins(expected: Mapping[str, Any],
                installed: Callable[[str], str | None] | None = None) -> list[str]:
    """Every way the running environment differs from ``pins.json`` (empty when it matches)."""
    from importlib.metadata import PackageNotFoundError, version

    def _installed(name: str) -> str | None:
        try:
            return version(name)
        except PackageNotFoundError:
            return None

    get = installed or _installed
    problems = []
    py = platform.python_version()
    want_py = str(expected.get("python", ""))
    if want_py and not (py == want_py or py.startswith(want_py + ".")):
        problems.append(f"python {py} (pinned {want_py})")
    arch = expected.get("arch")
    if arch and platform.machine() != arch:
        problems.append(f"architecture {platform.machine()} (pinned {arch})")
    for name, want in expected.get("packages", {}).items():
        got = get(name)
        if got is None:
            problems.append(f"{name} not installed (pinned {want})")
        elif got != want:
            problems.append(f"{name} {got} (pinned {want})")
    return problems


def _tiny_forward() -> dict[str, Any]:
    import torch

    from fairhep import schema
    from fairhep.devices import resolve_device
    from fairhep.model import InteractionNetwork

    device = resolve_device("auto")
    torch.manual_seed(0)
    net = InteractionNetwork().to(device).eval()
    tracks = torch.randn(4, *schema.TRACK_SHAPE, device=device)
    svs = torch.randn(4, *schema.SV_SHAPE, device=device)
    with torch.no_grad():
        out = net(tracks, svs)
    ok = tuple(out.shape) == (4, len(schema.CLASSES)) and bool(torch.isfinite(out).all())
    return {"ok": ok, "device": str(device), "shape": list(out.shape),
            "torch": torch.__version__, "torch_cuda": torch.version.cuda}


def selftest(pins_path: Path | None) -> SelftestResult:
    """Pins (when given) and a forward pass of the interaction network on this machine."""
    expected: dict[str, Any] = {}
    if pins_path is not None:
        try:
            expected = json.loads(Path(pins_path).read_text())
        except (OSError, json.JSONDecodeError) as exc:
            raise ConfigError(f"{pins_path}: not a readable pins file ({exc})") from None
    mismatches = verify_pins(expected) if expected else []
    forward = _tiny_forward()
    want_cuda = expected.get("torch_cuda", "unset")
    if want_cuda != "unset":
        got = forward.get("torch_cuda")
        wrong_kind = (want_cuda is None) != (got is None)
        if wrong_kind or (want_cuda and not str(got).startswith(want_cuda)):
            mismatches.append(f"torch built for CUDA {got} (pinned {want_cuda})")
    return SelftestResult(
        stack=expected.get("stack") or os.environ.get("FAIRHEP_STACK"),
        python=platform.python_version(), mismatches=mismatches,
        absent=dict(expected.get("absent", {})), forward=forward,
    )
