"""The three training/validation splits of the paper's §3.2 (Table 5): k-fold on files,
random files, random jets; each a partition, seeded, and capped by ``max_jets``."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest

from fairhep.data import load
from fairhep.errors import ConfigError
from fairhep.splits import Part, Split, make_split


@pytest.fixture(scope="module")
def eleven_files(synthetic_data: Callable[..., Path]) -> Path:
    return synthetic_data(files=11, jets_per_file=30, seed=5)


def _pairs(part: Part, counts: dict[Path, int]) -> set[tuple[str, int]]:
    """(file, jet) of every jet a side of a split uses."""
    return {(f.name, int(i)) for f in part.files
            for i in (part.subsets[f] if f in part.subsets else range(counts[f]))}


def _all_pairs(split: Split) -> set[tuple[str, int]]:
    return {(f.name, i) for f, n in split.counts.items() for i in range(n)}


def test_kfold_uses_consecutive_file_folds_and_partitions_the_files(eleven_files):
    files = load.list_files(eleven_files)
    seen_valid = []
    for fold in range(3):  # 11 files in folds of 5: 5, 5, 1
        s = make_split(files, "kfold", fold=fold, fold_files=5)
        assert s.valid.files == files[5 * fold:5 * fold + 5]
        assert sorted(s.train.files + s.valid.files) == sorted(files)
        assert not set(s.train.files) & set(s.valid.files)
        seen_valid += s.valid.files
    assert seen_valid == files  # every file validates exactly once over the folds
    # Fold 0 is the paper's default split: the first five files validate.
    assert [f.name for f in make_split(files).valid.files] == [
        f"newdata_{i}.h5" for i in range(5)]
    with pytest.raises(ConfigError, match=r"folds 0\.\.2"):
        make_split(files, "kfold", fold=3)
    with pytest.raises(ConfigError, match="more than 5 files"):
        make_split(files[:5], "kfold")


def test_random_file_split_is_seeded_and_partitions(eleven_files):
    files = load.list_files(eleven_files)
    a = make_split(files, "files", seed=1)
    assert len(a.valid.files) == 5
    assert sorted(a.train.files + a.valid.files) == sorted(files)
    assert not set(a.train.files) & set(a.valid.files)
    assert make_split(files, "files", seed=1).valid.files == a.valid.files
    others = {tuple(make_split(files, "files", seed=s).valid.files) for s in range(2, 8)}
    assert len(others | {tuple(a.valid.files)}) > 1
    assert a.valid.files != files[:5] or any(o != tuple(files[:5]) for o in others)


def test_point_split_partitions_the_jets_of_every_file(eleven_files):
    files = load.list_files(eleven_files)
    s = make_split(files, "points", seed=3, valid_fraction=0.2)
    train = _pairs(s.train, s.counts)
    valid = _pairs(s.valid, s.counts)
    assert not train & valid
    assert train | valid == _all_pairs(s)
    assert s.n_valid == len(valid) == 11 * 6  # 20 % of 30 jets in each file
    again = make_split(files, "points", seed=3, valid_fraction=0.2)
    assert all(np.array_equal(again.valid.subsets[f], s.valid.subsets[f]) for f in files)
    other = make_split(files, "points", seed=4, valid_fraction=0.2)
    assert any(not np.array_equal(other.valid.subsets[f], s.valid.subsets[f]) for f in files)


def test_max_jets_caps_every_file_and_keeps_the_partition(eleven_files):
    files = load.list_files(eleven_files)
    for method in ("kfold", "files", "points"):
        s = make_split(files, method, seed=2, max_jets=110)  # 10 jets of each of 11 files
        assert s.n_train + s.n_valid == 110
        train = _pairs(s.train, s.counts)
        valid = _pairs(s.valid, s.counts)
        assert not train & valid and train | valid == _all_pairs(s)
        assert max(i for _, i in train | valid) == 9  # the first jets of each file
        # The streamed batches hold exactly the selected jets.
        streamed = sum(len(b) for b in load.iter_batches(
            s.train.files, 7, shuffle=True, rng=np.random.default_rng(0),
            subsets=s.train.subsets))
        assert streamed == s.n_train
