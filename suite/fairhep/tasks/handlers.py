"""Task-kind handlers: what a task of each kind runs (data, train, evaluate, export, the
bench modes, the scaling study (:mod:`.scaling`), aggregate). Each returns its outputs,
which become the metrics of the task's ``campaign.task`` record; ``interrupted`` in them
means "checkpointed, run me again".
"""

from __future__ import annotations

import shutil
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from fairhep.campaign import AblateSpec, BenchSpec, LoadgenSpec, XaiSpec
from fairhep.tasks.context import TaskContext, TaskError
from fairhep.tasks.context import require_data as _require_data
from fairhep.tasks.done import finished_tasks, recorded_trainings
from fairhep.tasks.done import written_by as _written_by
from fairhep.tasks.scaling import handle_scaling
from fairhep.tasks.tasklist import Task

if TYPE_CHECKING:
    from fairhep.xai import StudyOptions

Handler = Callable[[TaskContext, Task], dict[str, Any]]


def _require_trained(ctx: TaskContext, task: Task) -> Path:
    run_id = task.params["run"]
    if run_id not in finished_tasks(ctx.layout):
        raise TaskError(f"task {task.id} needs the trained run of {run_id}, which has no result "
                        f"yet: run it first (`fairhep submit --resume` does)")
    return ctx.layout.run_dir(run_id)


def _handle_data(ctx: TaskContext, _task: Task) -> dict[str, Any]:
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


def _handle_train(ctx: TaskContext, task: Task) -> dict[str, Any]:
    spec = ctx.campaign.train
    train_dir, _ = ctx.data_dirs()
    _require_data(ctx, train_dir)
    from fairhep.model import ModelConfig
    from fairhep.train import TrainConfig, train

    run_dir = ctx.layout.run_dir(task.id)
    existing = recorded_trainings(ctx.layout).get(task.id)
    if existing is not None:
        # Trained and recorded, but killed before the task record: do not train twice.
        return {"run_dir": run_dir, "records": [], "reused_train_record": existing.record_id}
    cfg = TrainConfig(
        data=train_dir, out=run_dir, seed=task.params["seed"], split=task.params["split"],
        fold=task.params["fold"], epochs=spec.epochs, patience=spec.patience,
        batch_size=spec.batch_size, lr=spec.lr, device=spec.device, max_jets=spec.max_jets,
        fold_files=spec.fold_files, results=ctx.layout.records, progress=False,
        model=ModelConfig(hidden=spec.hidden, de=spec.de, do=spec.do),
        engine_settings=ctx.engine,
    )
    # A finished run directory is not trained again: `train` writes its record from it.
    result = train(cfg)
    out: dict[str, Any] = {"run_dir": run_dir}
    if getattr(result, "interrupted", False):
        out["interrupted"] = True
        return out
    record = recorded_trainings(ctx.layout).get(task.id)
    if record is None:
        # Done means recorded: without its train record the task stays to do.
        raise TaskError(f"task {task.id}: training finished in {run_dir} but wrote no train "
                        f"record under {ctx.layout.records}; run the task again")
    out["train_record"] = record.record_id
    if getattr(result, "record", None) is not None:
        out["records"] = [result.record]
    return out


def _handle_evaluate(ctx: TaskContext, task: Task) -> dict[str, Any]:
    spec = ctx.campaign.evaluate
    run_dir = _require_trained(ctx, task)
    _, test_dir = ctx.data_dirs()
    _require_data(ctx, test_dir)
    from fairhep.evaluate import evaluate  # torch: only once the inputs are there

    result = evaluate(run_dir, test_dir, device=spec.device, max_jets=spec.max_jets,
                      results=ctx.layout.records, batch_size=spec.batch_size,
                      engine_settings=ctx.engine)
    return {"records": [getattr(result, "record", None)], "accuracy": result.accuracy,
            "auc": result.auc}


def _handle_export(ctx: TaskContext, task: Task) -> dict[str, Any]:
    run_dir = _require_trained(ctx, task)
    from fairhep.export import export_onnx

    return {"onnx": export_onnx(run_dir)}


def _handle_bench(ctx: TaskContext, task: Task, spec: BenchSpec | LoadgenSpec, mode: str
                  ) -> dict[str, Any]:
    """A bench mode (``frameworks``, ``batch_sweep`` or ``loadgen``) on the task's trained
    run, with the options the command line would give it."""
    run_dir = _require_trained(ctx, task)
    _, test_dir = ctx.data_dirs()
    _require_data(ctx, test_dir)
    from fairhep.bench import BenchOptions, run
    from fairhep.bench.loadgen_driver import LoadgenSettings

    mode_opts: dict[str, Any]
    if isinstance(spec, LoadgenSpec):
        mode_opts = {"loadgen": tuple(spec.scenarios), "loadgen_settings": LoadgenSettings(
            min_duration_s=spec.seconds, min_queries=spec.queries,
            latency_bound_ms=spec.latency_bound_ms, max_batch=spec.batch,
            server_trials=spec.server_trials, conformant=spec.conformant)}
    else:
        mode_opts = {"batch_sizes": tuple(spec.batch_sizes) or None, "repeats": spec.repeats,
                     "frameworks": mode == "frameworks", "batch_sweep": mode == "batch_sweep"}
    opts = BenchOptions(
        data=test_dir, run=run_dir, results=ctx.layout.records, device=spec.device,
        max_jets=spec.max_jets, backends=tuple(spec.backends),
        cache_dir=ctx.layout.root / "cache", engine_settings=ctx.engine, **mode_opts,
    )
    return {"records": run(opts)}


