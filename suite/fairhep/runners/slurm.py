"""The Slurm runner: one job array per task kind, chained with dependencies, then aggregation.

``render_scripts`` turns a site and a campaign into one sbatch script per task kind (from
``templates/task.sbatch.j2``); ``plan`` decides what to submit (all tasks, or with
``resume`` only those without a result and not already queued) and splits arrays longer
than the cluster's ``MaxArraySize``; ``submit`` runs ``sbatch --parsable`` for each chunk,
kind after kind, with ``--dependency=afterany:`` on the kinds it needs, and records the job
ids in ``jobs/submissions.json``; ``job_states`` reads ``squeue`` and ``scontrol show job
-o`` (Slurm accounting may be off, so no sacct) for ``fairhep status``.

Nothing here goes through a shell: sbatch/squeue/scontrol are run with argument lists, and
every value that reaches a job script is quoted with ``shlex.quote`` (``#SBATCH`` values are
restricted to safe characters by :mod:`fairhep.sites`, because sbatch reads those lines
without any shell quoting).
"""

from __future__ import annotations

import json
import os
import re
import shlex
import shutil
import subprocess
import time
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path

import jinja2

from fairhep.configfile import read_toml
from fairhep.errors import ConfigError, FairhepError
from fairhep.sites import PLACEHOLDER
from fairhep.tasks import TaskContext, finished_tasks

DEFAULT_MAX_ARRAY_SIZE = 1001  # Slurm's default MaxArraySize
GPU_KINDS = ("train", "evaluate", "frameworks", "sweep")
SUBMISSIONS = "submissions.json"
# Job states after which an element no longer runs (squeue/scontrol spellings).
ENDED = {"COMPLETED", "FAILED", "CANCELLED", "TIMEOUT", "OUT_OF_MEMORY", "NODE_FAIL",
         "PREEMPTED", "BOOT_FAIL", "DEADLINE", "REVOKED"}


class SlurmError(FairhepError):
    """sbatch/squeue/scontrol failed or is missing."""


@dataclass(frozen=True)
class Raw:
    """A word of shell written by this module itself (never user data), left unquoted."""

    text: str


def _word(w: str | Raw) -> str:
    return w.text if isinstance(w, Raw) else shlex.quote(w)


def _environment() -> jinja2.Environment:
    env = jinja2.Environment(
        loader=jinja2.PackageLoader("fairhep.runners", "templates"),
        undefined=jinja2.StrictUndefined,
        keep_trailing_newline=True,
        autoescape=False,  # shell, not HTML: quoting is done by the `q` filter
    )
    env.filters["q"] = lambda v: shlex.quote(str(v))
    return env


# ---- rendering -----------------------------------------------------------------------------

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


def task_command(ctx: TaskContext, kind: str) -> list[list[str | Raw]]:
    """The command a job execs, as lines of words: `fairhep task run ...`, in the site's
    container if it has one."""
    site = ctx.site
    fairhep_args: list[str | Raw] = [
        "task", "run", "--site", str(frozen_site(ctx)), "--campaign", str(frozen_campaign(ctx)),
        "--results", str(ctx.layout.root.parent.parent),
    ]
    gpus = site.slurm.gpus_per_task if kind in GPU_KINDS else 0
    runtime = site.container.runtime
    if runtime == "none":
        return [[site.paths.fairhep, *fairhep_args]]
    lines: list[list[str | Raw]]
    if runtime == "apptainer":
        lines = [["apptainer", "run", *(["--nv"] if gpus else [])]]
        lines += [["--bind", b] for b in bind_paths(ctx)]
    else:
        # docker: the engine passes neither the job's environment nor its GPU allocation.
        lines = [["docker", "run", "--rm", "--user", Raw('"$(id -u):$(id -g)"')]]
        if gpus:
            gpu_list = Raw('"\\"device=${CUDA_VISIBLE_DEVICES:?no GPU allocated}\\""')
            lines.append(["--gpus", gpu_list])
        for b in bind_paths(ctx):
            lines.append(["--volume", b if ":" in b else f"{b}:{b}"])
        names = ["OMP_NUM_THREADS", *site.environment.variables, *_SLURM_PASS]
        lines.append([w for n in dict.fromkeys(names) for w in ("--env", n)])
    return [*lines, [site.container.image], fairhep_args]


