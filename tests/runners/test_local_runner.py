"""The local runner: a campaign's tasks on this machine, idempotent, with status and errors.

The default test runs a tiny campaign (data, three trainings, evaluations, aggregation)
in-process; the full `smoke` campaign locally (export, frameworks, sweep too) is `slow`
(the Slurm end-to-end test runs it on every `make test`).
"""

from __future__ import annotations

import shlex
from pathlib import Path

import pytest

from campaign_helpers import write_campaign
from fairhep.campaign import load_campaign
from fairhep.cli import main
from fairhep.results import load_records
from fairhep.runners import campaign_status, submit
from fairhep.runners.local import run_local
from fairhep.sites import load_site
from fairhep.tasks import TASK_RECORD_KIND, TaskContext, finished_tasks


@pytest.fixture
def tiny(tmp_path: Path) -> TaskContext:
    path = write_campaign(
        tmp_path / "tiny.toml", "smoke, smaller still: the local runner's test",
        data={"files": 3, "jets_per_file": 60, "seed": 7},
        train={"splits": ["kfold", "files", "points"], "epochs": 2, "batch_size": 30,
               "hidden": 8, "de": 4, "do": 4})
    return TaskContext.create(load_site("local"), load_campaign(path), tmp_path / "results")


def test_local_runner_runs_a_campaign_end_to_end_once(tiny: TaskContext,
                                                      capsys: pytest.CaptureFixture[str]) -> None:
    ctx = tiny
    cli = ["submit", *ctx.command_args()]
    assert main(cli) == 0
    ids = {t.id for t in ctx.tasks.all()}
    done = finished_tasks(ctx.layout)
    assert set(done) == ids
    assert done["aggregate"].metrics["complete"] is True
    html = Path(done["aggregate"].metrics["report"])
    assert html.is_file() and html.with_name("report.md").is_file()
    # It says where its report is.
    out = capsys.readouterr().out
    assert f"report: {html.with_name('report.md')}\nreport: {html}" in out
    # --resume with everything done: nothing runs, no progress bar, the report again.
    assert main([*cli, "--resume"]) == 0
    out = capsys.readouterr().out
    assert out.startswith(f"nothing to do: every task of tiny on local has a result "
                          f"({ctx.layout.root})")
    assert "%" not in out and "━" not in out
    assert f"report: {html}" in out
    trains = load_records(ctx.layout.records, "train")
    assert sorted(str(r.task_id) for r in trains) == sorted(
        t.id for t in ctx.tasks.by_kind["train"])
    assert {r.config["split"] for r in trains} == {"kfold", "files", "points"}
    evals = load_records(ctx.layout.records, "evaluate")
    assert len(evals) == 3
    for r in evals:
        assert r.provenance["site"] == "local" and str(r.task_id).startswith("evaluate-")
        assert r.metrics["n_jets"] == 60 and 0.0 <= r.metrics["auc"] <= 1.0

    # Idempotent: a second run finds every result and writes nothing.
    before = sorted(p.name for p in ctx.layout.records.rglob("*.json"))
    again = run_local(ctx, ctx.tasks.all(), progress=False)
    assert {r.status for r in again} == {"already-done"}
    assert sorted(p.name for p in ctx.layout.records.rglob("*.json")) == before

    rows = {r.kind: r for r in campaign_status(ctx)}
    assert all(r.done == r.total for r in rows.values())
    assert main(["status", "--site", "local", "--campaign", str(ctx.campaign.source),
                 "--results", str(ctx.layout.root.parent.parent)]) == 0
    assert f"{len(ids)}/{len(ids)} tasks done" in capsys.readouterr().out


def test_task_before_its_inputs_fails_in_one_line(tiny: TaskContext,
                                                  capsys: pytest.CaptureFixture[str]) -> None:
    args = ["task", "run", str(tiny.campaign.source), "--results",
            str(tiny.layout.root.parent.parent), "--kind", "evaluate", "1"]
    assert main(args) == 1
    err = capsys.readouterr().err.strip()
    assert "\n" not in err
    assert "evaluate-s0-files-f0 needs the trained run of train-s0-files-f0" in err
    assert main(["task", "run", str(tiny.campaign.source), "--results",
                 str(tiny.layout.root.parent.parent), "--kind", "train", "9"]) == 1
    assert "no index 9" in capsys.readouterr().err


