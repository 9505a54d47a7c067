"""What one campaign task runs, and whether it has already run.

Every runner (the local one, a Slurm array element) ends up in :func:`run_task`. A task that
finishes writes a ``campaign.task`` result record naming the task; that record is what makes
the task "done": running it again is a no-op, and ``submit --resume`` leaves it out. Training
resumes from its checkpoint, so a task killed by a time limit or ``scancel`` continues where
it stopped when it is run again.

Layout of one campaign's results (``<results>/<site>/<campaign>/``)::

    records/<kind>/*.json   result records (train, evaluate, bench.*, campaign.task)
    data/{train,test}/      the synthetic dataset (data.source = "synthetic")
    runs/<train-task-id>/   trained runs (checkpoints, model.json, best.pth, ONNX export)
    logs/                   one log per task attempt
    jobs/                   rendered job scripts, frozen site/campaign files, submissions.json
    report/                 the aggregation output
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import shutil
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from fairhep.campaign import BenchSpec, Campaign, Task, TaskList
from fairhep.errors import ConfigError, FairhepError
from fairhep.results import ResultRecord, kinds, load_records, write_record
from fairhep.sites import Site

TASK_RECORD_KIND = kinds.CAMPAIGN_TASK
# Exit status of a task stopped by SIGTERM after checkpointing (128 + SIGTERM, as a shell
# reports it): non-zero, so that Slurm marks the element failed and --resume picks it up.
EXIT_INTERRUPTED = 143


class TaskError(FairhepError):
    """A task that cannot run yet or failed in a way the user can act on."""


@dataclass(frozen=True)
class Layout:
    root: Path

    @property
    def records(self) -> Path:
        return self.root

    @property
    def data(self) -> Path:
        return self.root / "data"

    @property
    def runs(self) -> Path:
        return self.root / "runs"

    @property
    def logs(self) -> Path:
        return self.root / "logs"

    @property
    def jobs(self) -> Path:
        return self.root / "jobs"

    @property
    def report(self) -> Path:
        return self.root / "report"

    @property
    def locks(self) -> Path:
        return self.root / "locks"

    def run_dir(self, train_task_id: str) -> Path:
        return self.runs / train_task_id


def results_root(site: Site, override: Path | None = None) -> Path:
    if override is not None:
        return Path(override).absolute()
    return site.resolve_path(site.paths.results)


def layout_for(site: Site, campaign: Campaign, results: Path | None = None) -> Layout:
    return Layout(results_root(site, results) / site.name / campaign.name)


@dataclass
class TaskContext:
    site: Site
    campaign: Campaign
    tasks: TaskList
    layout: Layout

    @classmethod
    def create(cls, site: Site, campaign: Campaign, results: Path | None = None) -> TaskContext:
        return cls(site, campaign, campaign.tasks(), layout_for(site, campaign, results))

    def data_dirs(self) -> tuple[Path, Path]:
        """(training/validation directory, test directory) for this site and campaign."""
        if self.campaign.data.source == "synthetic":
            return self.layout.data / "train", self.layout.data / "test"
        paths = self.site.paths
        if not paths.data:
            raise ConfigError(f"{self.site.source}: key 'paths.data' is empty, but campaign "
                              f"{self.campaign.name} reads its dataset from the site")
        train = self.site.resolve_path(paths.data)
        test = self.site.resolve_path(paths.test_data) if paths.test_data else train
        return train, test


@dataclass
class TaskOutcome:
    task: Task
    status: str  # "done" | "already-done" | "interrupted"
    record: Path | None = None
    outputs: dict[str, Any] = field(default_factory=dict)


# ---- what is done --------------------------------------------------------------------------

def finished_tasks(layout: Layout) -> dict[str, ResultRecord]:
    """Task id -> its valid ``campaign.task`` record. Unreadable records count as not done."""
    done: dict[str, ResultRecord] = {}
    errors: list[str] = []
    for rec in load_records(layout.records, TASK_RECORD_KIND, errors=errors):
        if rec.status != "ok" or not rec.task_id:
            continue
        # An aggregation made while tasks were missing is rebuilt once they are done.
        if rec.config.get("kind") == "aggregate" and not rec.metrics.get("complete"):
            continue
        done[rec.task_id] = rec
    return done


def pending_tasks(ctx: TaskContext) -> list[Task]:
    done = finished_tasks(ctx.layout)
    return [t for t in ctx.tasks.all() if t.id not in done]


# ---- running -------------------------------------------------------------------------------

@contextlib.contextmanager
def _task_lock(layout: Layout, task: Task) -> Iterator[None]:
    """One process per task at a time: a resubmission must not train the same run twice."""
    layout.locks.mkdir(parents=True, exist_ok=True)
    with open(layout.locks / f"{task.id}.lock", "w") as fh:
        try:
            fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise TaskError(f"task {task.id} is already running elsewhere "
                            f"(lock {layout.locks / (task.id + '.lock')})") from None
        yield


@contextlib.contextmanager
def _task_environment(ctx: TaskContext, task: Task) -> Iterator[None]:
    """FAIRHEP_TASK_ID/FAIRHEP_SITE make every record the task writes name its task and site."""
    saved = {k: os.environ.get(k) for k in ("FAIRHEP_TASK_ID", "FAIRHEP_SITE")}
    os.environ["FAIRHEP_TASK_ID"] = task.id
    os.environ["FAIRHEP_SITE"] = ctx.site.name
    try:
        yield
    finally:
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


def run_task(ctx: TaskContext, task: Task, force: bool = False) -> TaskOutcome:
    """Run one task unless its result exists; write its ``campaign.task`` record when done."""
    if not force and task.id in finished_tasks(ctx.layout):
        return TaskOutcome(task, "already-done")
    ctx.layout.root.mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()
    with _task_lock(ctx.layout, task), _task_environment(ctx, task):
        runner = _RUNNERS[task.kind]
        outputs = runner(ctx, task)
        if outputs.pop("interrupted", False):
            return TaskOutcome(task, "interrupted", outputs=outputs)
        record = ResultRecord(
            kind=TASK_RECORD_KIND,
            task_id=task.id,
            config={
                "campaign": ctx.campaign.name, "site": ctx.site.name, "task": task.id,
                "kind": task.kind, "index": task.index, "params": task.params,
            },
            metrics={k: _jsonable(v) for k, v in outputs.items()},
            timings={"total_s": time.perf_counter() - started},
        )
        path = write_record(ctx.layout.records, record)
    return TaskOutcome(task, "done", path, outputs)


def _jsonable(value: Any) -> Any:
    if isinstance(value, Path):
        return str(value)
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    return value


def _require_trained(ctx: TaskContext, task: Task) -> Path:
    run_id = task.params["run"]
    if run_id not in finished_tasks(ctx.layout):
        raise TaskError(f"task {task.id} needs the trained run of {run_id}, which has no result "
                        f"yet: run it first (`fairhep submit --resume` does)")
    return ctx.layout.run_dir(run_id)


def _require_data(ctx: TaskContext, *dirs: Path) -> None:
    for d in dirs:
        if not d.is_dir():
            hint = ("the data task has not finished: run it first"
                    if ctx.campaign.data.source == "synthetic"
                    else f"check paths in {ctx.site.source}")
            raise TaskError(f"{d}: dataset directory not found ({hint})")


def _run_data(ctx: TaskContext, task: Task) -> dict[str, Any]:
    from fairhep.data.synth import synthesize

    spec = ctx.campaign.data
    train_dir, test_dir = ctx.data_dirs()
    outputs: dict[str, Any] = {}
    for split, out, files, seed in (
        ("train", train_dir, spec.files, spec.seed),
        ("test", test_dir, spec.test_files, spec.seed + 1),
    ):
        # Write next to the target and rename: a killed attempt leaves no half dataset behind.
        tmp = out.with_name(f".{out.name}.partial")
        shutil.rmtree(tmp, ignore_errors=True)
        shutil.rmtree(out, ignore_errors=True)
        synthesize(tmp, files=files, jets_per_file=spec.jets_per_file, seed=seed,
                   difficulty=spec.difficulty, split=split)
        tmp.rename(out)
        outputs[f"{split}_dir"] = out
    return outputs


def _run_train(ctx: TaskContext, task: Task) -> dict[str, Any]:
    spec = ctx.campaign.train
    train_dir, _ = ctx.data_dirs()
    _require_data(ctx, train_dir)
    from fairhep.model import ModelConfig
    from fairhep.train import TrainConfig, train

    run_dir = ctx.layout.run_dir(task.id)
    existing = [r for r in load_records(ctx.layout.records, "train", errors=[])
                if r.task_id == task.id and r.status == "ok"]
    if existing:
        # Trained and recorded, but killed before the task record: do not train twice.
        return {"run_dir": run_dir, "records": [], "reused_train_record": existing[0].record_id}
    cfg = TrainConfig(
        data=train_dir, out=run_dir, seed=task.params["seed"], split=task.params["split"],
        fold=task.params["fold"], epochs=spec.epochs, patience=spec.patience,
        batch_size=spec.batch_size, lr=spec.lr, device=spec.device, max_jets=spec.max_jets,
        fold_files=spec.fold_files, results=ctx.layout.records, progress=False,
        model=ModelConfig(hidden=spec.hidden, de=spec.de, do=spec.do),
    )
    result = train(cfg)
    out: dict[str, Any] = {"run_dir": run_dir}
    record = getattr(result, "record", None)
    if record is not None:
        out["records"] = [record]
    if getattr(result, "interrupted", False):
        out["interrupted"] = True
    return out


def _run_evaluate(ctx: TaskContext, task: Task) -> dict[str, Any]:
    spec = ctx.campaign.evaluate
    run_dir = _require_trained(ctx, task)
    _, test_dir = ctx.data_dirs()
    _require_data(ctx, test_dir)
    from fairhep.evaluate import evaluate  # torch: only once the inputs are there

    result = evaluate(run_dir, test_dir, device=spec.device, max_jets=spec.max_jets,
                      results=ctx.layout.records, batch_size=spec.batch_size)
    return {"records": [getattr(result, "record", None)], "accuracy": result.accuracy,
            "auc": result.auc}


def _run_export(ctx: TaskContext, task: Task) -> dict[str, Any]:
    run_dir = _require_trained(ctx, task)
    from fairhep.export import export_onnx

    return {"onnx": export_onnx(run_dir)}


def _run_bench(ctx: TaskContext, task: Task, spec: BenchSpec, mode: str) -> dict[str, Any]:
    """A portability mode (``frameworks`` or ``batch_sweep``) on the task's trained run."""
    run_dir = _require_trained(ctx, task)
    _, test_dir = ctx.data_dirs()
    _require_data(ctx, test_dir)
    from fairhep.bench import BenchOptions, run

    opts = BenchOptions(
        data=test_dir, run=run_dir, results=ctx.layout.records, device=spec.device,
        max_jets=spec.max_jets, backends=tuple(spec.backends),
        batch_sizes=tuple(spec.batch_sizes) or None, repeats=spec.repeats,
        cache_dir=ctx.layout.root / "cache",
        frameworks=mode == "frameworks", batch_sweep=mode == "batch_sweep",
    )
    return {"records": run(opts)}


def _run_frameworks(ctx: TaskContext, task: Task) -> dict[str, Any]:
    return _run_bench(ctx, task, ctx.campaign.frameworks, "frameworks")


def _run_sweep(ctx: TaskContext, task: Task) -> dict[str, Any]:
    return _run_bench(ctx, task, ctx.campaign.sweep, "batch_sweep")


def _run_aggregate(ctx: TaskContext, task: Task) -> dict[str, Any]:
    from fairhep.report import build_report

    done = finished_tasks(ctx.layout)
    missing = [t.id for t in ctx.tasks.all() if t.kind != "aggregate" and t.id not in done]
    html = build_report([ctx.layout.records], ctx.layout.report)
    # A partial report is still useful (afterany: it runs even when tasks failed); it is
    # rebuilt once the missing tasks are done.
    return {"report": html, "complete": not missing, "missing": missing}


_RUNNERS = {
    "data": _run_data,
    "train": _run_train,
    "evaluate": _run_evaluate,
    "export": _run_export,
    "frameworks": _run_frameworks,
    "sweep": _run_sweep,
    "aggregate": _run_aggregate,
}
