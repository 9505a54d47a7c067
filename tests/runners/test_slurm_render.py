"""Rendered sbatch scripts: recorded expected scripts per site, array splitting, quoting.

The expected scripts in tests/expected/<case>/ are what `fairhep submit --dry-run` writes for
the paper campaign (hal, dgx, thetagpu), the smoke campaign (ci-slurm) and the scaling study
(dgx-scaling: up to 2 nodes of 8 A100s; hal-scaling: up to 4 nodes of 4 V100s). After an intended
change to the templates or the site files, regenerate them and review the diff:

    FAIRHEP_REGENERATE_EXPECTED=1 .venv/bin/python -m pytest tests/runners/test_slurm_render.py
    git diff tests/expected
"""

from __future__ import annotations

import json
import os
import shlex
import stat
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from fairhep.campaign import load_campaign
from fairhep.errors import ConfigError
from fairhep.runners import campaign_status, submit
from fairhep.runners.slurm.plan import (
    DEFAULT_MAX_ARRAY_SIZE,
    compress,
    plan_chunks,
    sbatch_argv,
    submission_listing,
)
from fairhep.runners.slurm.script import render_scripts
from fairhep.sites import load_site
from fairhep.tasks import TaskContext

EXPECTED = Path(__file__).parents[1] / "expected"
REGENERATE = os.environ.get("FAIRHEP_REGENERATE_EXPECTED") == "1"
CASES = {"hal": "paper", "dgx": "paper", "thetagpu": "paper", "ci-slurm": "smoke",
         "dgx-scaling": "scaling", "hal-scaling": "scaling"}
# ci-slurm's results path is relative (machine-dependent once resolved): pin it for the record.
RESULTS = {"ci-slurm": Path("/srv/fairhep-results")}


def context(site: str, campaign: str, results: Path | None = None) -> TaskContext:
    return TaskContext.create(load_site(site), load_campaign(campaign), results)


@pytest.mark.parametrize("site", sorted(CASES))
def test_rendered_scripts_match_the_recorded_ones(site: str) -> None:
    ctx = context(site.removesuffix("-scaling"), CASES[site], RESULTS.get(site))
    rendered = dict(render_scripts(ctx))
    chunks = plan_chunks(ctx, {k: [t.index for t in v] for k, v in ctx.tasks.by_kind.items()},
                        DEFAULT_MAX_ARRAY_SIZE)
    rendered["submit.sh"] = submission_listing(ctx, chunks)
    folder = EXPECTED / site
    if REGENERATE:
        folder.mkdir(parents=True, exist_ok=True)
        for old in folder.iterdir():
            old.unlink()
        for kind, text in rendered.items():
            name = kind if kind.endswith(".sh") else f"{kind}.sbatch"
            (folder / name).write_text(text)
    expected = {p.name.removesuffix(".sbatch"): p.read_text() for p in sorted(folder.iterdir())}
    assert sorted(expected) == sorted(rendered), "regenerate: see this module's docstring"
    for kind, text in rendered.items():
        assert text == expected[kind], f"{site}/{kind} differs: see this module's docstring"
        proc = subprocess.run(["bash", "-n"], input=text, capture_output=True, text=True,
                              check=False)
        assert proc.returncode == 0, proc.stderr


def test_scripts_carry_the_sites_settings() -> None:
    hal = render_scripts(context("hal", "paper"))
    assert "#SBATCH --gres=gpu:1" in hal["train"]
    assert "#SBATCH --gres=gpu:1" not in hal["aggregate"]  # no GPU to build a report
    assert "#SBATCH --time=24:00:00" in hal["train"]
    assert "#SBATCH --partition=gpux1" in hal["train"]
    assert "#SBATCH --signal=B:TERM@120" in hal["train"]
    assert "apptainer run --nv" in hal["train"]
    assert "apptainer run" in hal["export"] and "--nv" not in hal["export"]  # CPU-only task
    dgx = render_scripts(context("dgx", "paper"))
    assert "docker run --rm" in dgx["train"] and "--gpus" in dgx["train"]
    ci = render_scripts(context("ci-slurm", "smoke", Path("/r")))
    assert "exec fairhep task run" in ci["train"]
    assert "--gres" not in ci["train"] and "--account" not in ci["train"]
    assert 'export OMP_NUM_THREADS="${SLURM_CPUS_PER_TASK:-1}"' in ci["train"]


