"""A campaign's tasks: grouped by kind, in execution order, with stable ids.

Within a kind a task has an index (its Slurm array index) and an id that does not depend on
the order of the lists in the campaign file::

    data                      the synthetic dataset (data.source = "synthetic" only)
    train-s3-kfold-f0         seed 3, k-fold split, validation fold 0
    evaluate-s3-kfold-f0      the test-set evaluation of that run
    export-s0-kfold-f0        its ONNX export
    frameworks-s0-kfold-f0    framework parity and time per batch (Table 8)
    sweep-s0-kfold-f0         throughput vs batch size (Figure 4)
    loadgen-s0-kfold-f0       latency under load: MLPerf LoadGen scenarios on the backends
    xai-s0-kfold-f0           masking, LRP and neural activity of that run (§3.4)
    ablate-baseline-s0-kfold-f0, ablate-h32-de16-do16-s0-kfold-f0
                              Table 10: the baseline's row, a re-optimised IN trained and compared
    scaling-strong-w4         the scaling study: one training on 4 ranks (strong: the global
                              batch of 1 rank; weak: 4 times it), timed
    aggregate                 the report over everything above
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from fairhep.campaign import KINDS, RUN_SECTIONS, Campaign, run_suffix
from fairhep.errors import ConfigError

# Which kinds must have finished before a kind starts (Slurm: afterany on their jobs; each
# task also checks its own inputs, so a failed training fails only its own evaluation).
DEPENDS_ON: dict[str, tuple[str, ...]] = {
    "data": (),
    "train": ("data",),
    "evaluate": ("data", "train"),
    "export": ("train",),
    "frameworks": ("data", "train", "export"),
    "sweep": ("data", "train", "export"),
    "loadgen": ("data", "train", "export"),
    "xai": ("data", "train"),
    "ablate": ("data", "train"),
    "scaling": ("data",),
    "aggregate": ("data", "train", "evaluate", "export", "frameworks", "sweep", "loadgen", "xai",
                  "ablate", "scaling"),
}


@dataclass(frozen=True)
class Task:
    kind: str
    index: int  # position within its kind: the Slurm array index
    id: str
    params: dict[str, Any] = field(default_factory=dict, compare=False)

    @property
    def world_size(self) -> int | None:
        """The ranks of a distributed task (one training over several processes); None for a
        task that runs as one process."""
        size = self.params.get("world_size")
        return None if size is None else int(size)


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


def expand(c: Campaign) -> TaskList:
    """Every task of a campaign."""
    kinds: dict[str, list[Task]] = {k: [] for k in KINDS}

    def add(kind: str, task_id: str, **params: Any) -> None:
        kinds[kind].append(Task(kind, len(kinds[kind]), task_id, params))

    if c.data.source == "synthetic":
        add("data", "data")
    runs = c.train_runs()
    for r in runs:
        add("train", r.id, seed=r.seed, split=r.split, fold=r.fold)
    if c.evaluate.enabled:
        for r in runs:
            add("evaluate", r.id.replace("train-", "evaluate-", 1), run=r.id)
    for section in RUN_SECTIONS:
        if getattr(c, section).enabled:
            for tid in c.runs_of(section):
                add(section, tid.replace("train-", f"{section}-", 1), run=tid)
    if c.xai.enabled:
        for tid in c.runs_of("xai"):
            add("xai", tid.replace("train-", "xai-", 1), run=tid)
    if c.ablate.enabled:
        base = c.ablation_baseline()
        suffix = run_suffix(base.seed, base.split, base.fold)
        add("ablate", f"ablate-baseline-{suffix}", run=base.id)
        for v in c.ablate.variants:
            add("ablate", f"ablate-h{v.hidden}-de{v.de}-do{v.do}-{suffix}", run=base.id,
                seed=base.seed, split=base.split, fold=base.fold,
                hidden=v.hidden, de=v.de, do=v.do)
    if c.scaling.enabled:
        s = c.scaling
        for mode in s.modes:
            for w in sorted(s.world_sizes):
                add("scaling", f"scaling-{mode}-w{w}", mode=mode, world_size=w,
                    batch_size=s.global_batch(mode, w), seed=s.seed, split=s.split)
    if c.aggregate.enabled:
        add("aggregate", "aggregate")
    return TaskList(c.name, {k: tuple(v) for k, v in kinds.items() if v})
