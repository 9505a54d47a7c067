"""The sbatch scripts: one per task kind, from ``templates/task.sbatch.j2``; a distributed
kind (the scaling study) has one per job shape (``scaling-n2x8``: 2 nodes of 8 ranks), whose
job runs its ranks with ``srun``, one task per GPU.

Every value that reaches a script's shell lines is quoted with ``shlex.quote`` (``#SBATCH``
values are restricted to safe characters by :mod:`fairhep.sites`, because sbatch reads those
lines without any shell quoting). What the job execs (`fairhep task run ...`, in the site's
container if it has one) comes from the site's container runtime
(:mod:`fairhep.containers.runtime`).
"""

from __future__ import annotations

import shlex
from pathlib import Path
from typing import Any

from fairhep.containers.runtime import Launch, Word, get_runtime, shell_word
from fairhep.errors import ConfigError
from fairhep.sites import JobShape
from fairhep.tasks import Task, TaskContext
from fairhep.tasks.scaling import job_shape

GPU_KINDS = ("train", "evaluate", "frameworks", "sweep", "loadgen", "xai", "ablate",
             "scaling")
# Provenance wants the Slurm ids inside the container too (see fairhep.results.slurm_info).
_SLURM_PASS = ("SLURM_JOB_ID", "SLURM_ARRAY_JOB_ID", "SLURM_ARRAY_TASK_ID",
               "SLURM_CLUSTER_NAME", "SLURM_JOB_PARTITION")
# What a rank reads to find its place and its peers (fairhep.train.distributed), passed into
# a container that does not see the job's environment (docker, podman).
_RANK_PASS = ("SLURM_PROCID", "SLURM_LOCALID", "SLURM_NTASKS", "SLURM_NNODES",
              "SLURM_STEP_NUM_NODES", "SLURM_STEP_ID", "MASTER_ADDR", "MASTER_PORT")


def _environment() -> Any:
    import jinja2

    env = jinja2.Environment(
        loader=jinja2.PackageLoader("fairhep.runners.slurm", "templates"),
        undefined=jinja2.StrictUndefined,
        keep_trailing_newline=True,
        autoescape=False,  # shell, not HTML: quoting is done by the `q` filter
    )
    env.filters["q"] = lambda v: shlex.quote(str(v))
    return env


def frozen_site(ctx: TaskContext) -> Path:
    return ctx.layout.jobs / "site.toml"


def frozen_campaign(ctx: TaskContext) -> Path:
    return ctx.layout.jobs / "campaign.toml"


def script_path(ctx: TaskContext, script: str) -> Path:
    """The job file of a script: a kind's (``train``), or a kind's at one job shape."""
    return ctx.layout.jobs / f"{script}.sbatch"


def log_pattern(ctx: TaskContext, kind: str) -> Path:
    return ctx.layout.logs / f"{kind}_%A_%a.out"


def script_of(ctx: TaskContext, task: Task) -> str:
    """The script that runs ``task``: its kind's, or for a distributed task its kind's at its
    job shape (one array per shape: sbatch asks for nodes and tasks per job, not per
    element)."""
    shape = job_shape(ctx, task)
    return task.kind if shape is None else f"{task.kind}-{shape.name}"


def scripts_of(ctx: TaskContext, kind: str) -> dict[str, JobShape | None]:
    """Every script of a kind (in task order) and its job shape (None: one process)."""
    return {script_of(ctx, t): job_shape(ctx, t) for t in ctx.tasks.by_kind.get(kind, ())}


def _check_path(path: Path, what: str) -> None:
    text = str(path)
    # Apptainer/Docker split bind lists on ',' and ':'; sbatch expands '%' in log names.
    bad = [c for c in ",:%\n" if c in text]
    if bad:
        raise ConfigError(f"{what} {text!r} contains {bad[0]!r}, which Slurm or the container "
                          "runtime would misread: choose a path without it")


def bind_paths(ctx: TaskContext) -> list[str]:
    """The site's binds plus what the tasks read and write (results, the site's data)."""
    binds = list(ctx.site.container.binds)
    wanted = [ctx.layout.root.parent.parent]  # the results root holds jobs/, data/, runs/
    if ctx.campaign.data.source == "site":
        wanted += list(dict.fromkeys(ctx.data_dirs()))
    for path in wanted:
        _check_path(path, "path to bind into the container")
        if str(path) not in binds:
            binds.append(str(path))
    return binds