def test_large_arrays_are_split_at_max_array_size() -> None:
    ctx = context("hal", "paper")
    todo = {k: [t.index for t in v] for k, v in ctx.tasks.by_kind.items()}
    chunks = plan_chunks(ctx, todo, 64)
    train = [c for c in chunks if c.kind == "train"]
    assert [c.offset for c in train] == [0, 64, 128]
    assert [c.array_spec(8) for c in train] == ["0-63%8", "0-63%8", "0-11%8"]
    # every element stays below MaxArraySize and every task is covered exactly once
    covered = sorted(i for c in train for i in c.indices)
    assert covered == list(range(140))
    assert all(i - c.offset < 64 for c in train for i in c.indices)
    evaluate = [c for c in chunks if c.kind == "evaluate"]
    assert all(c.depends_on == ["train_0", "train_1", "train_2"] for c in evaluate)
    agg = next(c for c in chunks if c.kind == "aggregate")
    assert "sweep_0" in agg.depends_on and "evaluate_2" in agg.depends_on
    argv = sbatch_argv(ctx, train[1], ["11"])
    assert "--export=ALL,FAIRHEP_INDEX_OFFSET=64" in argv
    assert "--dependency=afterany:11" in argv


def test_resume_style_subsets_compress_to_short_array_specs() -> None:
    assert compress([0, 1, 2, 5, 7, 8, 9]) == "0-2,5,7-9"
    assert compress([3]) == "3"
    ctx = context("ci-slurm", "smoke", Path("/r"))
    chunks = plan_chunks(ctx, {"train": [2], "evaluate": [0, 2], "aggregate": [0]}, 1001)
    assert [(c.kind, c.array_spec(2), c.depends_on) for c in chunks] == [
        ("train", "2%2", []), ("evaluate", "0,2%2", ["train_0"]),
        ("aggregate", "0%2", ["train_0", "evaluate_0"])]


def test_submit_refuses_placeholders_but_dry_run_renders(
    capsys: pytest.CaptureFixture[str],
) -> None:
    ctx = context("thetagpu", "paper")
    with pytest.raises(ConfigError, match="CHANGE-ME"):
        submit(ctx, array_size=1001)
    submit(ctx, dry_run=True, array_size=1001)
    out = capsys.readouterr().out
    assert out.count("#!/bin/bash") == len(ctx.tasks.kinds()) == 8
    assert "train_0=$(sbatch --parsable --array=0-139%16" in out


# ---- quoting: nothing in a site value or path may run as a command ------------------------

EVIL = "it's a \"dir\" $(touch PWNED) `touch PWNED` ; touch PWNED & x"

RECORDER = """#!{python}
import json, os, sys
with open(os.environ["RECORD_FILE"], "a") as fh:
    fh.write(json.dumps({{"prog": os.path.basename(sys.argv[0]), "argv": sys.argv[1:],
                         "EVIL_VAR": os.environ.get("EVIL_VAR")}}) + "\\n")
print("4242")
"""


