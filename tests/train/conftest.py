"""Inputs the training, evaluation and split tests share: synthetic datasets, made once per
session for each set of generator arguments (tests read them, never change them)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from fairhep.data.synth import synthesize

SyntheticData = Callable[..., Path]


@pytest.fixture(scope="session")
def synthetic_data(tmp_path_factory: pytest.TempPathFactory) -> SyntheticData:
    """``synthetic_data(files=, jets_per_file=, seed=, **synthesize_options)`` -> directory."""
    made: dict[tuple[object, ...], Path] = {}

    def make(files: int, jets_per_file: int, seed: int, **options: Any) -> Path:
        key = (files, jets_per_file, seed, *sorted(options.items()))
        if key not in made:
            out = tmp_path_factory.mktemp(f"synth-{files}x{jets_per_file}-s{seed}")
            synthesize(out, files, jets_per_file, seed, **options)
            made[key] = out
        return made[key]

    return make
