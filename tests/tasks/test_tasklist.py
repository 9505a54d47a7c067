"""The task list of a campaign, and the task-kind handlers behind every kind."""

from __future__ import annotations

from pathlib import Path

from fairhep.campaign import KINDS, RUN_SECTIONS, load_campaign
from fairhep.tasks import DEPENDS_ON, expand
from fairhep.tasks.handlers import HANDLERS


def test_every_kind_has_a_handler_and_depends_only_on_earlier_kinds() -> None:
    assert set(HANDLERS) == set(KINDS)
    assert list(DEPENDS_ON) == list(KINDS)
    for kind, needs in DEPENDS_ON.items():
        assert all(KINDS.index(n) < KINDS.index(kind) for n in needs), kind


def test_sections_run_on_the_default_run_unless_they_name_theirs(tmp_path: Path) -> None:
    path = tmp_path / "c.toml"
    path.write_text('[train]\nseeds = [2, 1]\nsplits = ["points", "kfold"]\nfolds = [1, 0]\n'
                    '[sweep]\nruns = ["train-s2-points-f0", "train-s1-kfold-f1"]\n')
    campaign = load_campaign(path)
    assert [r.id for r in campaign.train_runs()] == [
        "train-s2-points-f0", "train-s1-points-f0", "train-s2-kfold-f1", "train-s2-kfold-f0",
        "train-s1-kfold-f1", "train-s1-kfold-f0"]
    assert campaign.default_run() == "train-s1-kfold-f0"
    assert set(RUN_SECTIONS) == {"export", "frameworks", "sweep", "loadgen"}
    assert campaign.runs_of("loadgen") == ["train-s1-kfold-f0"]  # when enabled
    assert campaign.runs_of("export") == ["train-s1-kfold-f0"]
    tasks = expand(campaign)
    assert [t.id for t in tasks.by_kind["sweep"]] == ["sweep-s2-points-f0", "sweep-s1-kfold-f1"]
    assert [t.params["run"] for t in tasks.by_kind["frameworks"]] == ["train-s1-kfold-f0"]
