"""The sbatch scripts: one per task kind, from ``templates/task.sbatch.j2``.

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
from fairhep.tasks import TaskContext

GPU_KINDS = ("train", "evaluate", "frameworks", "sweep", "xai", "ablate")
# Provenance wants the Slurm ids inside the container too (see fairhep.results.slurm_info).
_SLURM_PASS = ("SLURM_JOB_ID", "SLURM_ARRAY_JOB_ID", "SLURM_ARRAY_TASK_ID",
               "SLURM_CLUSTER_NAME", "SLURM_JOB_PARTITION")


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


def script_path(ctx: TaskContext, kind: str) -> Path:
    return ctx.layout.jobs / f"{kind}.sbatch"


def log_pattern(ctx: TaskContext, kind: str) -> Path:
    return ctx.layout.logs / f"{kind}_%A_%a.out"


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


def task_command(ctx: TaskContext, kind: str) -> list[list[Word]]:
    """The command a job execs, as lines of words: `fairhep task run ...`, in the site's
    container if it has one."""
    site = ctx.site
    args: tuple[Word, ...] = (
        "task", "run", "--site", str(frozen_site(ctx)), "--campaign", str(frozen_campaign(ctx)),
        "--results", str(ctx.layout.root.parent.parent),
    )
    runtime = get_runtime(site.container.runtime)
    if not runtime.needs_image:
        return runtime.launch(Launch(args, fairhep=site.paths.fairhep))
    return runtime.launch(Launch(
        args, image=site.container.image, binds=tuple(bind_paths(ctx)),
        gpus=kind in GPU_KINDS and site.slurm.gpus_per_task > 0,
        env=("OMP_NUM_THREADS", *site.environment.variables, *_SLURM_PASS),
    ))


def directives(ctx: TaskContext, kind: str) -> list[str]:
    s = ctx.site.slurm
    out = []
    for name, value in (("partition", s.partition), ("account", s.account), ("qos", s.qos),
                        ("constraint", s.constraint)):
        if value:
            out.append(f"--{name}={value}")
    limit = ctx.site.time_limit(kind)
    if limit:
        out.append(f"--time={limit}")
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


def render_script(ctx: TaskContext, kind: str) -> str:
    site = ctx.site
    lines = task_command(ctx, kind)
    text: str = _environment().get_template("task.sbatch.j2").render(
        campaign=ctx.campaign.name, site=site.name, kind=kind,
        n_tasks=len(ctx.tasks.by_kind[kind]),
        job_name=f"fairhep-{ctx.campaign.name}-{kind}",
        directives=directives(ctx, kind),
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
    return {kind: render_script(ctx, kind) for kind in ctx.tasks.kinds()}
