"""Campaigns: a declarative TOML file saying what to run (one :class:`Campaign`, read by
:func:`load_campaign`).

A campaign names what to run (training over seeds x split methods x folds, evaluation,
ONNX export, framework parity/timing, the batch sweep, latency under load (MLPerf LoadGen),
interpretability, the scaling study, and the aggregation into a report)
but not where: the site supplies data paths, GPUs and time limits. Built-in campaigns live
in ``fairhep/campaigns/*.toml`` (``paper``, ``smoke``); a path to any .toml works too.

:func:`fairhep.tasks.expand` turns a campaign into its tasks (ids and kinds: see
:mod:`fairhep.tasks.tasklist`). Training runs are named here, ``train-s<seed>-<split>-f<fold>``,
because a campaign file refers to them (``export.runs = ["train-s0-kfold-f0"]``).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path

from fairhep.configfile import build, read_toml
from fairhep.errors import ConfigError

# The task kinds, in execution order: one section of a campaign file each.
KINDS = ("data", "train", "evaluate", "export", "frameworks", "sweep", "loadgen", "xai",
         "ablate", "scaling", "aggregate")
# Sections that run on some of the trained runs (``runs = [...]``, default: one run).
RUN_SECTIONS = ("export", "frameworks", "sweep", "loadgen")
SPLITS = ("kfold", "files", "points")
SCALING_MODES = ("strong", "weak")
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
    # False: no training tasks (a campaign of the scaling study alone); the recipe below
    # still applies to the sections that train (scaling).
    enabled: bool = True
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
class LoadgenSpec:
    """Latency under load (``fairhep bench --loadgen``): MLPerf LoadGen's scenarios on the
    backends, on some of the trained runs. Off unless a campaign asks for it (LoadGen is an
    extra, ``fairhep[loadgen]``); the keys are the command's options."""

    enabled: bool = False
    runs: tuple[str, ...] = ()  # train task ids; empty = k-fold, lowest seed and fold
    scenarios: tuple[str, ...] = ("SingleStream", "Server", "Offline")
    device: str = "auto"
    max_jets: int | None = None
    backends: tuple[str, ...] = ()  # empty = every backend (absent ones are recorded as skipped)
    seconds: float = 10.0  # LoadGen's minimum duration per run (--loadgen-seconds)
    queries: int = 64  # --loadgen-queries
    latency_bound_ms: float = 10.0  # the Server scenario's p99 bound
    batch: int = 128  # --loadgen-batch
    server_trials: int = 5
    conformant: bool = False  # MLPerf's minimum durations (600 s per run)

    def __post_init__(self) -> None:
        from fairhep.bench.loadgen_driver import SCENARIOS

        bad = [s for s in self.scenarios if s not in SCENARIOS]
        if bad or not self.scenarios:
            raise ValueError(f"loadgen.scenarios: unknown scenario {bad[0] if bad else '(none)'}"
                             f"; choose from {', '.join(SCENARIOS)}")
        if self.device not in DEVICES:
            raise ValueError(f"loadgen.device must be one of {', '.join(DEVICES)}")


@dataclass(frozen=True)
class XaiSpec:
    """Interpretability (§3.4) of some trained runs: feature masking (Figure 5, Table 9), LRP
    (Figure 6) and neural activity (Figure 8). Off unless a campaign asks for it."""

    enabled: bool = False
    runs: tuple[str, ...] = ()  # train task ids; empty = k-fold, lowest seed and fold
    device: str = "auto"
    max_jets: int | None = None  # masking on the first N test jets; None = all
    batch_size: int = 1024
    batches: int = 30  # LRP and RNA: batches of each class (the paper's 30 x 128)
    sample_batch_size: int = 128
    rule: str = "gamma"
    gamma: float = 2.0

    def __post_init__(self) -> None:
        if self.rule not in ("gamma", "epsilon", "zero"):
            raise ValueError(f"xai.rule must be gamma, epsilon or zero, got {self.rule!r}")
        if min(self.batch_size, self.batches, self.sample_batch_size) < 1 or self.gamma < 0:
            raise ValueError("xai.batch_size, batches and sample_batch_size must be >= 1 and "
                             "xai.gamma >= 0")


