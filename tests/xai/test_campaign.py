"""The campaign's interpretability tasks: xai (masking, LRP, RNA of a trained run) and ablate
(Table 10: the re-optimised INs trained like the baseline and compared with it)."""

from __future__ import annotations

from pathlib import Path

import pytest

from fairhep.campaign import KINDS, load_campaign
from fairhep.errors import ConfigError
from fairhep.model import InteractionNetwork
from fairhep.results import kinds, load_records
from fairhep.runners.slurm.script import render_scripts
from fairhep.sites import load_site
from fairhep.tasks import TaskContext, expand, finished_tasks, run_task
from fairhep.xai import Variant, variant_config

pytestmark = pytest.mark.usefixtures("one_torch_thread")

# A toy campaign: one tiny training, its interpretability and one tinier ablated model.
TINY = """
data = {source = "synthetic", files = 3, jets_per_file = 40, test_files = 1, seed = 11}
evaluate = {enabled = false}
export = {enabled = false}
frameworks = {enabled = false}
sweep = {enabled = false}
aggregate = {enabled = false}
[train]
seeds = [0]
splits = ["kfold"]
fold_files = 1
epochs = 1
batch_size = 20
lr = 3e-3
hidden = 6
de = 3
do = 3
device = "cpu"
[xai]
enabled = true
device = "cpu"
max_jets = 16
batches = 1
sample_batch_size = 4
[ablate]
enabled = true
device = "cpu"
max_jets = 16
batches = 1
sample_batch_size = 4
variants = [{hidden = 4, de = 2, do = 2}]
"""


def _write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "c.toml"
    path.write_text(text)
    return path


def test_the_paper_campaign_runs_interpretability_and_the_three_ablated_models() -> None:
    paper = load_campaign("paper")
    tasks = expand(paper)
    # Every kind but data (the site's real data), loadgen (off by default: an extra some stacks
    # lack) and scaling (its own campaign).
    assert tasks.kinds() == [k for k in KINDS if k not in ("data", "loadgen", "scaling")]
    assert [t.id for t in tasks.by_kind["xai"]] == ["xai-s0-kfold-f0"]
    ablate = tasks.by_kind["ablate"]
    assert [t.id for t in ablate] == [
        "ablate-baseline-s0-kfold-f0", "ablate-h32-de16-do16-s0-kfold-f0",
        "ablate-h32-de8-do8-s0-kfold-f0", "ablate-h16-de8-do8-s0-kfold-f0"]
    counts = [InteractionNetwork(variant_config(
        Variant(t.params["hidden"], t.params["de"], t.params["do"]),
        paper.ablate.drop_track_features, paper.ablate.drop_sv_features)).n_parameters()
        for t in ablate[1:]]
    assert counts == [8498, 7178, 2842]
    assert tasks.dependencies("ablate") == ["train"]  # the paper reads the site's data
    hal = render_scripts(TaskContext.create(load_site("hal"), paper))
    assert "#SBATCH --gres=gpu:1" in hal["xai"] and "#SBATCH --gres=gpu:1" in hal["ablate"]
    assert "#SBATCH --signal=B:TERM@120" in hal["ablate"]  # it trains: checkpoint, resume
    assert "#SBATCH --time=24:00:00" in hal["ablate"]
    assert "#SBATCH --signal" not in hal["xai"]


def test_a_campaign_without_the_sections_has_no_such_tasks(tmp_path: Path) -> None:
    tasks = expand(load_campaign(_write(tmp_path, "[train]\nseeds = [0]\n")))
    assert "xai" not in tasks.by_kind and "ablate" not in tasks.by_kind


@pytest.mark.parametrize(("body", "words"), [
    ('[ablate]\nenabled = true\nbaseline = "train-s7-kfold-f0"\n',
     "key 'ablate.baseline' names 'train-s7-kfold-f0'"),
    ('[xai]\nenabled = true\nruns = ["train-s7-kfold-f0"]\n', "key 'xai.runs' names"),
    ('[xai]\nrule = "alpha"\n', "xai.rule must be gamma, epsilon or zero"),
    ("[ablate]\ndrop_track_features = 13\n", "ablate.drop_track_features must be 0-12"),
    ("[[ablate.variants]]\nhidden = 32\n", "ablate.variants[0]"),
])
def test_section_errors_name_the_file_and_key(tmp_path: Path, body: str, words: str) -> None:
    path = _write(tmp_path, body)
    with pytest.raises(ConfigError) as exc:
        load_campaign(path)
    assert words in str(exc.value) and str(path) in str(exc.value)


def test_xai_and_ablate_tasks_write_their_records_once(tmp_path: Path) -> None:
    ctx = TaskContext.create(load_site("local"), load_campaign(_write(tmp_path, TINY)),
                             tmp_path / "results")
    for task in ctx.tasks.all():
        assert run_task(ctx, task).status == "done", task.id
    records = ctx.layout.records
    assert {r.task_id for r in load_records(records, kinds.XAI_MASK)} == {"xai-s0-kfold-f0"}
    assert len(load_records(records, kinds.XAI_LRP)) == len(load_records(records,
                                                                         kinds.XAI_RNA)) == 1
    rows = {r.task_id: r for r in load_records(records, kinds.XAI_ABLATION)}
    base, small = rows["ablate-baseline-s0-kfold-f0"], rows["ablate-h4-de2-do2-s0-kfold-f0"]
    assert base.config["is_baseline"] and base.metrics["fidelity"] == 1.0
    assert small.config["model"]["hidden"] == 4 and small.config["delta_p"] == 12
    assert small.config["training"]["epochs"] == 1
    assert small.config["baseline"] == str(ctx.layout.run_dir("train-s0-kfold-f0"))
    assert small.provenance["site"] == "local"
    # The ablated training is not a seed of Tables 4/5/7: no train record of its own.
    assert [r.task_id for r in load_records(records, kinds.TRAIN)] == ["train-s0-kfold-f0"]
    done = finished_tasks(ctx.layout)
    assert done["ablate-h4-de2-do2-s0-kfold-f0"].metrics["sparsity"] == small.metrics["sparsity"]
    assert run_task(ctx, ctx.tasks.by_id("xai-s0-kfold-f0")).status == "already-done"
    # Run again (forced), the xai task reuses the studies this task already recorded.
    again = run_task(ctx, ctx.tasks.by_id("xai-s0-kfold-f0"), force=True)
    assert again.outputs["records"] == [] and len(again.outputs["reused"]) == 3
    # So does an ablate task: its Table 10 row stays one row.
    row_task = ctx.tasks.by_id("ablate-h4-de2-do2-s0-kfold-f0")
    again = run_task(ctx, row_task, force=True)
    assert again.outputs["reused"] == [kinds.XAI_ABLATION]
    assert again.outputs["sparsity"] == small.metrics["sparsity"]
    assert len([r for r in load_records(records, kinds.XAI_ABLATION)
                if r.task_id == row_task.id]) == 1
