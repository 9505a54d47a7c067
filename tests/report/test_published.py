"""The published tables as data: values exactly as printed in the paper, citation, caveats."""

from __future__ import annotations

import shutil
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from fairhep import published
from fairhep.errors import ConfigError

REPO_PUBLISHED = Path(__file__).resolve().parents[2] / "results" / "published"


def test_default_location_is_the_repository_copy_or_the_wheels_own() -> None:
    found = published.published_dir()
    if published._PACKAGE_COPY.is_dir():  # an installed wheel (images, the stack sessions)
        assert found == published._PACKAGE_COPY
        assert sorted(p.name for p in found.iterdir()) == sorted(
            p.name for p in REPO_PUBLISHED.iterdir())
    else:  # imported from the source tree (editable install)
        assert found.resolve() == REPO_PUBLISHED.resolve()


# (table, path into the parsed TOML, value typed here from the paper's text)
PRINTED = [
    ("table4", ("this_work", "val_accuracy_mean"), "0.9545"),
    ("table4", ("this_work", "val_auc_std"), "0.0002"),
    ("table4", ("original", "val_accuracy"), "0.9550"),
    ("table4", ("p_value", "val_accuracy"), "12.69"),
    ("table4", ("p_value", "val_auc"), "9.27"),
    ("table5", ("rows", 1, "val_loss"), "0.11757"),
    ("table5", ("rows", 2, "val_loss"), "0.11760"),
    ("table5", ("rows", 0, "valid_s_per_epoch"), "23.0"),
    ("table7", ("rows", 5, "train_s_per_epoch"), "233.97"),
    ("table7", ("rows", 4, "epochs"), "150"),
    ("table7", ("rows", 1, "val_auc"), "0.9905"),
    ("table8", ("rows", 1, "time_per_batch_s"), "0.0008"),
    ("table8", ("rows", 6, "accuracy"), "0.97569"),
    ("table8", ("rows", 8, "accuracy"), "0.97506"),
    ("table8", ("rows", 4, "time_per_batch_s"), "0.01264"),
    ("table9", ("rows", 5, "threshold"), "1.00"),
    ("table9", ("rows", 5, "auc"), "80.49"),
    ("table9", ("rows", 1, "fidelity"), "99.69"),
    ("table10", ("rows", 1, "parameters"), "8498"),
    ("table10", ("rows", 3, "sparsity"), "0.40"),
    ("figure4", ("peak", "jets_per_s"), "35000"),
    ("figure4", ("peak", "batch_size"), "1200"),
    ("figure4", ("saturation", "batch_size"), "1000"),
]


@pytest.mark.parametrize(("table", "path", "printed"), PRINTED)
def test_values_are_exactly_as_printed(table: str, path: tuple[str | int, ...],
                                       printed: str) -> None:
    value: Any = published.load(table)
    for key in path:
        value = value[key]
    assert str(value) == printed  # the printed digits, trailing zeros included
    assert isinstance(value, (Decimal, int))


def test_table7_rows_and_labels() -> None:
    rows = published.load("table7")["rows"]
    assert [(r["split"], r["platform"]) for r in rows] == [
        (s, p) for s in ("kfold", "points") for p in ("hal", "dgx", "thetagpu")
    ]
    # The HAL rows of Table 7 repeat Table 5.
    t5 = {r["split"]: r for r in published.load("table5")["rows"]}
    for r in rows:
        if r["platform"] == "hal":
            assert r["val_accuracy"] == t5[r["split"]]["val_accuracy"]
            assert r["val_loss"] == t5[r["split"]]["val_loss"]


def test_every_table_has_units_caveats_and_the_citation() -> None:
    paper = published.load("paper")["paper"]
    assert paper["arxiv"] == "2212.05081"
    assert paper["doi"] == "10.1088/2632-2153/ad12e3"
    assert any("unverified" in v for v in paper["verification"])
    for name in published.TABLES:
        data = published.load(name)
        meta = data.get("table") or data.get("figure")
        assert meta is not None, name
        assert meta["units"], name
        assert meta["caveats"], name
    assert "ThetaGPU" in " ".join(published.load("table8")["table"]["caveats"])
    assert published.load("table8")["table"]["platform"] == "thetagpu"
    cit = published.citation()
    assert "arXiv:2212.05081" in cit and "doi:10.1088/2632-2153/ad12e3" in cit


def test_platform_keys() -> None:
    assert published.platform_key("ThetaGPU") == "thetagpu"
    assert published.platform_key("hal") == "hal"
    assert published.platform_key("dgx-a100") == "dgx"
    assert published.platform_key("NVIDIA A100-SXM4-40GB") is None
    assert published.platform_key(None) is None


def test_environment_and_argument_override(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    copy = tmp_path / "pub"
    shutil.copytree(REPO_PUBLISHED, copy)
    text = (
        (copy / "table4.toml").read_text().replace("val_accuracy = 12.69", "val_accuracy = 99.99")
    )
    (copy / "table4.toml").write_text(text)
    assert str(published.load("table4", copy)["p_value"]["val_accuracy"]) == "99.99"
    monkeypatch.setenv(published.PUBLISHED_ENV, str(copy))
    assert published.published_dir() == copy
    monkeypatch.setenv(published.PUBLISHED_ENV, str(tmp_path / "nowhere"))
    with pytest.raises(ConfigError, match="FAIRHEP_PUBLISHED"):
        published.published_dir()


def test_bad_files_give_one_line_errors(tmp_path: Path) -> None:
    (tmp_path / "paper.toml").write_text("[paper]\ntitle = 'x'\n")
    (tmp_path / "table4.toml").write_text("[table\nbroken")
    with pytest.raises(ConfigError, match=r"table4\.toml: not valid TOML"):
        published.load("table4", tmp_path)
    with pytest.raises(ConfigError, match="cannot read"):
        published.load("table5", tmp_path)
    with pytest.raises(ConfigError, match="unknown published table"):
        published.load("table6", tmp_path)