def task_command(ctx: TaskContext, kind: str,
                 shape: JobShape | None = None) -> list[list[Word]]:
    """The command a job execs, as lines of words: `fairhep task run ...`, in the site's
    container if it has one; for a distributed job, ``srun`` starts it once per rank."""
    site = ctx.site
    args: tuple[Word, ...] = (
        "task", "run", "--site", str(frozen_site(ctx)), "--campaign", str(frozen_campaign(ctx)),
        "--results", str(ctx.layout.root.parent.parent),
    )
    runtime = get_runtime(site.container.runtime)
    srun: list[list[Word]] = [] if shape is None else [[
        "srun", f"--nodes={shape.nodes}", f"--ntasks-per-node={shape.tasks_per_node}",
        # One rank that fails ends the step: the others must not wait for it.
        "--kill-on-bad-exit=1"]]
    if not runtime.needs_image:
        return [*srun, *runtime.launch(Launch(args, fairhep=site.paths.fairhep))]
    gpus = (shape.gpus_per_task > 0 if shape else
            kind in GPU_KINDS and site.slurm.gpus_per_task > 0)
    return [*srun, *runtime.launch(Launch(
        args, image=site.container.image, binds=tuple(bind_paths(ctx)), gpus=gpus,
        env=("OMP_NUM_THREADS", *site.environment.variables, *_SLURM_PASS,
             *(_RANK_PASS if shape else ())),
        host_network=shape is not None,
    ))]


def directives(ctx: TaskContext, kind: str, shape: JobShape | None = None) -> list[str]:
    s = ctx.site.slurm
    out = []
    partition = ((shape and ctx.site.distributed.partition_for(shape)) or s.partition)
    for name, value in (("partition", partition), ("account", s.account), ("qos", s.qos),
                        ("constraint", s.constraint)):
        if value:
            out.append(f"--{name}={value}")
    limit = ctx.site.time_limit(kind)
    if limit:
        out.append(f"--time={limit}")
    if shape is not None:
        return [*out, *_distributed_directives(ctx, shape)]
    out += ["--nodes=1", "--ntasks=1", f"--cpus-per-task={s.cpus_per_task}"]
    if kind in GPU_KINDS and s.gpus_per_task:
        out.append(f"--gres=gpu:{s.gpus_per_task}")
    if s.mem:
        out.append(f"--mem={s.mem}")
    if kind in ("train", "ablate"):  # ablate trains the re-optimised INs of Table 10
        # SIGTERM two minutes before the time limit: training checkpoints and stops, and a
        # resubmission continues from there. B: signals the batch shell, which execs the task.
        out.append("--signal=B:TERM@120")
    return out


def _distributed_directives(ctx: TaskContext, shape: JobShape) -> list[str]:
    """A job of ``shape.nodes`` whole nodes' worth of ranks, one GPU each where it has GPUs.
    On one node the site's ``--mem`` is the job's (its ranks share it); several nodes are
    taken whole, with all of their memory."""
    s = ctx.site.slurm
    out = [f"--nodes={shape.nodes}", f"--ntasks-per-node={shape.tasks_per_node}",
           f"--cpus-per-task={s.cpus_per_task}"]
    if shape.gpus_per_node:
        out.append(f"--gres=gpu:{shape.gpus_per_node}"
                   if ctx.site.distributed.gpu_request == "gres"
                   else f"--gpus-per-node={shape.gpus_per_node}")
    if shape.nodes > 1:
        out += ["--exclusive", "--mem=0"]  # whole nodes, all of their memory
    elif s.mem:
        out.append(f"--mem={s.mem}")
    # SIGUSR1 two minutes before the time limit to every rank (not B:, the batch shell, which
    # waits on srun): every rank stops after the same batch with a checkpoint, and a
    # resubmission continues from there.
    out.append("--signal=USR1@120")
    return out


def render_script(ctx: TaskContext, kind: str, script: str | None = None) -> str:
    site = ctx.site
    script = script or kind
    shape = scripts_of(ctx, kind).get(script)
    lines = task_command(ctx, kind, shape)
    n_tasks = sum(1 for t in ctx.tasks.by_kind[kind] if script_of(ctx, t) == script)
    text: str = _environment().get_template("task.sbatch.j2").render(
        campaign=ctx.campaign.name, site=site.name, kind=kind, shape=shape,
        n_tasks=n_tasks, job_name=f"fairhep-{ctx.campaign.name}-{script}",
        directives=directives(ctx, kind, shape),
        modules=site.environment.modules,
        variables=list(site.environment.variables.items()),
        set_threads="OMP_NUM_THREADS" not in site.environment.variables,
        command=" \\\n    ".join(" ".join(shell_word(w) for w in line) for line in lines),
    )
    return text


def render_scripts(ctx: TaskContext) -> dict[str, str]:
    if "%" in str(ctx.layout.logs):
        # sbatch expands %A, %a, %j ... anywhere in --output.
        raise ConfigError(f"results path {ctx.layout.root} contains '%', which sbatch would "
                          "expand in log file names: choose a path without it")
    return {script: render_script(ctx, kind, script) for kind in ctx.tasks.kinds()
            for script in scripts_of(ctx, kind)}