# Provenance wants the Slurm ids inside the container too (see fairhep.results.slurm_info).
_SLURM_PASS = ("SLURM_JOB_ID", "SLURM_ARRAY_JOB_ID", "SLURM_ARRAY_TASK_ID",
               "SLURM_CLUSTER_NAME", "SLURM_JOB_PARTITION")


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
    if kind == "train":
        # SIGTERM two minutes before the time limit: training checkpoints and stops, and a
        # resubmission continues from there. B: signals the batch shell, which execs the task.
        out.append("--signal=B:TERM@120")
    return out


def render_script(ctx: TaskContext, kind: str) -> str:
    site = ctx.site
    variables = list(site.environment.variables.items())
    lines = task_command(ctx, kind)
    return _environment().get_template("task.sbatch.j2").render(
        campaign=ctx.campaign.name, site=site.name, kind=kind,
        n_tasks=len(ctx.tasks.by_kind[kind]),
        job_name=f"fairhep-{ctx.campaign.name}-{kind}",
        directives=directives(ctx, kind),
        modules=site.environment.modules,
        variables=variables,
        set_threads="OMP_NUM_THREADS" not in site.environment.variables,
        command=" \\\n    ".join(" ".join(_word(w) for w in line) for line in lines),
    )


def render_scripts(ctx: TaskContext) -> dict[str, str]:
    if "%" in str(ctx.layout.logs):
        # sbatch expands %A, %a, %j ... anywhere in --output.
        raise ConfigError(f"results path {ctx.layout.root} contains '%', which sbatch would "
                          "expand in log file names: choose a path without it")
    return {kind: render_script(ctx, kind) for kind in ctx.tasks.kinds()}


# ---- planning ------------------------------------------------------------------------------

@dataclass
class Chunk:
    """One sbatch call: some tasks of one kind as an array, offset by ``offset``."""

    kind: str
    name: str  # shell variable name in the dry-run listing, e.g. train_0
    offset: int
    indices: list[int]  # task indices within the kind
    depends_on: list[str] = field(default_factory=list)  # names of earlier chunks
    job_id: str | None = None

    def array_spec(self, throttle: int) -> str:
        spec = compress([i - self.offset for i in self.indices])
        return f"{spec}%{throttle}" if throttle else spec


def compress(values: Iterable[int]) -> str:
    """[0,1,2,5,7,8] -> '0-2,5,7-8'."""
    vals = sorted(set(values))
    parts = []
    start = prev = None
    for v in vals + [None]:  # type: ignore[list-item]
        if start is not None and (v is None or v != prev + 1):
            parts.append(str(start) if start == prev else f"{start}-{prev}")
            start = None
        if v is not None and start is None:
            start = v
        prev = v
    return ",".join(parts)


def max_array_size() -> int:
    """MaxArraySize of the cluster (``scontrol show config``); Slurm's default if unknown."""
    if shutil.which("scontrol") is None:
        return DEFAULT_MAX_ARRAY_SIZE
    try:
        out = subprocess.run(["scontrol", "show", "config"], capture_output=True, text=True,
                             timeout=30, check=True).stdout
    except (OSError, subprocess.SubprocessError):
        return DEFAULT_MAX_ARRAY_SIZE
    m = re.search(r"^MaxArraySize\s*=\s*(\d+)", out, re.MULTILINE)
    return int(m.group(1)) if m else DEFAULT_MAX_ARRAY_SIZE