@dataclass(frozen=True)
class VariantSpec:
    hidden: int
    de: int
    do: int


@dataclass(frozen=True)
class AblateSpec:
    """Table 10: the re-optimised INs, trained like the baseline run (its seed, split and
    fold, the train section's recipe) without the paper's least important features, and each
    compared with the baseline: AUC, fidelity, sparsity. The baseline gets a row of its own.
    Off unless a campaign asks for it (three more trainings)."""

    enabled: bool = False
    baseline: str = ""  # a train task id; empty = k-fold, lowest seed and fold
    variants: tuple[VariantSpec, ...] = (
        VariantSpec(32, 16, 16), VariantSpec(32, 8, 8), VariantSpec(16, 8, 8))
    drop_track_features: int = 12  # the first N of the paper's list (schema.ABLATION_...)
    drop_sv_features: int = 5
    device: str = "auto"
    max_jets: int | None = None  # AUC and fidelity on the first N test jets; None = all
    batch_size: int = 1024
    batches: int = 30  # sparsity: RNA over this many batches of each class
    sample_batch_size: int = 128

    def __post_init__(self) -> None:
        if not 0 <= self.drop_track_features <= 12 or not 0 <= self.drop_sv_features <= 5:
            raise ValueError("ablate.drop_track_features must be 0-12 and drop_sv_features 0-5 "
                             "(the paper's lists)")
        if min(self.batch_size, self.batches, self.sample_batch_size) < 1:
            raise ValueError("ablate.batch_size, batches and sample_batch_size must be >= 1")
        sizes = [(v.hidden, v.de, v.do) for v in self.variants]
        if len(set(sizes)) != len(sizes) or any(min(s) < 1 for s in sizes):
            raise ValueError("ablate.variants must be distinct, with positive sizes")


@dataclass(frozen=True)
class ScalingSpec:
    """The same training at several world sizes (``fairhep train --distributed``), timed:
    strong scaling keeps the global batch (``batch_size``) at every size, weak scaling keeps
    each rank's batch (``batch_size`` per rank, the global batch grows with the ranks). The
    recipe otherwise is the train section's (model, lr, data). Off unless asked for."""

    enabled: bool = False
    modes: tuple[str, ...] = ("strong",)
    world_sizes: tuple[int, ...] = (1, 2)  # ranks (GPUs, or CPU tasks) per training
    epochs: int = 2  # each run trains exactly this many epochs (no early stopping)
    batch_size: int = 128  # strong: the global batch; weak: per rank
    seed: int = 0
    split: str = "points"
    device: str = "auto"  # auto: one GPU per rank where the site has GPUs, else the CPU

    def __post_init__(self) -> None:
        bad = [m for m in self.modes if m not in SCALING_MODES]
        if bad or not self.modes or len(set(self.modes)) != len(self.modes):
            raise ValueError(f"scaling.modes must be distinct values of {', '.join(SCALING_MODES)}"
                             f", got {list(self.modes)}")
        sizes = self.world_sizes
        if 1 not in sizes or min(sizes) < 1 or len(set(sizes)) != len(sizes):
            raise ValueError(f"scaling.world_sizes must be distinct positive numbers including 1 "
                             f"(speed-up is against the one-rank run), got {list(sizes)}")
        if min(self.epochs, self.batch_size) < 1:
            raise ValueError("scaling.epochs and scaling.batch_size must be >= 1")
        if "strong" in self.modes:
            odd = [w for w in sizes if self.batch_size % w]
            if odd:
                raise ValueError(f"scaling.batch_size {self.batch_size} (strong scaling: the "
                                 f"global batch) is not a multiple of world size {odd[0]}: "
                                 "choose a batch that every world size divides")
        if self.split not in SPLITS or self.device not in DEVICES:
            raise ValueError(f"scaling.split must be one of {', '.join(SPLITS)} and "
                             f"scaling.device one of {', '.join(DEVICES)}")

    def global_batch(self, mode: str, world_size: int) -> int:
        return self.batch_size if mode == "strong" else self.batch_size * world_size


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
    loadgen: LoadgenSpec = field(default_factory=LoadgenSpec)
    xai: XaiSpec = field(default_factory=XaiSpec)
    ablate: AblateSpec = field(default_factory=AblateSpec)
    scaling: ScalingSpec = field(default_factory=ScalingSpec)
    aggregate: AggregateSpec = field(default_factory=AggregateSpec)
    source: Path | None = field(default=None, compare=False, init=False)

    def __post_init__(self) -> None:
        if not _NAME.match(self.name):
            raise ValueError(f"name {self.name!r} must be lower-case letters, digits, - or _")
        if not self.train.enabled:
            need = [s for s in ("evaluate", *RUN_SECTIONS, "xai", "ablate")
                    if getattr(self, s).enabled]
            if need:
                raise ValueError(f"train.enabled = false, but {', '.join(need)} need the "
                                 "trained runs: set enabled = false in those sections too")

    def train_runs(self) -> list[TrainRun]:
        """Every training, in the order of the file: splits, then seeds, then folds."""
        if not self.train.enabled:
            return []
        return [TrainRun(seed, split, fold)
                for split in self.train.splits for seed in self.train.seeds
                # Folds only mean something for the k-fold split; the other two draw a
                # random split from the seed.
                for fold in (self.train.folds if split == "kfold" else (0,))]

    def default_run(self) -> str:
        """The run benchmarked when a section names none: k-fold first, then the lowest seed
        and fold, so that it does not depend on the order of the lists in the file."""
        return min(self.train_runs(),
                   key=lambda r: (SPLITS.index(r.split), r.seed, r.fold)).id

    def runs_of(self, section: str) -> list[str]:
        """The training task ids a section of :data:`RUN_SECTIONS` (or ``xai``) runs on."""
        runs: tuple[str, ...] = getattr(self, section).runs
        train_ids = [r.id for r in self.train_runs()]
        unknown = [r for r in runs if r not in train_ids]
        if unknown:
            where = self.source or self.name
            raise ConfigError(f"{where}: key '{section}.runs' names {unknown[0]!r}, which is "
                              f"not a training task of this campaign (e.g. {train_ids[0]})")
        return list(runs) or [self.default_run()]

    def ablation_baseline(self) -> TrainRun:
        """The training the ablated models copy (seed, split, fold) and are compared with."""
        wanted = self.ablate.baseline or self.default_run()
        found = [r for r in self.train_runs() if r.id == wanted]
        if not found:
            where = self.source or self.name
            raise ConfigError(f"{where}: key 'ablate.baseline' names {wanted!r}, which is not a "
                              f"training task of this campaign (e.g. {self.default_run()})")
        return found[0]


