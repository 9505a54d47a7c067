"""Inputs of the interpretability tests: the session's tiny synthetic test set (generated
jets) and untrained INs small enough that a full masking study takes a second."""

from __future__ import annotations

import shutil
from pathlib import Path

import h5py
import pytest

from dataset_helpers import refresh_manifest
from fairhep import schema
from fairhep.model import InteractionNetwork, ModelConfig
from run_helpers import make_run

TINY_MODEL = ModelConfig(hidden=8, de=4, do=4)
# A feature the synthetic generator fills; the test set below has it zeroed everywhere.
ZEROED_FEATURE = "track_dptdpt"


@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    run = tmp_path_factory.mktemp("xai-run") / "tiny"
    make_run(run, TINY_MODEL, seed=3)
    return run


@pytest.fixture(scope="module")
def tiny_net(tiny_run: Path) -> InteractionNetwork:
    from fairhep.model import load_run_model

    return load_run_model(tiny_run)


@pytest.fixture(scope="module")
def zeroed_test_set(tiny_test_set: Path, tmp_path_factory: pytest.TempPathFactory
                    ) -> tuple[Path, str]:
    """The generated test set with one feature set to 0 in every track of every jet, and
    that feature's name."""
    out = tmp_path_factory.mktemp("xai-data") / "zeroed"
    shutil.copytree(tiny_test_set, out)
    name = schema.h5_dataset_name("test", schema.H5_TRACK_INDEX)
    row = schema.TRACK_FEATURES.index(ZEROED_FEATURE)
    for path in out.glob(schema.H5_FILE_GLOB):
        with h5py.File(path, "r+") as h5:
            tracks = h5[name][...]
            assert tracks[:, row].any(), "the generator must fill the feature for this test"
            tracks[:, row] = 0.0
            h5[name][...] = tracks
    refresh_manifest(out)
    return out, ZEROED_FEATURE
