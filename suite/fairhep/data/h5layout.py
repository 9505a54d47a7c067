"""Writing a dataset in the FAIR HDF5 layout: what the synthetic generator and the converter
share (their checks of the arguments, the placeholder groups, the progress callback)."""

from __future__ import annotations

from collections.abc import Callable, Collection
from pathlib import Path

import h5py
import numpy as np

from fairhep import schema
from fairhep.errors import DataError

ProgressFn = Callable[[int], None]  # called with the jets (or ROOT entries) just written


def check_split(split: str) -> None:
    """``split`` names an HDF5 feature group ('train' or 'test')."""
    if split not in schema.H5_FEATURE_GROUP:
        raise DataError(f"split {split!r} is not one of {sorted(schema.H5_FEATURE_GROUP)}")


def other_files(out_dir: Path, wanted: Collection[str]) -> list[str]:
    """Dataset files in ``out_dir`` that a run writing ``wanted`` would not write: a later
    read would mix them in, so writers refuse such a directory."""
    return sorted(p.name for p in out_dir.glob(schema.H5_FILE_GLOB) if p.name not in wanted)


def create_placeholders(h5: h5py.File, split: str, n_jets: int) -> None:
    """The feature groups the IN does not use (``<prefix>_0``, ``_1``), created so that the
    original code's alphabetical indices 2/3 keep meaning tracks/SVs, but never written:
    chunked with fill value 0, they take no storage. The unlimited first axis lets a chunk
    be larger than a file with few (or no) jets."""
    for index, shape in schema.H5_UNUSED_SHAPES.items():
        h5.create_dataset(schema.h5_dataset_name(split, index), (n_jets, *shape), np.float32,
                          maxshape=(None, *shape), chunks=(1024, *shape), fillvalue=0)