def _handle_frameworks(ctx: TaskContext, task: Task) -> dict[str, Any]:
    return _handle_bench(ctx, task, ctx.campaign.frameworks, "frameworks")


def _handle_sweep(ctx: TaskContext, task: Task) -> dict[str, Any]:
    return _handle_bench(ctx, task, ctx.campaign.sweep, "batch_sweep")


def _handle_loadgen(ctx: TaskContext, task: Task) -> dict[str, Any]:
    return _handle_bench(ctx, task, ctx.campaign.loadgen, "loadgen")


def _xai_options(ctx: TaskContext, run_dir: Path, spec: XaiSpec | AblateSpec,
                 **extra: Any) -> StudyOptions:
    _, test_dir = ctx.data_dirs()
    _require_data(ctx, test_dir)
    from fairhep.xai import StudyOptions

    return StudyOptions(run=run_dir, data=test_dir, results=ctx.layout.records,
                        device=spec.device, batch_size=spec.batch_size, max_jets=spec.max_jets,
                        batches=spec.batches, sample_batch_size=spec.sample_batch_size,
                        progress=False, extra=extra)


def _handle_xai(ctx: TaskContext, task: Task) -> dict[str, Any]:
    """Masking, LRP and neural activity of a trained run; a study whose record this task
    already wrote (an attempt killed before its task record) is not run again."""
    spec = ctx.campaign.xai
    run_dir = _require_trained(ctx, task)
    opts = _xai_options(ctx, run_dir, spec)
    from fairhep.results import kinds
    from fairhep.xai import Rule, run_lrp, run_mask, run_rna

    studies: dict[str, Callable[[], Path | None]] = {
        kinds.XAI_MASK: lambda: run_mask(opts).path,
        kinds.XAI_LRP: lambda: run_lrp(opts, Rule(spec.rule, gamma=spec.gamma)).path,
        kinds.XAI_RNA: lambda: run_rna(opts).path,
    }
    written = _written_by(ctx, task, *studies)
    return {"records": [run() for kind, run in studies.items() if kind not in written],
            "reused": sorted(written)}


def _handle_ablate(ctx: TaskContext, task: Task) -> dict[str, Any]:
    """Table 10: train a re-optimised IN like the baseline run (or, for the baseline's own
    row, nothing) and compare it with the baseline."""
    spec, recipe = ctx.campaign.ablate, ctx.campaign.train
    out: dict[str, Any] = {}
    if "hidden" in task.params:
        train_dir, _ = ctx.data_dirs()
        _require_data(ctx, train_dir)
        from fairhep.train import TrainConfig, train
        from fairhep.xai import Variant, variant_config

        p = task.params
        variant = Variant(p["hidden"], p["de"], p["do"])
        run_dir = ctx.layout.run_dir(task.id)
        # No train record: the ablated trainings are not seeds of Tables 4, 5 and 7.
        result = train(TrainConfig(
            data=train_dir, out=run_dir, seed=p["seed"], split=p["split"], fold=p["fold"],
            epochs=recipe.epochs, patience=recipe.patience, batch_size=recipe.batch_size,
            lr=recipe.lr, device=spec.device, max_jets=recipe.max_jets,
            fold_files=recipe.fold_files, results=None, progress=False,
            model=variant_config(variant, spec.drop_track_features, spec.drop_sv_features),
            engine_settings=ctx.engine))
        if result.interrupted:
            return {"run_dir": run_dir, "interrupted": True}
        out["run_dir"] = run_dir
        out["training"] = {"epochs": result.epochs, "best_epoch": result.best_epoch,
                           "val_auc": result.val_auc, "stopped_early": result.stopped_early}
    baseline = _require_trained(ctx, task)
    from fairhep.results import kinds, read_record
    from fairhep.xai import run_ablation

    written = _written_by(ctx, task, kinds.XAI_ABLATION).get(kinds.XAI_ABLATION)
    if written is not None:  # the row exists: a killed attempt's study is not run again
        m = read_record(written).metrics
        return {**out, "records": [written], "auc": m["auc"], "fidelity": m["fidelity"],
                "sparsity": m["sparsity"], "reused": [kinds.XAI_ABLATION]}
    opts = _xai_options(ctx, out.get("run_dir", baseline), spec, task=task.id,
                        training=out.get("training"))
    row = run_ablation(opts, baseline)
    return {**out, "records": [row.path], "auc": row.study.auc,
            "fidelity": row.study.fidelity, "sparsity": row.study.sparsity}


def _handle_aggregate(ctx: TaskContext, _task: Task) -> dict[str, Any]:
    from fairhep.report import build_report

    done = finished_tasks(ctx.layout)
    missing = [t.id for t in ctx.tasks.all() if t.kind != "aggregate" and t.id not in done]
    html = build_report([ctx.layout.records], ctx.layout.report)
    # A partial report is still useful (afterany: it runs even when tasks failed); it is
    # rebuilt once the missing tasks are done.
    return {"report": html, "complete": not missing, "missing": missing}


HANDLERS: Mapping[str, Handler] = {
    "data": _handle_data,
    "train": _handle_train,
    "evaluate": _handle_evaluate,
    "export": _handle_export,
    "frameworks": _handle_frameworks,
    "sweep": _handle_sweep,
    "loadgen": _handle_loadgen,
    "xai": _handle_xai,
    "ablate": _handle_ablate,
    "scaling": handle_scaling,
    "aggregate": _handle_aggregate,
}
