"""The NumPy array types of jet data, for type hints (no runtime cost beyond numpy).

The network's inputs and everything stored are float32; labels are int64 (0 = QCD,
1 = H->bb). Scores and labels handed to :mod:`fairhep.metrics` may come from any backend, so
those take any float or integer dtype.
"""

from __future__ import annotations

from typing import TypeAlias

import numpy as np
import numpy.typing as npt

Float32Array: TypeAlias = npt.NDArray[np.float32]
Int64Array: TypeAlias = npt.NDArray[np.int64]
BoolArray: TypeAlias = npt.NDArray[np.bool_]
FloatArray: TypeAlias = npt.NDArray[np.floating]
IntArray: TypeAlias = npt.NDArray[np.integer]
