"""What the synthetic generator and the converter share when they write a dataset."""

from __future__ import annotations

from pathlib import Path

import pytest

from fairhep.data import h5layout
from fairhep.errors import DataError


def test_check_split_names_the_known_groups() -> None:
    h5layout.check_split("train")
    h5layout.check_split("test")
    with pytest.raises(DataError, match=r"split 'valid' is not one of \['test', 'train'\]"):
        h5layout.check_split("valid")


def test_other_files_are_the_dataset_files_a_run_would_not_write(tmp_path: Path) -> None:
    for name in ("newdata_0.h5", "newdata_10.h5", "newdata_2.h5", "notes.txt", "manifest.json"):
        (tmp_path / name).touch()
    assert h5layout.other_files(tmp_path, {"newdata_0.h5"}) == ["newdata_10.h5", "newdata_2.h5"]
    assert h5layout.other_files(tmp_path, {"newdata_0.h5", "newdata_2.h5", "newdata_10.h5"}) == []