@dataclass(frozen=True)
class TrainRun:
    seed: int
    split: str
    fold: int

    @property
    def id(self) -> str:
        """The training task's id, e.g. ``train-s3-kfold-f0``."""
        return f"train-{run_suffix(self.seed, self.split, self.fold)}"


def run_suffix(seed: int, split: str, fold: int) -> str:
    return f"s{seed}-{split}-f{fold}"


# ---- finding and loading campaign files -----------------------------------------------------

def builtin_campaigns() -> dict[str, Path]:
    base = resources.files("fairhep") / "campaigns"
    return {Path(str(p)).stem: Path(str(p)) for p in base.iterdir() if str(p).endswith(".toml")}


def _load_file(path: Path) -> Campaign:
    data = read_toml(path)
    data.setdefault("name", path.stem)
    campaign = build(Campaign, data, path)
    object.__setattr__(campaign, "source", path)
    for section in RUN_SECTIONS:  # bad run references fail now, not at submit time
        if getattr(campaign, section).enabled:
            campaign.runs_of(section)
    if campaign.xai.enabled:
        campaign.runs_of("xai")
    if campaign.ablate.enabled:
        campaign.ablation_baseline()
    return campaign


def load_campaign(name_or_path: str | Path) -> Campaign:
    """A built-in campaign by name, or any campaign file by path."""
    text = str(name_or_path)
    if text.endswith(".toml") or "/" in text:
        path = Path(text)
        if not path.is_file():
            raise ConfigError(f"{path}: campaign file not found")
        return _load_file(path)
    builtin = builtin_campaigns()
    if text not in builtin:
        raise ConfigError(f"unknown campaign {text!r}; built-in campaigns: "
                          f"{', '.join(sorted(builtin))} (or give the path of a .toml file)")
    return _load_file(builtin[text])
