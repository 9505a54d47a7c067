"""The stacks file (``containers/stacks.toml``): every pinned software stack, as frozen data.

Read through :func:`fairhep.configfile.read_toml` and built with
:func:`fairhep.configfile.build`, so an unknown key or a wrong type is the same one-line error
as in a site file. What ``build`` cannot say (a missing key, an unpinned requirement, a stack
without TensorRT that does not say why) is checked here, in the data classes.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from fairhep.configfile import build, read_toml
from fairhep.errors import ConfigError

STACKS_FILE = Path("containers") / "stacks.toml"
TEMPLATES_DIR = Path("containers") / "templates"
DEF_NAME = "fairhep.def"
DOCKERFILE_NAME = "Dockerfile"
REQUIREMENTS_NAME = "requirements.txt"
PINS_NAME = "pins.json"
CONDA_NAME = "conda-packages.txt"

# Conda's pip is a tool, not a pinned dependency (and python is pinned by its own field).
CONDA_NOT_DISTS = {"python", "pip"}
_STACK_ID = re.compile(r"[a-z0-9][a-z0-9_.-]*")
INSTALLERS = ("pip", "conda")


def _nonempty(obj: object, *names: str) -> None:
    for name in names:
        value = getattr(obj, name)
        if not value.strip():
            raise ValueError(f"key '{name}' must be a non-empty string")


def _no_empty_items(obj: object, *names: str) -> None:
    for name in names:
        if not all(getattr(obj, name)):
            raise ValueError(f"key '{name}' must be a list of non-empty strings")


def _pinned(key: str, specs: tuple[str, ...], sep: str) -> None:
    """Every requirement must be an exact pin (pip ``name==1.2``, conda ``name=1.2``)."""
    for spec in specs:
        if key == "packages" and spec in CONDA_NOT_DISTS:
            continue
        name, _, ver = spec.partition(sep)
        if not ver or not name or (sep == "=" and ver.startswith("=")):
            raise ValueError(f"key '{key}': '{spec}' is not pinned (write name{sep}VERSION)")


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

    def __post_init__(self) -> None:
        _nonempty(self, "image", "tag", "digest", "platform", "read_on")
        _no_empty_items(self, "sources")

    @property
    def ref(self) -> str:
        return f"{self.image}:{self.tag}@{self.digest}"


@dataclass(frozen=True)
class CondaSpec:
    installer_url: str
    channels: tuple[str, ...]
    packages: tuple[str, ...]

    def __post_init__(self) -> None:
        _nonempty(self, "installer_url")
        _no_empty_items(self, "channels", "packages")
        _pinned("packages", self.packages, "=")


@dataclass(frozen=True)
class Stack:
    """One software stack: everything an image of it pins. ``id`` is its table's name."""

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
    absent: dict[str, str] = field(default_factory=dict)
    # Not a key of the table: the table's own name ([stacks.<id>]), set by load_stacks.
    id: str = field(default="", init=False)

    def __post_init__(self) -> None:
        _nonempty(self, "description", "arch", "platform", "os", "python", "cuda", "cudnn",
                  "installer", "torch", "onnx", "onnxruntime_package", "onnxruntime",
                  "tensorrt")
        _no_empty_items(self, "sites", "system_packages", "extra_index_urls", "pip")
        for name in ("tensorrt_package", "fairhep_extra"):
            value = getattr(self, name)
            if value and not value.strip():
                raise ValueError(f"key '{name}' must be empty or a non-empty string")
        _pinned("pip", self.pip, "==")
        for name, why in self.absent.items():
            if not why.strip():
                raise ValueError(f"key 'absent.{name}' must say why (a non-empty string)")
        if self.installer not in INSTALLERS:
            raise ValueError("key 'installer' must be 'pip' or 'conda'")
        if self.installer == "conda" and self.conda is None:
            raise ValueError("missing required key 'conda' (installer = 'conda')")
        if self.installer != "conda" and self.conda is not None:
            raise ValueError("key 'conda' needs installer = 'conda'")
        if self.tensorrt == "none" and "tensorrt" not in self.absent:
            raise ValueError("missing key 'absent.tensorrt': say why the stack has no TensorRT")

    @property
    def has_cuda(self) -> bool:
        return self.cuda != "none"

    @property
    def has_tensorrt(self) -> bool:
        return self.tensorrt != "none"


@dataclass(frozen=True)
class CommonPins:
    pip: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        _no_empty_items(self, "pip")
        _pinned("pip", self.pip, "==")


@dataclass(frozen=True)
class _FileSchema:
    """The top level of the file, as written."""

    stacks: dict[str, Stack]
    schema: int = 1
    common: CommonPins = field(default_factory=CommonPins)


@dataclass(frozen=True)
class StacksFile:
    path: Path
    common_pip: tuple[str, ...]
    stacks: dict[str, Stack]


def stack_dir(stack: Stack) -> Path:
    """Where a stack's rendered files live, relative to the source tree."""
    return Path("containers") / stack.id


def _require(cls: type, table: Any, path: Path, where: str) -> None:
    """A missing required key, said as such (``build`` would report Python's TypeError)."""
    if not isinstance(table, dict):
        return  # build() reports the wrong type
    for f in dataclasses.fields(cls):
        required = f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING
        if f.init and required and f.name not in table:
            raise ConfigError(f"{path}: [{where}] missing required key '{f.name}'")


def load_stacks(path: Path) -> StacksFile:
    """Read and validate the stacks file; any problem is one line naming the file and key."""
    if not Path(path).is_file():
        raise ConfigError(f"{path}: not found (run from the fairhep source tree "
                          "or pass --root)")
    data = read_toml(path)
    _require(_FileSchema, data, path, "top level")
    tables = data["stacks"]
    if not isinstance(tables, dict) or not tables:
        raise ConfigError(f"{path}: [stacks] must hold at least one [stacks.<id>] table")
    for sid, raw in tables.items():
        where = f"stacks.{sid}"
        if not _STACK_ID.fullmatch(sid):
            raise ConfigError(f"{path}: [{where}] stack ids are lower-case letters, digits, "
                              "'-', '_' and '.'")
        _require(Stack, raw, path, where)
        if isinstance(raw, dict):
            _require(BaseImage, raw["base"], path, f"{where}.base")
            if "conda" in raw:
                _require(CondaSpec, raw["conda"], path, f"{where}.conda")
            base = raw["base"]
            if isinstance(base, dict) and isinstance(base.get("read_on"), dt.date):
                base["read_on"] = base["read_on"].isoformat()  # a bare TOML date is fine too
    schema = build(_FileSchema, data, path)
    for sid, stack in schema.stacks.items():
        object.__setattr__(stack, "id", sid)
    return StacksFile(path=path, common_pip=schema.common.pip, stacks=dict(schema.stacks))


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
