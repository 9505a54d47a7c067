"""``fairhep submit``, ``fairhep status`` and ``fairhep task run|list``: campaigns on sites."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from fairhep.cli._engine import add_engine_settings_options, engine_settings
from fairhep.cli._values import positive_int

if TYPE_CHECKING:
    from fairhep.tasks import TaskContext


def _common(p: argparse.ArgumentParser, site_required: bool = True) -> None:
    p.add_argument("--site", required=site_required, default="local",
                   help="site name (site_configs/NAME.toml) or path to a site .toml")
    p.add_argument("--campaign", required=True,
                   help="built-in campaign (paper, smoke) or path to a campaign .toml")
    p.add_argument("--site-dir", type=Path, help="look here first for site files")
    p.add_argument("--results", type=Path,
                   help="results root (default: the site's paths.results); the campaign's "
                   "results go to RESULTS/SITE/CAMPAIGN")


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser(
        "submit", help="run a campaign on a site: Slurm job arrays, or locally",
        description="Slurm sites: render one sbatch script per task kind, submit the arrays "
        "(chained with afterany dependencies, split at MaxArraySize, throttled with the site's "
        "max_concurrent_tasks) and an aggregation job. Local sites: run the tasks here.",
    )
    _common(p)
    p.add_argument("--dry-run", action="store_true",
                   help="print the job scripts and sbatch command lines; submit nothing")
    p.add_argument("--resume", action="store_true",
                   help="only tasks without a valid result (and not already queued)")
    p.add_argument("--max-array-size", type=positive_int,
                   help="split arrays at this size (default: MaxArraySize from scontrol)")
    p.set_defaults(func=_submit)

    p = sub.add_parser("status", help="done / pending / running / failed tasks of a campaign")
    _common(p)
    p.add_argument("--tail", type=int, default=10, help="log lines shown per failed task")
    p.set_defaults(func=_status)

    p = sub.add_parser("task", help="run or list the tasks of a campaign (what a job runs)")
    tsub = p.add_subparsers(dest="task_command", metavar="ACTION", required=True)
    run = tsub.add_parser(
        "run", help="run one task (skipped if its result exists)",
        description="Run one task of CAMPAIGN: `--kind KIND INDEX` (INDEX within the kind: the "
        "Slurm array index) or a task id (`train-s0-kfold-f0`). A task whose result record "
        "exists is skipped; training resumes from its checkpoint; on SIGTERM training "
        "checkpoints and the command exits 143 so that a resubmission continues.",
    )
    _run_options(run, suppress=False)
    # Options may come after the positionals (`task run smoke --kind train 3`), which plain
    # argparse cannot mix with an optional positional: the rest is re-parsed intermixed.
    run.add_argument("words", nargs=argparse.REMAINDER, metavar="[CAMPAIGN] INDEX|TASK_ID",
                     help="campaign (or --campaign), then the index within --kind or a task id")
    run.set_defaults(func=_task_run)
    lst = tsub.add_parser("list", help="the tasks of a campaign with kind, index and id")
    lst.add_argument("campaign_pos", metavar="CAMPAIGN")
    lst.set_defaults(func=_task_list)


def _run_options(p: argparse.ArgumentParser, suppress: bool) -> None:
    """The options of `task run`; ``suppress`` for the re-parse of the words after the
    positionals, which must not overwrite what the first parse found."""
    def default(value: object) -> object:
        return argparse.SUPPRESS if suppress else value

    p.add_argument("--kind", help="task kind the INDEX refers to (data, train, evaluate, ...)",
                   default=default(None))
    p.add_argument("--site", help="site name or .toml (default: local)",
                   default=default("local"))
    p.add_argument("--campaign", help="campaign name or .toml", default=default(None))
    p.add_argument("--site-dir", type=Path, default=default(None))
    p.add_argument("--results", type=Path, default=default(None))
    p.add_argument("--force", action="store_true", help="run even if a result exists",
                   default=default(False))
    add_engine_settings_options(p, suppress)


def _context(args: argparse.Namespace, campaign: str | None = None) -> TaskContext:
    from fairhep.campaign import load_campaign
    from fairhep.sites import load_site
    from fairhep.tasks import TaskContext

    site = load_site(args.site, args.site_dir)
    # `submit` has no --engine-* options: its local tasks (and its jobs' `task run`) take
    # the FAIRHEP_ENGINE_* variables.
    return TaskContext.create(site, load_campaign(campaign or args.campaign), args.results,
                              engine_settings(args))


def _resume_command(ctx: TaskContext) -> str:
    import shlex

    return shlex.join(["fairhep", "submit", *ctx.command_args(), "--resume"])


def _submit(args: argparse.Namespace) -> int:
    import signal

    from fairhep.runners import check_site, submit

    ctx = _context(args)
    if args.dry_run:
        for w in check_site(ctx.site):
            print(f"warning: {w}", file=sys.stderr)
    result = submit(ctx, dry_run=args.dry_run, resume=args.resume,
                    array_size=args.max_array_size)
    if result.report is not None:
        print(f"report: {result.report.with_name('report.md')}\nreport: {result.report}")
    if result.stopped_by:
        print(f"fairhep submit: stopped by {result.stopped_by}; {len(result.undone)} task(s) "
              f"left undone (nothing of them is recorded as done):", file=sys.stderr)
        for line in result.undone:
            print(f"  {line}", file=sys.stderr)
        print(f"continue with: {_resume_command(ctx)}", file=sys.stderr)
        return 128 + int(getattr(signal, result.stopped_by, signal.SIGTERM))
    if result.failed:
        print(f"{len(result.failed)} task(s) failed:", file=sys.stderr)
        for line in result.failed:
            print(f"  {line}", file=sys.stderr)
        print(f"after fixing them: {_resume_command(ctx)}", file=sys.stderr)
        return 1
    return 0


def _status(args: argparse.Namespace) -> int:
    from fairhep.runners import campaign_status

    ctx = _context(args)
    rows = campaign_status(ctx, tail_lines=args.tail)
    print(f"campaign {ctx.campaign.name} on {ctx.site.name}: {ctx.layout.root}")
    header = (f"{'kind':<11}{'total':>6}{'done':>6}{'pending':>9}{'running':>9}{'failed':>8}"
              f"{'not submitted':>15}")
    print(header)
    for r in rows:
        print(f"{r.kind:<11}{r.total:>6}{r.done:>6}{r.pending:>9}{r.running:>9}{r.failed:>8}"
              f"{r.not_submitted:>15}")
    for r in rows:
        for f in r.failures:
            print(f"\n{f.task_id} ({f.where}): {f.state}" + (f"  log {f.log}" if f.log else ""))
            for line in f.tail:
                print(f"    {line}")
    total = sum(r.total for r in rows)
    done = sum(r.done for r in rows)
    print(f"\n{done}/{total} tasks done" + ("" if done == total else
          f"; the rest: {_resume_command(ctx)}"))
    return 0


def _task_run(args: argparse.Namespace) -> int:
    from fairhep.errors import ConfigError
    from fairhep.tasks import EXIT_INTERRUPTED, run_task

    inner = argparse.ArgumentParser(prog="fairhep task run")
    _run_options(inner, suppress=True)
    inner.add_argument("positional", nargs="+", metavar="[CAMPAIGN] INDEX|TASK_ID")
    args = inner.parse_intermixed_args(args.words, namespace=args)
    words: list[str] = args.positional
    if len(words) > 2 or (len(words) == 2 and args.campaign):
        raise ConfigError(f"task run: expected [CAMPAIGN] INDEX|TASK_ID, got {' '.join(words)}")
    campaign = args.campaign or (words[0] if len(words) == 2 else None)
    args.task = words[-1]
    if not campaign:
        raise ConfigError("task run: give the campaign (positional CAMPAIGN or --campaign)")
    ctx = _context(args, campaign)
    if args.kind:
        if not args.task.isdigit():
            raise ConfigError(f"task run: with --kind, give an index (got {args.task!r})")
        task = ctx.tasks.get(args.kind, int(args.task))
    else:
        task = ctx.tasks.by_id(args.task)
    print(f"fairhep task {task.id} ({task.kind} {task.index}) of {ctx.campaign.name} "
          f"on {ctx.site.name}", flush=True)
    outcome = run_task(ctx, task, force=args.force)
    if outcome.status == "already-done":
        print(f"{task.id}: result exists, nothing to do")
    elif outcome.status == "interrupted":
        print(f"{task.id}: interrupted; checkpoint kept, run it again to continue",
              file=sys.stderr)
        return EXIT_INTERRUPTED
    elif outcome.record is None:  # a rank other than 0 of a distributed task
        print(f"{task.id}: done (rank 0 writes the record)")
    else:
        print(f"{task.id}: done ({outcome.record})")
    return 0


def _task_list(args: argparse.Namespace) -> int:
    from fairhep.campaign import load_campaign
    from fairhep.tasks import expand

    campaign = load_campaign(args.campaign_pos)
    for t in expand(campaign).all():
        params = " ".join(f"{k}={v}" for k, v in t.params.items())
        print(f"{t.kind:<11}{t.index:>4}  {t.id:<26} {params}")
    return 0
