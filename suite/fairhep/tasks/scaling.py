"""The scaling study's tasks (campaign section ``[scaling]``): one training of the campaign's
recipe on ``world_size`` ranks (``fairhep train --distributed``), each rank started by the
site's runner (``srun`` on Slurm, the local runner's own processes here), then timed.

Every rank runs :func:`handle_scaling`; rank 0 alone writes the ``train.scaling`` record (time
per epoch, jets/s, world size, nodes, backend) that the report's scaling section reads. A
task killed mid-training resumes from its checkpoint; one whose record exists is not trained
again (an attempt killed between the record and its ``campaign.task`` record).
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import TYPE_CHECKING, Any

from fairhep.sites import JobShape
from fairhep.tasks.context import TaskContext, TaskError, require_data
from fairhep.tasks.done import written_by
from fairhep.tasks.tasklist import Task

if TYPE_CHECKING:
    from fairhep.train import TrainConfig, TrainResult


def uses_gpu(ctx: TaskContext) -> bool:
    """Whether the study's ranks take one GPU each: ``cuda``, or ``auto`` on a GPU site."""
    device = ctx.campaign.scaling.device
    return device == "cuda" or (device == "auto" and ctx.site.gpus_per_node > 0)


def job_shape(ctx: TaskContext, task: Task) -> JobShape | None:
    """The nodes and ranks per node of a distributed task on this site (None: one process);
    a site that cannot hold it is a one-line error naming the site file."""
    if task.world_size is None:
        return None
    return ctx.site.job_shape(task.world_size, uses_gpu(ctx))


def handle_scaling(ctx: TaskContext, task: Task) -> dict[str, Any]:
    from fairhep.results import kinds
    from fairhep.train.distributed import launch_from_environment

    want = task.world_size or 1
    launch = launch_from_environment()
    if launch.world_size != want:
        raise TaskError(f"task {task.id} trains on {want} ranks but was started as "
                        f"{launch.world_size}: let `fairhep submit` start it (srun, or the "
                        f"local runner's {want} processes), or torchrun --nproc_per_node={want}")
    run_dir = ctx.layout.run_dir(task.id)
    written = written_by(ctx, task, kinds.TRAIN_SCALING).get(kinds.TRAIN_SCALING)
    if written is not None:  # every rank sees it: none starts a training the others skip
        return {"run_dir": run_dir, "records": [written], "reused": [kinds.TRAIN_SCALING]}
    train_dir, _ = ctx.data_dirs()
    require_data(ctx, train_dir)
    from fairhep.model import ModelConfig
    from fairhep.train import TrainConfig, train

    spec, recipe, p = ctx.campaign.scaling, ctx.campaign.train, task.params
    cfg = TrainConfig(
        data=train_dir, out=run_dir, seed=p["seed"], split=p["split"], fold=0,
        epochs=spec.epochs, patience=spec.epochs,  # every run trains all its epochs
        batch_size=p["batch_size"], lr=recipe.lr, device="cuda" if uses_gpu(ctx) else "cpu",
        max_jets=recipe.max_jets, fold_files=recipe.fold_files, results=None, progress=False,
        model=ModelConfig(hidden=recipe.hidden, de=recipe.de, do=recipe.do), distributed=True,
        engine_settings=ctx.engine)
    # No train record: the study's trainings are not seeds of Tables 4, 5 and 7.
    result = train(cfg)
    if result.interrupted:
        return {"run_dir": run_dir, "interrupted": True}
    if launch.rank != 0:
        return {"run_dir": run_dir}
    path = _write_scaling_record(ctx, task, cfg, result, run_dir)
    return {"run_dir": run_dir, "records": [path]}


def _write_scaling_record(ctx: TaskContext, task: Task, cfg: TrainConfig, result: TrainResult,
                          run_dir: Path) -> Path:
    from fairhep.data.manifest import manifest_path
    from fairhep.results import ResultRecord, kinds, write_record

    try:
        summary = json.loads((run_dir / "train.json").read_text())
    except (OSError, ValueError) as exc:
        raise TaskError(f"task {task.id}: {run_dir / 'train.json'} is unreadable ({exc}); run "
                        "the task again") from None
    dist = summary.get("distributed") or {}
    epoch_s = [h.train_s for h in result.history]
    if not epoch_s:
        raise TaskError(f"task {task.id}: {run_dir} finished without an epoch; run the task "
                        "again")
    # The first epoch also pays for start-up (threads, caches, NCCL's rings): time the rest
    # where there is a rest, and keep every epoch in the record.
    timed = epoch_s[1:] or epoch_s
    per_epoch = sum(timed) / len(timed)
    jets = result.history[-1].train_jets
    world = task.world_size or 1
    record = ResultRecord(
        kind=kinds.TRAIN_SCALING,
        config={
            "mode": task.params["mode"], "world_size": world, "nodes": dist.get("nodes", 1),
            "tasks_per_node": dist.get("tasks_per_node", world),
            "backend": dist.get("backend"), "launcher": dist.get("launcher"),
            "distributed": dist, "global_batch": cfg.batch_size,
            "batch_per_rank": cfg.batch_size // world, "epochs": cfg.epochs,
            "lr": cfg.effective_lr(), "seed": cfg.seed, "split": cfg.split,
            "model": cfg.model.to_dict(), "device": str(summary.get("config", {}).get("device")),
            "data": str(cfg.data), "run": str(run_dir), "campaign": ctx.campaign.name,
        },
        metrics={
            "train_s_per_epoch": per_epoch, "jets_per_s": jets / per_epoch,
            "epoch_train_s": epoch_s, "timed_epochs": len(timed), "n_train_jets": jets,
            "val_auc": _finite(result.val_auc), "val_accuracy": _finite(result.val_accuracy),
        },
        timings={"train_s": sum(epoch_s), "total_s": result.total_s},
    )
    return write_record(ctx.layout.records, record, manifest_path(Path(cfg.data)))


def _finite(value: float) -> float | None:
    return value if math.isfinite(value) else None
