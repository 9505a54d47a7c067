"""The scaling study (issue 22): site keys for distributed tasks and their one-line errors,
the campaign's [scaling] tasks, the multi-node srun scripts (golden files: dgx-scaling,
hal-scaling in test_slurm_render.py), the local runner's ranks, and the report's section.

The end-to-end test runs a real 2-rank training (gloo, CPU) through the local runner; the
same on the real single-node Slurm is test_slurm_distributed.py."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

from campaign_helpers import write_campaign
from fairhep.campaign import load_campaign
from fairhep.cli import main
from fairhep.errors import ConfigError
from fairhep.report.context import Context
from fairhep.report.recordset import Record, load_record_set
from fairhep.report.sections import scaling as section
from fairhep.results import ResultRecord, iter_record_files, kinds, load_records
from fairhep.runners.local import _wait_all
from fairhep.runners.slurm.plan import plan_chunks
from fairhep.runners.slurm.script import render_scripts
from fairhep.sites import load_site
from fairhep.tasks import TASK_RECORD_KIND, TaskContext, finished_tasks


def _site(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "site.toml"
    path.write_text('scheduler = "slurm"\n' + text)
    return path


def test_job_shapes_fill_whole_nodes_and_name_the_partition() -> None:
    dgx, hal = load_site("dgx"), load_site("hal")
    assert [(s.nodes, s.tasks_per_node, s.gpus_per_node)
            for s in (dgx.job_shape(w, gpu=True) for w in (1, 4, 8, 16))] == [
        (1, 1, 1), (1, 4, 4), (1, 8, 8), (2, 8, 8)]
    shape = hal.job_shape(8, gpu=True)
    assert (shape.nodes, shape.tasks_per_node, shape.name) == (2, 4, "n2x4")
    assert hal.distributed.partition_for(shape) == "gpux8"  # HAL: partitions by total GPUs
    assert load_site("local").job_shape(2, gpu=False).tasks_per_node == 2


@pytest.mark.parametrize(("site", "world", "gpu", "says"), [
    ("", 2, True, "needs gpus_per_node, which this site does not set"),
    ("gpus_per_node = 8\n", 12, True, "12 ranks do not fill whole nodes of 8"),
    ("gpus_per_node = 8\n", 32, True, "need 4 nodes of 8, more than distributed.nodes = 1"),
    ("gpus_per_node = 4\n[distributed]\ntasks_per_node = 8\n", 8, True,
     r"tasks_per_node = 8 ranks of 1 GPU\(s\) do not fit gpus_per_node = 4"),
])
def test_a_site_that_cannot_hold_a_distributed_task_says_so_in_one_line(
        tmp_path: Path, site: str, world: int, gpu: bool, says: str) -> None:
    path = _site(tmp_path, site)
    with pytest.raises(ConfigError, match=says) as err:
        load_site(path).job_shape(world, gpu)
    assert str(err.value).startswith(str(path)) and "\n" not in str(err.value)


@pytest.mark.parametrize(("text", "says"), [
    ('scheduler = "local"\n[distributed]\nnodes = 2\n', "must be 1 with scheduler 'local'"),
    ('[distributed]\ngpu_request = "gpus"\n', "gpu_request must be one of gres, gpus-per-node"),
    ('[distributed]\npartition = "gpux{cores}"\n', "may name only {gpus}, {nodes} and {tasks}"),
])
def test_bad_distributed_keys_are_one_line_errors(tmp_path: Path, text: str, says: str) -> None:
    path = tmp_path / "bad.toml"
    path.write_text(text)
    with pytest.raises(ConfigError, match=says):
        load_site(path)


@pytest.mark.parametrize(("scaling", "says"), [
    ({"world_sizes": [2, 4]}, "must be distinct positive numbers including 1"),
    ({"world_sizes": [1, 3], "batch_size": 32}, "not a multiple of world size 3"),
    ({"modes": ["strong", "fast"]}, "scaling.modes must be distinct values of strong, weak"),
])
def test_bad_scaling_sections_are_one_line_errors(tmp_path: Path, scaling: dict[str, object],
                                                  says: str) -> None:
    path = write_campaign(tmp_path / "c.toml", "bad", scaling={"enabled": True, **scaling})
    with pytest.raises(ConfigError, match=says):
        load_campaign(path)


def test_a_campaign_without_trainings_refuses_sections_that_need_them(tmp_path: Path) -> None:
    path = write_campaign(tmp_path / "c.toml", "bad", train={"enabled": False})
    with pytest.raises(ConfigError, match="evaluate need the trained runs"):
        load_campaign(path)


def test_scaling_tasks_and_their_multi_node_scripts() -> None:
    ctx = TaskContext.create(load_site("dgx"), load_campaign("scaling"))
    tasks = ctx.tasks.by_kind["scaling"]
    assert [t.id for t in tasks[:5]] == [f"scaling-strong-w{w}" for w in (1, 2, 4, 8, 16)]
    weak16 = ctx.tasks.by_id("scaling-weak-w16")
    assert (weak16.world_size, weak16.params["batch_size"]) == (16, 16 * 128)
    assert ctx.tasks.by_id("scaling-strong-w16").params["batch_size"] == 128
    scripts = render_scripts(ctx)
    two = scripts["scaling-n2x8"]
    assert "#SBATCH --nodes=2\n#SBATCH --ntasks-per-node=8\n" in two
    assert "#SBATCH --gres=gpu:8\n" in two and "#SBATCH --signal=USR1@120" in two
    assert "exec srun --nodes=2 --ntasks-per-node=8 --kill-on-bad-exit=1 \\\n" in two
    assert "--network=host --ipc=host" in two and "--env SLURM_PROCID" in two
    assert "--kind scaling" in two
    # One array per job shape: the strong and weak runs of a size share it.
    chunks = plan_chunks(ctx, {"scaling": [t.index for t in tasks]}, 1001)
    assert [(c.script, c.indices) for c in chunks] == [
        ("scaling-n1x1", [0, 5]), ("scaling-n1x2", [1, 6]), ("scaling-n1x4", [2, 7]),
        ("scaling-n1x8", [3, 8]), ("scaling-n2x8", [4, 9])]


def test_a_failed_rank_ends_the_others() -> None:
    from fairhep.runners.local import _Stop

    stop = _Stop()
    started = time.monotonic()
    children = [subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"]),
                subprocess.Popen([sys.executable, "-c", "raise SystemExit(3)"])]
    codes = _wait_all(children, stop)
    assert codes == [-signal.SIGTERM, 3]
    assert time.monotonic() - started < 30


def _tiny_scaling(tmp_path: Path) -> TaskContext:
    path = write_campaign(
        tmp_path / "scal.toml", "the scaling study at its smallest: 1 and 2 CPU ranks",
        data={"files": 2, "jets_per_file": 60},
        train={"enabled": False}, evaluate={"enabled": False},
        scaling={"enabled": True, "modes": ["strong"], "world_sizes": [1, 2], "epochs": 1,
                 "batch_size": 20, "device": "cpu"},
        aggregate={"enabled": False})
    return TaskContext.create(load_site("local"), load_campaign(path), tmp_path / "results")


def test_a_scaling_task_started_as_one_process_is_refused(tmp_path: Path,
                                                          capsys: pytest.CaptureFixture[str],
                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("RANK", "WORLD_SIZE", "SLURM_PROCID", "SLURM_NTASKS"):
        monkeypatch.delenv(name, raising=False)
    ctx = _tiny_scaling(tmp_path)
    assert main(["task", "run", *ctx.command_args(), "--kind", "scaling", "1"]) != 0
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1
    assert "task scaling-strong-w2 trains on 2 ranks but was started as 1" in err[0]


@pytest.mark.slow  # 35-55 s on 2 busy cores: five processes that each import torch
def test_a_local_scaling_campaign_runs_its_ranks_resumes_and_reports(tmp_path: Path) -> None:
    ctx = _tiny_scaling(tmp_path)
    assert main(["submit", *ctx.command_args()]) == 0
    assert set(finished_tasks(ctx.layout)) == {t.id for t in ctx.tasks.all()}
    recs = {str(r.task_id): r for r in load_records(ctx.layout.records, kinds.TRAIN_SCALING)}
    assert sorted(recs) == ["scaling-strong-w1", "scaling-strong-w2"]
    two = recs["scaling-strong-w2"]
    # Two processes trained it, rank 0 recorded it: world size, backend, the global batch.
    assert two.config["distributed"] == {"world_size": 2, "nodes": 1, "launcher": "torchrun",
                                         "tasks_per_node": 2, "backend": "gloo"}
    assert (two.config["global_batch"], two.config["batch_per_rank"]) == (20, 10)
    assert (ctx.layout.logs / "scaling_local_1.rank1.out").is_file()
    assert not load_records(ctx.layout.records, kinds.TRAIN)  # not seeds of Table 4

    # Killed after its record but before its task record: done again without training.
    task_record = finished_tasks(ctx.layout)["scaling-strong-w2"]
    (path,) = [p for p in iter_record_files(ctx.layout.records, TASK_RECORD_KIND)
               if json.loads(p.read_text())["record_id"] == task_record.record_id]
    path.unlink()
    assert "scaling-strong-w2" not in finished_tasks(ctx.layout)
    checkpoint = ctx.layout.run_dir("scaling-strong-w2") / "checkpoint.pth"
    before = checkpoint.stat().st_mtime_ns
    assert main(["submit", *ctx.command_args(), "--resume"]) == 0
    assert "scaling-strong-w2" in finished_tasks(ctx.layout)
    assert checkpoint.stat().st_mtime_ns == before
    assert len(load_records(ctx.layout.records, kinds.TRAIN_SCALING)) == 2

    built = section.build(_report_context(ctx, tmp_path))
    table = built.table("scaling")
    w1, w2 = table.one(Ranks="1"), table.one(Ranks="2")
    assert w2.values["speedup"] == pytest.approx(
        two.metrics["jets_per_s"] / recs["scaling-strong-w1"].metrics["jets_per_s"])
    assert w2.values["efficiency"] == pytest.approx(w2.values["speedup"] / 2)
    assert w1["Speed-up"] == "1.00" and w2["Backend"] == "gloo"
    print(f"local, gloo, 2 ranks vs 1 (tiny IN, 120 jets): speed-up {w2['Speed-up']}")
    figure = built.figures[0]
    assert figure.png.is_file()
    assert figure.csv.read_text().splitlines()[0] == (
        "series,world_size,nodes,s_per_epoch,jets_per_s,speedup,efficiency")


def _report_context(ctx: TaskContext, tmp_path: Path) -> Context:
    return Context(load_record_set([ctx.layout.root]), tmp_path / "figures")


def _train_record(end: datetime, took_s: float, task: str | None) -> Record:
    rec = ResultRecord(kind=kinds.TRAIN, task_id=task, timings={"total_s": took_s},
                       created=end.strftime("%Y-%m-%dT%H:%M:%S.%fZ"),
                       provenance={"generated": "test fixture"})
    return Record(rec, "A100", "x.json")


def test_throughput_counts_the_array_of_trainings_per_hour() -> None:
    t0 = datetime(2026, 1, 1, tzinfo=timezone.utc)
    recs = [_train_record(t0 + timedelta(hours=1), 3600, "train-a"),  # 0h - 1h
            _train_record(t0 + timedelta(hours=1.5), 3600, "train-b"),  # 0.5h - 1.5h
            _train_record(t0 + timedelta(hours=2), 1800, "train-c"),  # 1.5h - 2h
            _train_record(t0 + timedelta(hours=9), 60, None)]  # ad hoc: not the array
    (only,) = section.throughput_rows(recs)
    assert only.values["trainings"] == 3 and only.values["at_once"] == 2
    assert only.values["span_h"] == pytest.approx(2.0)
    assert only.values["models_per_hour"] == pytest.approx(1.5)
    assert only.values["time_to_train_min"] == pytest.approx(50.0)
