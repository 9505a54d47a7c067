"""Campaigns: a declarative TOML file that expands into tasks with stable ids.

A campaign names what to run (training over seeds x split methods x folds, evaluation,
ONNX export, framework parity/timing, the batch sweep, and the aggregation into a report)
but not where: the site supplies data paths, GPUs and time limits. Built-in campaigns live
in ``fairhep/campaigns/*.toml`` (``paper``, ``smoke``); a path to any .toml works too.

Tasks are grouped by kind; within a kind a task has an index (its Slurm array index) and an
id that does not depend on the order of the lists in the file::

    data                      the synthetic dataset (data.source = "synthetic" only)
    train-s3-kfold-f0         seed 3, k-fold split, validation fold 0
    evaluate-s3-kfold-f0      the test-set evaluation of that run
    export-s0-kfold-f0        its ONNX export
    frameworks-s0-kfold-f0    framework parity and time per batch (Table 8)
    sweep-s0-kfold-f0         throughput vs batch size (Figure 4)
    aggregate                 the report over everything above
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

from fairhep.configfile import build, read_toml
from fairhep.errors import ConfigError

KINDS = ("data", "train", "evaluate", "export", "frameworks", "sweep", "aggregate")
# Which kinds must have finished before a kind starts (Slurm: afterany on their jobs; each
# task also checks its own inputs, so a failed training fails only its own evaluation).
DEPENDS_ON: dict[str, tuple[str, ...]] = {
    "data": (),
    "train": ("data",),
    "evaluate": ("data", "train"),
    "export": ("train",),
    "frameworks": ("data", "train", "export"),
    "sweep": ("data", "train", "export"),
    "aggregate": ("data", "train", "evaluate", "export", "frameworks", "sweep"),
}
SPLITS = ("kfold", "files", "points")
DEVICES = ("auto", "cpu", "cuda")
_NAME = re.compile(r"^[a-z0-9][a-z0-9_-]*$")


@dataclass(frozen=True)
class DataSpec:
    # "site": the site's paths.data / paths.test_data; "synthetic": a data task makes them
    source: str = "site"
    files: int = 4  # synthetic training/validation files
    jets_per_file: int = 500
    test_files: int = 1
    seed: int = 1234
    difficulty: float | None = None

    def __post_init__(self) -> None:
        if self.source not in ("site", "synthetic"):
            raise ValueError(f"data.source must be 'site' or 'synthetic', got {self.source!r}")
        if min(self.files, self.jets_per_file, self.test_files) < 1:
            raise ValueError("data.files, data.jets_per_file and data.test_files must be >= 1")


@dataclass(frozen=True)
class TrainSpec:
    seeds: tuple[int, ...] = (0,)
    splits: tuple[str, ...] = SPLITS
    folds: tuple[int, ...] = (0,)  # validation folds for the k-fold split; other splits use fold 0
    epochs: int = 100
    patience: int = 8
    batch_size: int = 128
    lr: float = 1e-4
    max_jets: int | None = None
    fold_files: int = 5
    device: str = "auto"
    # Model size; the defaults are the paper's baseline IN (Table 3). Toy campaigns shrink it.
    hidden: int = 60
    de: int = 20
    do: int = 24

    def __post_init__(self) -> None:
        bad = [s for s in self.splits if s not in SPLITS]
        if bad:
            raise ValueError(f"train.splits: unknown split {bad[0]!r}; known: {', '.join(SPLITS)}")
        if not self.seeds or not self.splits or not self.folds:
            raise ValueError("train.seeds, train.splits and train.folds must not be empty")
        for name in ("seeds", "splits", "folds"):
            values = getattr(self, name)
            if len(set(values)) != len(values):
                raise ValueError(f"train.{name} has duplicates: {list(values)}")
        if self.device not in DEVICES:
            raise ValueError(f"train.device must be one of {', '.join(DEVICES)}")
        if min(self.epochs, self.batch_size, self.fold_files) < 1 or min(self.folds) < 0:
            raise ValueError("train.epochs, batch_size, fold_files must be >= 1 and folds >= 0")


@dataclass(frozen=True)
class EvaluateSpec:
    enabled: bool = True
    max_jets: int | None = None
    batch_size: int = 1024
    device: str = "auto"


@dataclass(frozen=True)
class ExportSpec:
    enabled: bool = True
    runs: tuple[str, ...] = ()  # train task ids; empty = k-fold, lowest seed and fold


@dataclass(frozen=True)
class BenchSpec:
    """Framework parity/timing or the batch sweep, on some of the trained runs."""

    enabled: bool = True
    runs: tuple[str, ...] = ()  # train task ids; empty = k-fold, lowest seed and fold
    device: str = "auto"
    max_jets: int | None = None
    backends: tuple[str, ...] = ()  # empty = every backend (absent ones are recorded as skipped)
    batch_sizes: tuple[int, ...] = ()  # sweep only; empty = the mode's default grid
    repeats: int = 10


@dataclass(frozen=True)
class AggregateSpec:
    enabled: bool = True


@dataclass(frozen=True)
class Campaign:
    name: str = ""
    description: str = ""
    data: DataSpec = field(default_factory=DataSpec)
    train: TrainSpec = field(default_factory=TrainSpec)
    evaluate: EvaluateSpec = field(default_factory=EvaluateSpec)
    export: ExportSpec = field(default_factory=ExportSpec)
    frameworks: BenchSpec = field(default_factory=BenchSpec)
    sweep: BenchSpec = field(default_factory=BenchSpec)
    aggregate: AggregateSpec = field(default_factory=AggregateSpec)
    source: Path | None = field(default=None, compare=False, init=False)

    def __post_init__(self) -> None:
        if not _NAME.match(self.name):
            raise ValueError(f"name {self.name!r} must be lower-case letters, digits, - or _")

    def tasks(self) -> TaskList:
        return expand(self)


@dataclass(frozen=True)
class Task:
    kind: str
    index: int  # position within its kind: the Slurm array index
    id: str
    params: dict[str, Any] = field(default_factory=dict, compare=False)


@dataclass(frozen=True)
class TaskList:
    campaign: str
    by_kind: dict[str, tuple[Task, ...]]

    def kinds(self) -> list[str]:
        """Kinds that have tasks, in execution order."""
        return [k for k in KINDS if self.by_kind.get(k)]

    def all(self) -> list[Task]:
        return [t for k in self.kinds() for t in self.by_kind[k]]

    def get(self, kind: str, index: int) -> Task:
        tasks = self.by_kind.get(kind, ())
        if kind not in KINDS:
            raise ConfigError(f"unknown task kind {kind!r}; known: {', '.join(KINDS)}")
        if not 0 <= index < len(tasks):
            raise ConfigError(f"campaign {self.campaign}: kind {kind} has {len(tasks)} task(s), "
                              f"no index {index}")
        return tasks[index]

    def by_id(self, task_id: str) -> Task:
        for t in self.all():
            if t.id == task_id:
                return t
        raise ConfigError(f"campaign {self.campaign} has no task {task_id!r} "
                          f"(see `fairhep task list {self.campaign}`)")

    def dependencies(self, kind: str) -> list[str]:
        return [k for k in DEPENDS_ON[kind] if self.by_kind.get(k)]


def run_suffix(seed: int, split: str, fold: int) -> str:
    return f"s{seed}-{split}-f{fold}"


def expand(c: Campaign) -> TaskList:
    kinds: dict[str, list[Task]] = {k: [] for k in KINDS}

    def add(kind: str, task_id: str, **params: Any) -> None:
        kinds[kind].append(Task(kind, len(kinds[kind]), task_id, params))

    if c.data.source == "synthetic":
        add("data", "data")
    train_ids: list[str] = []
    for split in c.train.splits:
        for seed in c.train.seeds:
            # Folds only mean something for the k-fold split; the other two draw a random
            # split from the seed.
            for fold in (c.train.folds if split == "kfold" else (0,)):
                suffix = run_suffix(seed, split, fold)
                train_ids.append(f"train-{suffix}")
                add("train", f"train-{suffix}", seed=seed, split=split, fold=fold)

    # The run benchmarked when a section names none: k-fold first, then the lowest seed and
    # fold, so that it does not depend on the order of the lists in the file.
    default_run = min(kinds["train"], key=lambda t: (SPLITS.index(t.params["split"]),
                                                     t.params["seed"], t.params["fold"])).id

    def selected(what: str, runs: tuple[str, ...]) -> list[str]:
        unknown = [r for r in runs if r not in train_ids]
        if unknown:
            where = c.source or c.name
            raise ConfigError(f"{where}: key '{what}.runs' names {unknown[0]!r}, which is not a "
                              f"training task of this campaign (e.g. {train_ids[0]})")
        return list(runs) or [default_run]

    if c.evaluate.enabled:
        for tid in train_ids:
            add("evaluate", tid.replace("train-", "evaluate-", 1), run=tid)
    if c.export.enabled:
        for tid in selected("export", c.export.runs):
            add("export", tid.replace("train-", "export-", 1), run=tid)
    if c.frameworks.enabled:
        for tid in selected("frameworks", c.frameworks.runs):
            add("frameworks", tid.replace("train-", "frameworks-", 1), run=tid)
    if c.sweep.enabled:
        for tid in selected("sweep", c.sweep.runs):
            add("sweep", tid.replace("train-", "sweep-", 1), run=tid)
    if c.aggregate.enabled:
        add("aggregate", "aggregate")
    return TaskList(c.name, {k: tuple(v) for k, v in kinds.items() if v})


# ---- finding and loading campaign files -----------------------------------------------------

def builtin_campaigns() -> dict[str, Path]:
    base = resources.files("fairhep") / "campaigns"
    return {Path(str(p)).stem: Path(str(p)) for p in base.iterdir() if str(p).endswith(".toml")}


def load_campaign_file(path: Path) -> Campaign:
    data = read_toml(path)
    data.setdefault("name", path.stem)
    campaign = build(Campaign, data, path)
    object.__setattr__(campaign, "source", path)
    expand(campaign)  # surface bad run references now, not at submit time
    return campaign


def load_campaign(name_or_path: str | Path) -> Campaign:
    """A built-in campaign by name, or any campaign file by path."""
    text = str(name_or_path)
    if text.endswith(".toml") or "/" in text:
        path = Path(text)
        if not path.is_file():
            raise ConfigError(f"{path}: campaign file not found")
        return load_campaign_file(path)
    builtin = builtin_campaigns()
    if text not in builtin:
        raise ConfigError(f"unknown campaign {text!r}; built-in campaigns: "
                          f"{', '.join(sorted(builtin))} (or give the path of a .toml file)")
    return load_campaign_file(builtin[text])
