"""Writing the FAIR HDF5 layout: the parts the synthetic generator and the converter share."""

from __future__ import annotations

import h5py
import numpy as np

from fairhep import schema


def create_placeholders(h5: h5py.File, split: str, n_jets: int) -> None:
    """The feature groups the IN does not use (``<prefix>_0``, ``_1``), created so that the
    original code's alphabetical indices 2/3 keep meaning tracks/SVs, but never written:
    chunked with fill value 0, they take no storage. The unlimited first axis lets a chunk
    be larger than a file with few (or no) jets."""
    for index, shape in schema.H5_UNUSED_SHAPES.items():
        h5.create_dataset(schema.h5_dataset_name(split, index), (n_jets, *shape), np.float32,
                          maxshape=(None, *shape), chunks=(1024, *shape), fillvalue=0)
