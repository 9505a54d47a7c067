"""Submitting and following a campaign on Slurm: the job files, ``sbatch``, the submission
log (``jobs/submissions.json``), and the state of every submitted element from ``squeue`` and
``scontrol show job -o`` (Slurm accounting may be off, so no sacct).

Every command goes through :func:`~fairhep.runners.slurm.command.run_slurm`: no shell, and a
busy controller's transient failures retried.
"""

from __future__ import annotations

import json
import os
import re
import shlex
import shutil
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from fairhep.configfile import read_toml
from fairhep.errors import ConfigError, FairhepError
from fairhep.runners.slurm.command import SlurmError, run_slurm
from fairhep.runners.slurm.plan import Chunk, sbatch_argv
from fairhep.runners.slurm.script import frozen_campaign, frozen_site, script_path
from fairhep.sites import submit_refusal
from fairhep.tasks import TaskContext, finished_tasks

SUBMISSIONS = "submissions.json"
# Job states after which an element no longer runs (squeue/scontrol spellings).
ENDED = {"COMPLETED", "FAILED", "CANCELLED", "TIMEOUT", "OUT_OF_MEMORY", "NODE_FAIL",
         "PREEMPTED", "BOOT_FAIL", "DEADLINE", "REVOKED"}

# What scontrol says of a job it no longer remembers (MinJobAge): an answer, not a failure.
FORGOTTEN = re.compile(r"invalid job id", re.IGNORECASE)


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
        try:
            proc = run_slurm(argv, "submit", timeout=120,
                             hint=f" for {c.kind} ({shlex.join(argv)}); see squeue, then "
                                  "`fairhep submit --resume` submits what is missing")
        except SlurmError:
            _save_submissions(ctx, chunks, resume)  # keep what did get submitted
            raise
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


def load_submissions(ctx: TaskContext) -> list[dict[str, Any]]:
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
    proc = run_slurm(["squeue", "--noheader", "--array", "--format=%i|%T"], "query",
                     hint=": is slurmctld up and SLURM_CONF right?")
    states = {}
    for line in proc.stdout.splitlines():
        job, _, state = line.strip().partition("|")
        states[job] = state
    return states


def _scontrol(job_id: str) -> dict[str, str]:
    """'JOBID_IDX' -> state for the elements Slurm still remembers (MinJobAge)."""
    if shutil.which("scontrol") is None:
        return {}
    proc = run_slurm(["scontrol", "show", "job", "-o", job_id], "query", answer=FORGOTTEN,
                     hint=": is slurmctld up and SLURM_CONF right?")
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


def is_queued(state: str) -> bool:
    """Still pending or running: any state Slurm reports that is not one of the ends."""
    return state not in ENDED and state != "UNKNOWN"


def queued_indices(ctx: TaskContext) -> dict[str, set[int]]:
    """Tasks whose latest element is still pending or running: --resume leaves them alone."""
    busy: dict[str, set[int]] = {}
    for e in job_states(ctx):
        if is_queued(e.state):
            busy.setdefault(e.kind, set()).add(e.index)
    return busy


def placeholder_error(ctx: TaskContext) -> ConfigError | None:
    why = submit_refusal(ctx.site)  # the rule `fairhep sites check` reports too
    return None if why is None else ConfigError(why)
