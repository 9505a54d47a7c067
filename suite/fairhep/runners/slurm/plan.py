"""What to submit: one sbatch call per chunk of a kind's array, kinds chained by dependencies.

Arrays longer than the cluster's ``MaxArraySize`` are split into chunks (an array index must
stay below it); a chunk's offset is exported to its job as ``FAIRHEP_INDEX_OFFSET``.
"""

from __future__ import annotations

import re
import shlex
import shutil
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

from fairhep.runners.slurm.command import SlurmError, run_slurm
from fairhep.runners.slurm.script import log_pattern, script_of, script_path
from fairhep.tasks import TaskContext

DEFAULT_MAX_ARRAY_SIZE = 1001  # Slurm's default MaxArraySize


@dataclass
class Chunk:
    """One sbatch call: some tasks of one kind as an array, offset by ``offset``."""

    kind: str
    name: str  # shell variable name in the dry-run listing, e.g. train_0
    offset: int
    indices: list[int]  # task indices within the kind
    depends_on: list[str] = field(default_factory=list)  # names of earlier chunks
    job_id: str | None = None
    script: str = ""  # its job file (script_path); "" = the kind's

    @property
    def script_name(self) -> str:
        return self.script or self.kind

    def array_spec(self, throttle: int) -> str:
        spec = compress([i - self.offset for i in self.indices])
        return f"{spec}%{throttle}" if throttle else spec


def compress(values: Iterable[int]) -> str:
    """[0,1,2,5,7,8] -> '0-2,5,7-8'."""
    runs: list[list[int]] = []  # [first, last] of each run of consecutive values
    for v in sorted(set(values)):
        if runs and v == runs[-1][1] + 1:
            runs[-1][1] = v
        else:
            runs.append([v, v])
    return ",".join(str(a) if a == b else f"{a}-{b}" for a, b in runs)


def max_array_size() -> int:
    """MaxArraySize of the cluster (``scontrol show config``, retried while the controller is
    busy); Slurm's default where there is no controller to ask (``--dry-run`` on a laptop)."""
    if shutil.which("scontrol") is None:
        return DEFAULT_MAX_ARRAY_SIZE
    try:
        out = run_slurm(["scontrol", "show", "config"], "query", timeout=30).stdout
    except SlurmError:
        return DEFAULT_MAX_ARRAY_SIZE
    m = re.search(r"^MaxArraySize\s*=\s*(\d+)", out, re.MULTILINE)
    return int(m.group(1)) if m else DEFAULT_MAX_ARRAY_SIZE


def plan_chunks(ctx: TaskContext, todo: dict[str, list[int]], array_size: int) -> list[Chunk]:
    """Chunks in submission order; each depends on every chunk of the kinds it needs."""
    chunks: list[Chunk] = []
    by_kind: dict[str, list[Chunk]] = {}
    for kind in ctx.tasks.kinds():
        indices = sorted(todo.get(kind, []))
        if not indices:
            continue
        deps = [c.name for k in ctx.tasks.dependencies(kind) for c in by_kind.get(k, [])]
        groups: dict[tuple[str, int], list[int]] = {}
        tasks = ctx.tasks.by_kind[kind]
        for i in indices:
            # An array index must stay below MaxArraySize: chunk k covers [k*size, (k+1)*size).
            # A distributed kind has one script per job shape, so one array per shape too.
            script = script_of(ctx, tasks[i])
            groups.setdefault((script, i // array_size), []).append(i)
        order = sorted(groups, key=lambda g: (groups[g][0], g[1]))
        kind_chunks = [
            Chunk(kind, f"{kind}_{n}", k * array_size, groups[(script, k)], list(deps),
                  script="" if script == kind else script)
            for n, (script, k) in enumerate(order)
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
    argv.append(str(script_path(ctx, chunk.script_name)))
    return argv


def submission_listing(ctx: TaskContext, chunks: list[Chunk]) -> str:
    """The sbatch calls as a shell snippet (job ids in variables): what --dry-run prints."""
    lines = []
    for c in chunks:
        dep_ids = [f"${{{d}}}" for d in c.depends_on]
        # Only the dependency word holds ${...}: chunk names and fixed text, so double
        # quotes are safe there; every other word is single-quoted as needed.
        words = [f'"{arg}"' if arg.startswith("--dependency=") else shlex.quote(arg)
                 for arg in sbatch_argv(ctx, c, dep_ids)]
        lines.append(f"{c.name}=$({' '.join(words)})")
    return "\n".join(lines) + "\n"
