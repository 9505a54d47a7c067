"""The three training/validation splits of the paper's §3.2 (Table 5).

* ``kfold``  — file-level k-fold: folds of ``fold_files`` consecutive files (natural file
  order); fold K is the validation set. Fold 0 with 5-file folds is the paper's default split
  (§3.1.1: the first five files validate, the rest train).
* ``files``  — ``fold_files`` files drawn at random (seeded) validate, the rest train.
* ``points`` — a random split on jets (seeded). The paper loaded the whole dataset into one
  array and used scikit-learn's ``train_test_split``; here each file is split on its own so
  that the dataset never has to fit in memory — the union is still a uniform random split.

A split is a list of files plus, per file, the ascending jet indices it uses (``None`` = all
jets), exactly what :func:`fairhep.data.load.iter_batches` takes as ``subsets``.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from fairhep.data import load
from fairhep.data.arrays import Int64Array
from fairhep.errors import ConfigError

METHODS: tuple[str, ...] = ("kfold", "files", "points")

# Fraction of jets that validate in a ``points`` split; 5 of the paper's 57 files is ~9 %,
# scikit-learn's default would be 25 %.
DEFAULT_VALID_FRACTION = 0.1


@dataclass
class Part:
    """One side (train or validation) of a split."""

    files: list[Path] = field(default_factory=list)
    subsets: dict[Path, Int64Array] = field(default_factory=dict)  # absent = every jet

    def n_jets(self, counts: dict[Path, int]) -> int:
        return sum(len(self.subsets[f]) if f in self.subsets else counts[f] for f in self.files)


@dataclass
class Split:
    method: str
    train: Part
    valid: Part
    counts: dict[Path, int]  # jets per file (after any cap)

    @property
    def n_train(self) -> int:
        return self.train.n_jets(self.counts)

    @property
    def n_valid(self) -> int:
        return self.valid.n_jets(self.counts)

    def describe(self) -> dict[str, object]:
        return {
            "method": self.method,
            "train_files": [f.name for f in self.train.files],
            "valid_files": [f.name for f in self.valid.files],
            "n_train": self.n_train,
            "n_valid": self.n_valid,
        }


def _n_folds(n_files: int, fold_files: int) -> int:
    return math.ceil(n_files / fold_files)


def kfold(files: Sequence[Path], fold: int, fold_files: int = 5) -> tuple[list[Path], list[Path]]:
    """(train, valid) files for validation fold ``fold`` of ``fold_files``-file folds."""
    files = list(files)
    if fold_files < 1:
        raise ConfigError(f"--fold-files must be positive, got {fold_files}")
    n_folds = _n_folds(len(files), fold_files)
    if n_folds < 2:
        raise ConfigError(
            f"k-fold split needs more than {fold_files} files (one fold validates, the rest "
            f"train); the dataset has {len(files)}: use --fold-files smaller or --split points"
        )
    if not 0 <= fold < n_folds:
        raise ConfigError(
            f"--fold {fold} out of range: {len(files)} files in folds of {fold_files} give "
            f"folds 0..{n_folds - 1}"
        )
    valid = files[fold * fold_files:(fold + 1) * fold_files]
    train = [f for f in files if f not in valid]
    return train, valid


def random_files(
    files: Sequence[Path], seed: int, n_valid: int = 5
) -> tuple[list[Path], list[Path]]:
    """(train, valid): ``n_valid`` files chosen by a generator seeded with ``seed``."""
    files = list(files)
    if not 1 <= n_valid < len(files):
        raise ConfigError(
            f"random file split needs more than {n_valid} files (it validates on {n_valid}); "
            f"the dataset has {len(files)}: use --fold-files smaller or --split points"
        )
    chosen = set(np.random.default_rng(seed).choice(len(files), n_valid, replace=False).tolist())
    valid = [f for i, f in enumerate(files) if i in chosen]
    train = [f for i, f in enumerate(files) if i not in chosen]
    return train, valid


def random_points(
    counts: dict[Path, int], seed: int, valid_fraction: float = DEFAULT_VALID_FRACTION
) -> tuple[dict[Path, Int64Array], dict[Path, Int64Array]]:
    """Per file, (train, valid) ascending jet indices; each file's share is drawn from a
    generator seeded with (seed, file position), so the split never needs all files at once."""
    if not 0.0 < valid_fraction < 1.0:
        raise ConfigError(f"validation fraction must be in (0, 1), got {valid_fraction}")
    train: dict[Path, Int64Array] = {}
    valid: dict[Path, Int64Array] = {}
    for i, (f, n) in enumerate(counts.items()):
        perm = np.random.default_rng([seed, i]).permutation(n)
        k = round(n * valid_fraction)
        valid[f] = np.sort(perm[:k])
        train[f] = np.sort(perm[k:])
    return train, valid


def make_split(
    files: Sequence[Path],
    method: str = "kfold",
    seed: int = 0,
    fold: int = 0,
    fold_files: int = 5,
    max_jets: int | None = None,
    valid_fraction: float = DEFAULT_VALID_FRACTION,
    counts: dict[Path, int] | None = None,
) -> Split:
    """The split of ``files`` by ``method``. ``max_jets`` caps the dataset to about that many
    jets, taken as the first jets of every file so that every file (and fold) stays in play."""
    files = list(files)
    if method not in METHODS:
        raise ConfigError(f"unknown split {method!r}: choose one of {', '.join(METHODS)}")
    if counts is None:
        counts = {f: load.n_jets(f) for f in files}
    cap: dict[Path, Int64Array] = {}
    if max_jets is not None:
        if max_jets < 1:
            raise ConfigError(f"--max-jets must be positive, got {max_jets}")
        per_file = math.ceil(max_jets / len(files))
        for f in files:
            if counts[f] > per_file:
                cap[f] = np.arange(per_file)
        counts = {f: min(n, per_file) for f, n in counts.items()}

    if method == "points":
        tr, va = random_points(counts, seed, valid_fraction)
        # Indices of the capped file are positions in the file as well (the cap is a prefix).
        return Split(method, Part(files, tr), Part(files, va), counts)
    if method == "kfold":
        train_files, valid_files = kfold(files, fold, fold_files)
    else:
        train_files, valid_files = random_files(files, seed, fold_files)
    return Split(
        method,
        Part(train_files, {f: cap[f] for f in train_files if f in cap}),
        Part(valid_files, {f: cap[f] for f in valid_files if f in cap}),
        counts,
    )