def plan(ctx: TaskContext, todo: dict[str, list[int]], array_size: int) -> list[Chunk]:
    """Chunks in submission order; each depends on every chunk of the kinds it needs."""
    chunks: list[Chunk] = []
    by_kind: dict[str, list[Chunk]] = {}
    for kind in ctx.tasks.kinds():
        indices = sorted(todo.get(kind, []))
        if not indices:
            continue
        deps = [c.name for k in ctx.tasks.dependencies(kind) for c in by_kind.get(k, [])]
        groups: dict[int, list[int]] = {}
        for i in indices:
            # An array index must stay below MaxArraySize: chunk k covers [k*size, (k+1)*size).
            groups.setdefault(i // array_size, []).append(i)
        kind_chunks = [
            Chunk(kind, f"{kind}_{n}", k * array_size, idx, list(deps))
            for n, (k, idx) in enumerate(sorted(groups.items()))
        ]
        by_kind[kind] = kind_chunks
        chunks += kind_chunks
    return chunks


def sbatch_argv(ctx: TaskContext, chunk: Chunk, dep_ids: Sequence[str]) -> list[str]:
    argv = ["sbatch", "--parsable", f"--array={chunk.array_spec(ctx.site.max_concurrent_tasks)}",
            f"--output={log_pattern(ctx, chunk.kind)}"]
    if chunk.offset:
        argv.append(f"--export=ALL,FAIRHEP_INDEX_OFFSET={chunk.offset}")
    if dep_ids:
        argv += [f"--dependency=afterany:{':'.join(dep_ids)}", "--kill-on-invalid-dep=yes"]
    argv.append(str(script_path(ctx, chunk.kind)))
    return argv


def submission_listing(ctx: TaskContext, chunks: list[Chunk]) -> str:
    """The sbatch calls as a shell snippet (job ids in variables): what --dry-run prints."""
    lines = []
    for c in chunks:
        dep_ids = [f"${{{d}}}" for d in c.depends_on]
        words = []
        for arg in sbatch_argv(ctx, c, dep_ids):
            # Only the dependency word holds ${...}: chunk names and fixed text, so double
            # quotes are safe there; every other word is single-quoted as needed.
            words.append(f'"{arg}"' if arg.startswith("--dependency=") else shlex.quote(arg))
        lines.append(f"{c.name}=$({' '.join(words)})")
    return "\n".join(lines) + "\n"


# ---- submitting ----------------------------------------------------------------------------

def write_job_files(ctx: TaskContext, scripts: dict[str, str]) -> None:
    ctx.layout.jobs.mkdir(parents=True, exist_ok=True)
    ctx.layout.logs.mkdir(parents=True, exist_ok=True)
    # The jobs read the site and campaign as they were at submission, from the results tree
    # (which containers bind), not from the source checkout.
    for src, dst, name in ((ctx.site.source, frozen_site(ctx), ctx.site.name),
                           (ctx.campaign.source, frozen_campaign(ctx), ctx.campaign.name)):
        assert src is not None
        if Path(src).resolve() == dst.resolve():
            continue
        text = Path(src).read_text()
        # The name defaults to the file's stem: keep it when the copy is called site.toml.
        if "name" not in read_toml(Path(src)):
            text = f"name = {json.dumps(name)}  # added by fairhep submit\n{text}"
        dst.write_text(text)
    for kind, text in scripts.items():
        script_path(ctx, kind).write_text(text)


def submit(ctx: TaskContext, chunks: list[Chunk], resume: bool) -> list[Chunk]:
    if shutil.which("sbatch") is None:
        raise SlurmError("sbatch not found on PATH: submit from a Slurm login node, or use "
                         "--dry-run to see the job scripts")
    ids: dict[str, str] = {}
    for c in chunks:
        argv = sbatch_argv(ctx, c, [ids[d] for d in c.depends_on])
        proc = subprocess.run(argv, capture_output=True, text=True, timeout=120)
        if proc.returncode != 0:
            msg = (proc.stderr.strip().splitlines() or ["no message"])[-1]
            _save_submissions(ctx, chunks, resume)  # keep what did get submitted
            raise SlurmError(f"sbatch failed for {c.kind} ({shlex.join(argv)}): {msg}")
        c.job_id = proc.stdout.strip().split(";")[0]
        ids[c.name] = c.job_id
    _save_submissions(ctx, chunks, resume)
    return chunks


def _save_submissions(ctx: TaskContext, chunks: list[Chunk], resume: bool) -> None:
    path = ctx.layout.jobs / SUBMISSIONS
    history = load_submissions(ctx)
    history.append({
        "time": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "site": ctx.site.name, "campaign": ctx.campaign.name, "resume": resume,
        "chunks": [asdict(c) for c in chunks if c.job_id],
    })
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_text(json.dumps(history, indent=2) + "\n")
    tmp.replace(path)


def load_submissions(ctx: TaskContext) -> list[dict]:
    path = ctx.layout.jobs / SUBMISSIONS
    if not path.is_file():
        return []
    try:
        data = json.loads(path.read_text())
    except (OSError, json.JSONDecodeError) as exc:
        raise FairhepError(f"{path}: unreadable submission log ({exc}); move it away to start "
                           "afresh (results are not affected)") from None
    return data if isinstance(data, list) else []


# ---- status --------------------------------------------------------------------------------

@dataclass
class ElementState:
    kind: str
    index: int  # task index within the kind
    job: str  # JOBID_ARRAYINDEX
    state: str  # Slurm state, or "UNKNOWN" when Slurm has forgotten the job
    log: Path


def latest_elements(ctx: TaskContext) -> dict[tuple[str, int], tuple[str, str]]:
    """(kind, task index) -> (array job id, array index) of its most recent submission."""
    out: dict[tuple[str, int], tuple[str, str]] = {}
    for sub in load_submissions(ctx):
        for c in sub.get("chunks", []):
            for i in c["indices"]:
                out[(c["kind"], i)] = (str(c["job_id"]), str(i - c["offset"]))
    return out


def _squeue() -> dict[str, str]:
    """'JOBID_IDX' -> state for queued/running array elements (pending ranges expanded)."""
    if shutil.which("squeue") is None:
        return {}
    proc = subprocess.run(["squeue", "--noheader", "--array", "--format=%i|%T"],
                          capture_output=True, text=True, timeout=60)
    if proc.returncode != 0:
        msg = (proc.stderr.strip().splitlines() or ["no message"])[-1]
        raise SlurmError(f"squeue failed ({msg}): is slurmctld up and SLURM_CONF right?")
    states = {}
    for line in proc.stdout.splitlines():
        job, _, state = line.strip().partition("|")
        states[job] = state
    return states


def _scontrol(job_id: str) -> dict[str, str]:
    """'JOBID_IDX' -> state for the elements Slurm still remembers (MinJobAge)."""
    if shutil.which("scontrol") is None:
        return {}
    proc = subprocess.run(["scontrol", "show", "job", "-o", job_id],
                          capture_output=True, text=True, timeout=60)
    states = {}
    for line in proc.stdout.splitlines():
        fields = dict(re.findall(r"(\w+)=(\S*)", line))
        if fields.get("ArrayJobId") and fields.get("ArrayTaskId", "").isdigit():
            states[f"{fields['ArrayJobId']}_{fields['ArrayTaskId']}"] = fields.get("JobState", "")
    return states


def job_states(ctx: TaskContext) -> list[ElementState]:
    """The Slurm state of the latest submitted element of every task without a result."""
    done = finished_tasks(ctx.layout)
    elements = latest_elements(ctx)
    if not elements:
        return []  # nothing submitted: no need to ask Slurm
    queued = _squeue()
    remembered: dict[str, str] = {}
    asked: set[str] = set()
    out = []
    for (kind, index), (job_id, arr) in sorted(elements.items()):
        task = ctx.tasks.by_kind.get(kind, ())
        if index >= len(task) or task[index].id in done:
            continue
        key = f"{job_id}_{arr}"
        state = queued.get(key)
        if state is None:
            if job_id not in asked:
                remembered.update(_scontrol(job_id))
                asked.add(job_id)
            state = remembered.get(key, "UNKNOWN")
        log = ctx.layout.logs / f"{kind}_{job_id}_{arr}.out"
        out.append(ElementState(kind, index, key, state, log))
    return out


def queued_indices(ctx: TaskContext) -> dict[str, set[int]]:
    """Tasks whose latest element is still pending or running: --resume leaves them alone."""
    busy: dict[str, set[int]] = {}
    for e in job_states(ctx):
        if e.state not in ENDED and e.state != "UNKNOWN":
            busy.setdefault(e.kind, set()).add(e.index)
    return busy


def placeholder_error(ctx: TaskContext) -> ConfigError | None:
    keys = ctx.site.placeholders()
    if not keys:
        return None
    return ConfigError(f"{ctx.site.source}: fill in {', '.join(keys)} (still {PLACEHOLDER}) "
                       "before submitting; --dry-run shows the scripts anyway")
