"""A campaign's `[loadgen]` section: MLPerf LoadGen tasks on a trained run through the local
runner (as any other bench task: records with the task's id, done once, skipped on resume),
and a bad scenario refused in one line naming the file."""

from __future__ import annotations

from pathlib import Path

import pytest

from campaign_helpers import write_campaign
from fairhep.campaign import load_campaign
from fairhep.cli import main
from fairhep.errors import ConfigError
from fairhep.results import kinds, load_records
from fairhep.sites import load_site
from fairhep.tasks import TaskContext, expand, finished_tasks

LOADGEN = {"enabled": True, "device": "cpu", "backends": ["fast"], "max_jets": 32,
           "scenarios": ["SingleStream", "Offline"], "seconds": 0.2, "queries": 16,
           "batch": 16}


def test_loadgen_tasks_run_locally_record_and_resume(tmp_path: Path,
                                                     capsys: pytest.CaptureFixture[str]) -> None:
    pytest.importorskip("mlperf_loadgen", reason="mlcommons-loadgen not installed "
                        "(pip install 'fairhep[loadgen]')")
    path = write_campaign(tmp_path / "lg.toml", "loadgen tasks on a toy run",
                          evaluate={"enabled": False}, loadgen=LOADGEN,
                          aggregate={"enabled": False})
    ctx = TaskContext.create(load_site("local"), load_campaign(path), tmp_path / "results")
    assert [t.id for t in ctx.tasks.by_kind["loadgen"]] == ["loadgen-s0-kfold-f0"]
    assert ctx.tasks.dependencies("loadgen") == ["data", "train"]
    assert main(["submit", *ctx.command_args()]) == 0
    done = finished_tasks(ctx.layout)
    assert "loadgen-s0-kfold-f0" in done
    recs = load_records(ctx.layout.records, kinds.BENCH_LOADGEN)
    ran = {r.config["scenario"]: r for r in recs if r.config["label"] == "fast-cpu"}
    assert set(ran) == {"SingleStream", "Offline"}
    for r in ran.values():
        assert r.task_id == "loadgen-s0-kfold-f0" and r.provenance["site"] == "local"
        assert r.config["loadgen"]["min_duration_ms"] == 200
        assert r.metrics["latency_ns"]["p50"] > 0
    capsys.readouterr()
    assert main(["submit", *ctx.command_args(), "--resume"]) == 0
    assert capsys.readouterr().out.startswith("nothing to do")
    assert len(load_records(ctx.layout.records, kinds.BENCH_LOADGEN)) == len(recs)


def test_a_campaign_off_by_default_and_a_bad_scenario_in_one_line(tmp_path: Path) -> None:
    plain = load_campaign(write_campaign(tmp_path / "plain.toml", "no loadgen"))
    assert "loadgen" not in expand(plain).by_kind
    bad = write_campaign(tmp_path / "bad.toml", "bad", loadgen={"enabled": True,
                                                               "scenarios": ["Bogus"]})
    with pytest.raises(ConfigError) as e:
        load_campaign(bad)
    msg = str(e.value)
    assert str(bad) in msg and "Bogus" in msg and "SingleStream" in msg and "\n" not in msg
