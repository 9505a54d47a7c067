"""Campaigns: expansion into tasks with stable ids, dependencies, validation errors."""

from __future__ import annotations

from pathlib import Path

import pytest

from fairhep.campaign import KINDS, builtin_campaigns, load_campaign
from fairhep.cli import main
from fairhep.errors import ConfigError
from fairhep.tasks import expand


def write(path: Path, text: str) -> Path:
    path.write_text(text)
    return path


def test_paper_campaign_is_the_study() -> None:
    paper = load_campaign("paper")
    tasks = expand(paper)
    train = tasks.by_kind["train"]
    # 10 seeds x (12 k-fold validation folds + one random-file split + one random-point split)
    assert len(train) == 10 * (12 + 1 + 1)
    assert {t.params["split"] for t in train} == {"kfold", "files", "points"}
    assert {t.params["seed"] for t in train} == set(range(10))
    assert len(tasks.by_kind["evaluate"]) == len(train)
    for kind in ("export", "frameworks", "sweep", "aggregate"):
        assert len(tasks.by_kind[kind]) == 1
    assert "data" not in tasks.by_kind  # the paper reads the site's real dataset
    ids = [t.id for t in tasks.all()]
    assert len(ids) == len(set(ids))
    assert "train-s3-kfold-f7" in ids and "evaluate-s9-points-f0" in ids
    assert tasks.by_kind["frameworks"][0].params["run"] == "train-s0-kfold-f0"
    # index within the kind is the Slurm array index
    for kind in tasks.kinds():
        assert [t.index for t in tasks.by_kind[kind]] == list(range(len(tasks.by_kind[kind])))


def test_smoke_campaign_has_every_kind_on_synthetic_data() -> None:
    smoke = load_campaign("smoke")
    tasks = expand(smoke)
    # Every kind but the scaling study, whose toy campaign is scaling-smoke, and LoadGen's
    # (an extra some stacks lack; tests/tasks/test_loadgen_tasks.py runs its tasks).
    assert tasks.kinds() == [k for k in KINDS if k not in ("scaling", "loadgen")]
    assert expand(load_campaign("scaling-smoke")).kinds() == ["data", "scaling", "aggregate"]
    assert smoke.data.source == "synthetic"
    assert [t.id for t in tasks.by_kind["train"]] == [
        "train-s0-kfold-f0", "train-s0-files-f0", "train-s0-points-f0"]
    assert tasks.dependencies("evaluate") == ["data", "train"]
    assert tasks.dependencies("frameworks") == ["data", "train", "export"]
    assert tasks.dependencies("aggregate") == [k for k in KINDS
                                               if k not in ("aggregate", "scaling", "loadgen")]
    assert tasks.get("train", 2).id == "train-s0-points-f0"
    assert tasks.by_id("evaluate-s0-files-f0").params == {"run": "train-s0-files-f0"}
    assert set(builtin_campaigns()) >= {"paper", "smoke"}


def test_ids_do_not_depend_on_list_order(tmp_path: Path) -> None:
    a = load_campaign(write(tmp_path / "a.toml",
                            '[data]\nsource = "synthetic"\n[train]\nseeds = [1, 2]\n'
                            'splits = ["kfold", "points"]\nfolds = [0, 1]\n'))
    b = load_campaign(write(tmp_path / "b.toml",
                            '[data]\nsource = "synthetic"\n[train]\nseeds = [2, 1]\n'
                            'splits = ["points", "kfold"]\nfolds = [1, 0]\n'))
    assert {t.id for t in expand(a).all()} == {t.id for t in expand(b).all()}
    assert a.name == "a"
    with pytest.raises(ConfigError, match="no index 6"):
        expand(a).get("train", 6)


@pytest.mark.parametrize(
    ("body", "words"),
    [
        ("[train]\nsedes = [1]\n", "key 'train.sedes' is not a known setting"),
        ("[train]\nseeds = 3\n", "key 'train.seeds' must be a list of integers"),
        ('[train]\nseeds = ["a"]\n', "key 'train.seeds[0]' must be an integer"),
        ('[train]\nsplits = ["kfold", "bootstrap"]\n', "unknown split 'bootstrap'"),
        ("[train]\nseeds = [1, 1]\n", "duplicates"),
        ('[export]\nruns = ["train-s9-kfold-f0"]\n', "key 'export.runs' names 'train-s9-kfold-f0'"),
        ('[data]\nsource = "s3"\n', "data.source must be"),
        ('[xia]\nenabled = true\n', "key 'xia' is not a known setting"),
    ],
)
def test_campaign_errors_name_file_and_key(tmp_path: Path, body: str, words: str) -> None:
    path = write(tmp_path / "bad.toml", body)
    with pytest.raises(ConfigError) as exc:
        load_campaign(path)
    assert words in str(exc.value) and str(path) in str(exc.value)


def test_unknown_campaign_lists_builtins(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["task", "list", "papr"]) == 1
    err = capsys.readouterr().err.strip()
    assert "unknown campaign 'papr'" in err and "paper" in err and "smoke" in err
    assert "\n" not in err


def test_task_list_cli(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["task", "list", "smoke"]) == 0
    lines = capsys.readouterr().out.strip().splitlines()
    assert len(lines) == len(expand(load_campaign("smoke")).all())
    assert lines[0].split()[:3] == ["data", "0", "data"]
    assert any(line.split()[:3] == ["evaluate", "1", "evaluate-s0-files-f0"] for line in lines)