def _recorder(path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(RECORDER.format(python=sys.executable))
    path.chmod(path.stat().st_mode | stat.S_IXUSR)
    return path


def _toml(body: dict[str, Any]) -> str:
    """A tiny TOML writer for the nested tables used here (values: str, int, list of str)."""
    def value(v: object) -> str:
        if isinstance(v, str):
            return json.dumps(v)  # a JSON string is a valid TOML basic string
        if isinstance(v, list):
            return "[" + ", ".join(value(x) for x in v) + "]"
        return str(v)

    lines: list[tuple[str, Any]] = []
    tables: list[tuple[str, Any]] = []
    for k, v in body.items():
        (tables if isinstance(v, dict) else lines).append((k, v))
    out = [f"{k} = {value(v)}" for k, v in lines]

    def table(prefix: str, d: dict[str, Any]) -> None:
        out.append(f"[{prefix}]")
        subs = []
        for k, v in d.items():
            if isinstance(v, dict):
                subs.append((k, v))
            else:
                out.append(f"{k} = {value(v)}")
        for k, v in subs:
            table(f"{prefix}.{k}", v)

    for k, v in tables:
        table(k, v)
    return "\n".join(out) + "\n"


@pytest.mark.parametrize("runtime", ["none", "apptainer", "docker", "podman"])
def test_hostile_site_values_are_passed_literally(tmp_path: Path, runtime: str) -> None:
    bin_dir = tmp_path / "bin"
    for prog in ("module", "apptainer", "docker", "podman", "sbatch"):
        _recorder(bin_dir / prog)
    fairhep_cmd = _recorder(tmp_path / f"venv {EVIL}" / "fairhep")
    body = {
        "scheduler": "slurm",
        "gpus_per_node": 1,
        "max_concurrent_tasks": 2,
        "time_limits": {"default": "00:05:00"},
        "slurm": {"partition": "debug", "cpus_per_task": 1, "gpus_per_task": 1},
        "container": ({"runtime": "none"} if runtime == "none" else
                      {"runtime": runtime, "image": str(tmp_path / f"image {EVIL}.sif"),
                       "binds": [str(tmp_path / f"bind {EVIL}")]}),
        "environment": {"modules": [f"mod {EVIL}"], "variables": {"EVIL_VAR": EVIL}},
        "paths": {"results": str(tmp_path / f"results {EVIL}"), "fairhep": str(fairhep_cmd),
                  "data": str(tmp_path / f"data {EVIL}")},
    }
    site_file = tmp_path / "evil.toml"
    site_file.write_text(_toml(body))
    campaign = tmp_path / "camp.toml"
    campaign.write_text('[train]\nseeds = [0]\nsplits = ["points"]\n')
    ctx = TaskContext.create(load_site(site_file), load_campaign(campaign))
    scripts = render_scripts(ctx)
    record = tmp_path / "record.jsonl"
    env = {**os.environ, "PATH": f"{bin_dir}{os.pathsep}{os.environ['PATH']}",
           "RECORD_FILE": str(record), "SLURM_ARRAY_TASK_ID": "0", "SLURM_JOB_ID": "7",
           "CUDA_VISIBLE_DEVICES": "0"}
    for kind, text in scripts.items():
        script = tmp_path / f"{kind}.sbatch"
        script.write_text(text)
        assert subprocess.run(["bash", "-n", str(script)], check=False).returncode == 0
        proc = subprocess.run(["bash", str(script)], cwd=tmp_path, env=env,
                              capture_output=True, text=True, check=False)
        assert proc.returncode == 0, proc.stderr
    # The sbatch command lines of --dry-run, run with an argv recorder named sbatch.
    chunks = plan_chunks(ctx, {k: [t.index for t in v] for k, v in ctx.tasks.by_kind.items()}, 1001)
    listing = submission_listing(ctx, chunks)
    proc = subprocess.run(["bash", "-c", listing], cwd=tmp_path, env=env, capture_output=True,
                          text=True, check=False)
    assert proc.returncode == 0, proc.stderr

    assert not list(tmp_path.rglob("PWNED")), "a site value ran as a command"
    calls = [json.loads(line) for line in record.read_text().splitlines()]
    engine = [c for c in calls if c["prog"] == {"none": "fairhep"}.get(runtime, runtime)]
    runs = [c for c in engine if c["argv"][:1] != ["image"]]
    assert len(runs) == len(scripts)
    image = str(tmp_path / f"image {EVIL}.sif")
    if runtime in ("docker", "podman"):  # the image id for the records, asked of the engine
        inspects = [c["argv"] for c in engine if c["argv"][:1] == ["image"]]
        assert inspects == [["image", "inspect", "--format", "{{.Id}}", image]] * len(scripts)
    for call, kind in zip(runs, scripts, strict=True):
        argv = call["argv"]
        assert call["EVIL_VAR"] == EVIL
        assert argv[-3:] == ["--kind", kind, "0"]
        results_root = str(tmp_path / f"results {EVIL}")
        assert argv[argv.index("--results") + 1] == results_root
        assert argv[argv.index("--site") + 1] == f"{results_root}/evil/camp/jobs/site.toml"
        if runtime == "apptainer":
            binds = [argv[i + 1] for i, a in enumerate(argv) if a == "--bind"]
            assert str(tmp_path / f"bind {EVIL}") in binds and results_root in binds
            assert str(tmp_path / f"image {EVIL}.sif") in argv
        if runtime in ("docker", "podman"):
            volumes = [argv[i + 1] for i, a in enumerate(argv) if a == "--volume"]
            assert f"{results_root}:{results_root}" in volumes
            envs = [argv[i + 1] for i, a in enumerate(argv) if a == "--env"]
            # The recorder answers every call with 4242: what `image inspect` printed.
            assert f"FAIRHEP_IMAGE={image}" in envs and "FAIRHEP_IMAGE_DIGEST=4242" in envs
    modules = [c["argv"] for c in calls if c["prog"] == "module"]
    assert modules and all(m == ["load", f"mod {EVIL}"] for m in modules)
    sbatch = [c["argv"] for c in calls if c["prog"] == "sbatch"]
    assert len(sbatch) == len(chunks)
    logs = str(tmp_path / f"results {EVIL}" / "evil" / "camp" / "logs")
    assert sbatch[0][:3] == ["--parsable", "--array=0%2", f"--output={logs}/train_%A_%a.out"]
    assert any(a == "--dependency=afterany:4242" for a in sbatch[1])
    assert shlex.split(listing.splitlines()[0].split("=$(", 1)[1].rstrip(")"))[0] == "sbatch"


def test_paths_slurm_or_containers_would_misread_are_refused(tmp_path: Path) -> None:
    site_file = tmp_path / "s.toml"
    site_file.write_text('scheduler = "slurm"\n[container]\nruntime = "apptainer"\n'
                         f'image = "x.sif"\n[paths]\nresults = "{tmp_path}/a,b"\n')
    ctx = TaskContext.create(load_site(site_file), load_campaign("smoke"))
    with pytest.raises(ConfigError, match="contains ','"):
        render_scripts(ctx)


def test_status_before_any_submission_needs_no_slurm(tmp_path: Path) -> None:
    rows = {r.kind: r for r in campaign_status(context("hal", "paper", tmp_path))}
    assert (rows["train"].total, rows["train"].not_submitted, rows["train"].done) == (140, 140, 0)
    assert rows["aggregate"].not_submitted == 1