def test_process_pool_reports_failures_with_their_logs(tiny: TaskContext) -> None:
    ctx = tiny
    # Evaluations without trained runs: each subprocess fails fast, with its reason logged.
    results = run_local(ctx, list(ctx.tasks.by_kind["evaluate"]), workers=2, progress=False)
    assert [r.status for r in results] == ["failed"] * 3
    assert all("exit 1" in r.message and "needs the trained run" in r.message for r in results)
    rows = {r.kind: r for r in campaign_status(ctx)}
    assert (rows["evaluate"].failed, rows["evaluate"].done) == (3, 0)
    assert rows["train"].not_submitted == 3
    failure = rows["evaluate"].failures[0]
    assert failure.log is not None and failure.log.name == "evaluate_local_0.out"
    assert any("needs the trained run of train-s0-kfold-f0" in line for line in failure.tail)
    assert not load_records(ctx.layout.records, TASK_RECORD_KIND, errors=[])


def test_status_prints_the_whole_resume_command(tiny: TaskContext,
                                                capsys: pytest.CaptureFixture[str]) -> None:
    ctx = tiny
    assert main(["status", *ctx.command_args()]) == 0
    last = capsys.readouterr().out.strip().splitlines()[-1]
    assert last.startswith(f"0/{len(ctx.tasks.all())} tasks done; the rest: ")
    command = shlex.split(last.split("; the rest: ", 1)[1])
    assert command == ["fairhep", "submit", "--site", "local", "--campaign",
                       str(ctx.campaign.source), "--results", str(ctx.layout.root.parent.parent),
                       "--resume"]
    assert main([*command[1:-1], "--dry-run", "--resume"]) == 0  # it parses and finds all


def test_local_dry_run_for_a_site_given_by_path_prints_commands_that_work(
        tiny: TaskContext, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    site = tmp_path / "own sites" / "laptop.toml"  # no site directory knows it
    site.parent.mkdir()
    site.write_text('scheduler = "local"\n')
    results = tmp_path / "out"
    assert main(["submit", "--site", str(site), "--campaign", str(tiny.campaign.source),
                 "--results", str(results), "--dry-run"]) == 0
    lines = [ln for ln in capsys.readouterr().out.splitlines() if ln.startswith("fairhep ")]
    assert len(lines) == len(tiny.tasks.all())
    data = shlex.split(lines[0].split("    # ")[0])
    assert data[:3] == ["fairhep", "task", "run"]
    assert data[data.index("--site") + 1] == str(site)
    assert main(data[1:]) == 0  # the printed command runs as printed
    assert "data: done" in capsys.readouterr().out
    assert (results / "laptop" / "tiny" / "data" / "train").is_dir()


@pytest.mark.slow
def test_full_smoke_campaign_locally(tmp_path: Path) -> None:
    ctx = TaskContext.create(load_site("local"), load_campaign("smoke"), tmp_path)
    assert submit(ctx).failed == []
    assert set(finished_tasks(ctx.layout)) == {t.id for t in ctx.tasks.all()}
    assert load_records(ctx.layout.records, "bench.frameworks")
    assert load_records(ctx.layout.records, "bench.sweep")


def test_a_stopped_campaign_leaves_its_bar_where_it_stopped_not_at_100_percent(
        tiny: TaskContext, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    import signal

    import fairhep.runners.local as local

    ran: list[str] = []

    def first_done_then_ctrl_c(ctx, task, stop):
        ran.append(task.id)
        if len(ran) == 1:
            return local.LocalResult(task, "done")
        return local.LocalResult(task, "interrupted", "stopped by a signal", 0.0,
                                 signal.SIGINT)

    monkeypatch.setattr(local, "_in_process", first_done_then_ctrl_c)
    results = run_local(tiny, tiny.tasks.all(), workers=1, progress=True)
    assert [r.status for r in results][:3] == ["done", "interrupted", "not-started"]
    out = capsys.readouterr().out  # rich leaves the bar's last state in a log
    assert "100%" not in out and f"{tiny.campaign.name}: stopped" in out
    assert f"{100 * 1 // len(results)}%" in out  # one task of them ran through
