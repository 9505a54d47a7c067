"""Site configurations: where and how a campaign's tasks run (``site_configs/<name>.toml``).

A site file says which scheduler to use, the Slurm partition/account/QOS, the GPUs, time
limits per task kind, the container runtime (:data:`fairhep.containers.runtime.RUNTIMES`:
Apptainer, Docker, Podman or none) with its image and binds,
modules and environment variables, and the data and results paths. Values a user must fill
in are written as ``CHANGE-ME``: ``fairhep submit`` refuses a site that still has them, and
``fairhep sites check`` fails on it with the same words (:func:`submit_refusal`).

Values that end up on ``#SBATCH`` lines (partition, account, ...) are checked against a
strict pattern here, because sbatch parses those lines itself and no shell quoting applies
to them; everything else is shell-quoted by the renderer. Checks that depend on the scheduler
(``fairhep sites check``) belong to its runner: :func:`fairhep.runners.check_site`.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from dataclasses import dataclass, field, fields, is_dataclass
from pathlib import Path
from typing import Any

from fairhep.configfile import build, read_toml
from fairhep.containers.runtime import RUNTIMES, get_runtime
from fairhep.errors import ConfigError

PLACEHOLDER = "CHANGE-ME"
# The keys of the runner registry (fairhep.runners.RUNNERS, which sits above this module and
# is tested to agree): a site names one of them.
SCHEDULERS = ("slurm", "local")
# Task kinds a time limit can be given for (see fairhep.campaign.KINDS); "default" covers the rest.
TIME_LIMIT_KEYS = (
    "default", "data", "train", "evaluate", "export", "frameworks", "sweep", "loadgen", "xai",
    "ablate", "scaling", "aggregate",
)
GPU_REQUESTS = ("gres", "gpus-per-node")  # how a multi-node job asks Slurm for its GPUs

# What may appear on an #SBATCH line: no whitespace, quotes, '$', ';', backslashes or newlines.
_SBATCH_TOKEN = re.compile(r"^[A-Za-z0-9_.,:+=@/\[\]|&!*-]*$")
_TIME_LIMIT = re.compile(r"^(\d+-)?\d+(:\d{1,2}){0,2}$")
_ENV_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_SITE_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")


@dataclass(frozen=True)
class SlurmSettings:
    partition: str = ""
    account: str = ""
    qos: str = ""
    constraint: str = ""
    cpus_per_task: int = 1
    gpus_per_task: int = 0
    mem: str = ""  # e.g. "32G"; empty = the partition's default

    def __post_init__(self) -> None:
        for name in ("partition", "account", "qos", "constraint", "mem"):
            value = getattr(self, name)
            if not _SBATCH_TOKEN.match(value):
                raise ValueError(
                    f"slurm.{name} = {value!r} may only contain letters, digits and _.,:+=@/-"
                    " (it is written to an #SBATCH line, where no quoting applies)"
                )
        if self.cpus_per_task < 1:
            raise ValueError("slurm.cpus_per_task must be at least 1")
        if self.gpus_per_task < 0:
            raise ValueError("slurm.gpus_per_task must not be negative")


@dataclass(frozen=True)
class ContainerSettings:
    runtime: str = "none"  # apptainer | docker | podman | none (the fairhep command of a venv)
    image: str = ""
    binds: tuple[str, ...] = ()  # "SRC" or "SRC:DEST[:ro]"; data and results are bound anyway

    def __post_init__(self) -> None:
        if self.runtime not in RUNTIMES:
            raise ValueError(f"container.runtime must be one of {', '.join(RUNTIMES)}, "
                             f"got {self.runtime!r}")
        if get_runtime(self.runtime).needs_image and not self.image:
            raise ValueError(f"container.image is required with runtime {self.runtime!r}")
        for bind in self.binds:
            # Apptainer splits --bind values on commas: a comma would bind another path.
            if "," in bind or not bind:
                raise ValueError(f"container.binds entry {bind!r} must be a non-empty path "
                                 "without commas")


@dataclass(frozen=True)
class EnvironmentSettings:
    modules: tuple[str, ...] = ()  # `module load` each, in order, before the task
    variables: dict[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        for name in self.variables:
            if not _ENV_NAME.match(name):
                raise ValueError(f"environment.variables: {name!r} is not a valid variable name")


@dataclass(frozen=True)
class DistributedSettings:
    """How one training spreads over processes (``fairhep train --distributed``): one task
    per GPU on GPU nodes, ``tasks_per_node`` on CPU nodes (one per socket, say)."""

    nodes: int = 1  # the most nodes one distributed task may take
    tasks_per_node: int = 0  # 0 = one per GPU (gpus_per_node) on GPU nodes, 1 on CPU nodes
    gpu_request: str = "gres"  # --gres=gpu:N per node, or --gpus-per-node=N (Slurm >= 19.05)
    # The partition of distributed jobs ("" = slurm.partition); {gpus}, {nodes} and {tasks}
    # stand for the job's totals, for sites with a partition per size (HAL's gpux1..gpux16).
    partition: str = ""

    def partition_for(self, shape: JobShape) -> str:
        return self.partition.format(gpus=shape.gpus_per_node * shape.nodes,
                                     nodes=shape.nodes, tasks=shape.world_size)

    def __post_init__(self) -> None:
        try:
            sample = self.partition.format(gpus=1, nodes=1, tasks=1)
        except (KeyError, IndexError, ValueError):
            raise ValueError(f"distributed.partition = {self.partition!r} may name only "
                             "{gpus}, {nodes} and {tasks}") from None
        if not _SBATCH_TOKEN.match(sample):
            raise ValueError(f"distributed.partition = {self.partition!r} may only contain "
                             "letters, digits, _.,:+=@/- and {gpus} {nodes} {tasks}")
        if self.nodes < 1 or self.tasks_per_node < 0:
            raise ValueError("distributed.nodes must be at least 1 and "
                             "distributed.tasks_per_node must not be negative")
        if self.gpu_request not in GPU_REQUESTS:
            raise ValueError(f"distributed.gpu_request must be one of {', '.join(GPU_REQUESTS)}"
                             f", got {self.gpu_request!r}")


@dataclass(frozen=True)
class JobShape:
    """Where the ranks of one distributed task go: ``nodes`` x ``tasks_per_node`` ranks,
    each with ``gpus_per_task`` GPUs (0 on the CPU)."""

    world_size: int
    nodes: int
    tasks_per_node: int
    gpus_per_task: int

    @property
    def gpus_per_node(self) -> int:
        return self.tasks_per_node * self.gpus_per_task

    @property
    def name(self) -> str:
        """A short name for files and job names: ``n2x8`` (2 nodes of 8 tasks)."""
        return f"n{self.nodes}x{self.tasks_per_node}"


@dataclass(frozen=True)
class PathSettings:
    data: str = ""  # training/validation HDF5 directory (campaigns with data.source = "site")
    test_data: str = ""  # test set (HDF5 or the NumPy test layout); empty = data
    results: str = "results"  # results root; relative = from the submitting directory
    fairhep: str = "fairhep"  # the fairhep command when container.runtime = "none"


@dataclass(frozen=True)
class Site:
    name: str = ""
    description: str = ""
    scheduler: str = "local"
    cpu_arch: str = "x86_64"
    gpu_model: str = ""
    gpus_per_node: int = 0
    max_concurrent_tasks: int = 0  # array throttle %N (slurm) / process pool size (local); 0 = none
    time_limits: dict[str, str] = field(default_factory=dict)
    slurm: SlurmSettings = field(default_factory=SlurmSettings)
    container: ContainerSettings = field(default_factory=ContainerSettings)
    environment: EnvironmentSettings = field(default_factory=EnvironmentSettings)
    paths: PathSettings = field(default_factory=PathSettings)
    distributed: DistributedSettings = field(default_factory=DistributedSettings)
    source: Path | None = field(default=None, compare=False, init=False)

    def __post_init__(self) -> None:
        if self.scheduler not in SCHEDULERS:
            raise ValueError(f"scheduler must be one of {', '.join(SCHEDULERS)}, "
                             f"got {self.scheduler!r}")
        if self.name and not _SITE_NAME.match(self.name):
            raise ValueError(f"name {self.name!r} may only contain letters, digits and _.-")
        if self.gpus_per_node < 0 or self.max_concurrent_tasks < 0:
            raise ValueError("gpus_per_node and max_concurrent_tasks must not be negative")
        if self.slurm.gpus_per_task > max(self.gpus_per_node, 0) and self.gpus_per_node:
            raise ValueError(f"slurm.gpus_per_task ({self.slurm.gpus_per_task}) exceeds "
                             f"gpus_per_node ({self.gpus_per_node})")
        if self.scheduler == "local" and self.distributed.nodes > 1:
            raise ValueError("distributed.nodes must be 1 with scheduler 'local' (this one "
                             "machine)")
        for kind, limit in self.time_limits.items():
            if kind not in TIME_LIMIT_KEYS:
                raise ValueError(f"time_limits.{kind}: unknown task kind; known: "
                                 f"{', '.join(TIME_LIMIT_KEYS)}")
            if not _TIME_LIMIT.match(limit):
                raise ValueError(f"time_limits.{kind} = {limit!r} is not a Slurm time "
                                 "(MINUTES, HH:MM:SS or D-HH:MM:SS)")

    def time_limit(self, kind: str) -> str:
        return self.time_limits.get(kind) or self.time_limits.get("default") or ""

    def job_shape(self, world_size: int, gpu: bool) -> JobShape:
        """The nodes and tasks per node of a distributed task of ``world_size`` ranks (one
        GPU each when ``gpu``): one node while it holds them all, else whole nodes."""
        where = self.source or self.name
        per_task = max(self.slurm.gpus_per_task, 1) if gpu else 0
        if gpu and not self.gpus_per_node:
            raise ConfigError(f"{where}: a distributed GPU task needs gpus_per_node, which this "
                              "site does not set: set it (and distributed.tasks_per_node), or "
                              'train on the CPU (scaling.device = "cpu")')
        fits = self.gpus_per_node // per_task if gpu else 0
        per_node = self.distributed.tasks_per_node or fits or 1
        if gpu and per_node > fits:
            raise ConfigError(f"{where}: distributed.tasks_per_node = {per_node} ranks of "
                              f"{per_task} GPU(s) do not fit gpus_per_node = "
                              f"{self.gpus_per_node}: lower distributed.tasks_per_node")
        if world_size <= per_node:
            return JobShape(world_size, 1, world_size, per_task)
        if world_size % per_node:
            raise ConfigError(f"{where}: {world_size} ranks do not fill whole nodes of "
                              f"{per_node} (distributed.tasks_per_node): ask for at most "
                              f"{per_node} or a multiple of it")
        nodes = world_size // per_node
        if nodes > self.distributed.nodes:
            raise ConfigError(f"{where}: {world_size} ranks need {nodes} nodes of {per_node}, "
                              f"more than distributed.nodes = {self.distributed.nodes}: raise "
                              "it, or ask for fewer ranks")
        return JobShape(world_size, nodes, per_node, per_task)

    def placeholders(self) -> list[str]:
        """Dotted keys whose value still contains the CHANGE-ME placeholder."""
        return [key for key, value in _walk(self)
                if isinstance(value, str) and PLACEHOLDER in value]

    def resolve_path(self, value: str) -> Path:
        """A site path as an absolute path (relative ones are taken from the current directory)."""
        return Path(os.path.expandvars(os.path.expanduser(value))).absolute()


def _walk(obj: Any, prefix: str = "") -> Iterator[tuple[str, Any]]:
    for f in fields(obj):
        if f.name == "source":
            continue
        value = getattr(obj, f.name)
        key = f"{prefix}{f.name}"
        if is_dataclass(value):
            yield from _walk(value, f"{key}.")
        elif isinstance(value, dict):
            for k, v in value.items():
                yield f"{key}.{k}", v
        elif isinstance(value, tuple):
            for i, v in enumerate(value):
                yield f"{key}[{i}]", v
        else:
            yield key, value


# ---- finding and loading site files ------------------------------------------------------

def repo_site_dir() -> Path:
    """``site_configs`` of the source tree this package was imported from (editable installs)."""
    return Path(__file__).resolve().parents[2] / "site_configs"


def search_dirs(site_dir: Path | None = None) -> list[Path]:
    """Where site files are looked for, in order."""
    dirs: list[Path] = []
    if site_dir is not None:
        dirs.append(Path(site_dir))
    env = os.environ.get("FAIRHEP_SITE_CONFIGS")
    if env:
        dirs.extend(Path(p) for p in env.split(os.pathsep) if p)
    dirs.append(Path("site_configs"))
    dirs.append(repo_site_dir())
    seen: set[Path] = set()
    unique = []
    for d in dirs:
        key = d.resolve()
        if key not in seen:
            seen.add(key)
            unique.append(d)
    return unique


def available_sites(site_dir: Path | None = None) -> dict[str, Path]:
    """Site name -> file, the first directory in the search order winning."""
    found: dict[str, Path] = {}
    for d in search_dirs(site_dir):
        if d.is_dir():
            for path in sorted(d.glob("*.toml")):
                found.setdefault(path.stem, path)
    return found


def load_site_file(path: Path) -> Site:
    data = read_toml(path)
    data.setdefault("name", path.stem)
    site = build(Site, data, path)
    # `source` is not a setting: keep it out of the file's key space.
    object.__setattr__(site, "source", path)
    return site


def load_site(name_or_path: str | Path, site_dir: Path | None = None) -> Site:
    """A site by name (searched as documented) or by the path of a .toml file."""
    text = str(name_or_path)
    if text.endswith(".toml") or os.sep in text:
        path = Path(text)
        if not path.is_file():
            raise ConfigError(f"{path}: site file not found")
        return load_site_file(path)
    sites = available_sites(site_dir)
    if text not in sites:
        where = ", ".join(str(d) for d in search_dirs(site_dir))
        known = ", ".join(sorted(sites)) or "none"
        raise ConfigError(f"unknown site {text!r}; known sites: {known} (searched {where})")
    return load_site_file(sites[text])


def submit_refusal(site: Site) -> str | None:
    """Why ``fairhep submit`` refuses ``site``, in one line (its values still CHANGE-ME), or
    None: the one rule that ``submit`` applies and ``fairhep sites check`` reports."""
    keys = site.placeholders()
    if not keys:
        return None
    return (f"{site.source}: fill in {', '.join(keys)} (still {PLACEHOLDER}) before submitting; "
            "--dry-run shows the scripts anyway")


def placeholder_warnings(site: Site) -> list[str]:
    """What ``fairhep sites check`` says first: every value still to fill in."""
    return [f"{key} is still {PLACEHOLDER}: fill it in ({site.source})"
            for key in site.placeholders()]


def image_warnings(site: Site) -> list[str]:
    """What the site's container runtime says about its image (placeholders aside)."""
    runtime, image = get_runtime(site.container.runtime), site.container.image
    if not runtime.needs_image or PLACEHOLDER in image:
        return []
    warning = runtime.image_warning(image)
    return [warning] if warning else []
