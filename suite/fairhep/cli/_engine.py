"""``--engine fast|reference`` and ``--precision fp32|tf32|bf16``, shared by ``train``,
``evaluate`` and ``bench``. Spelled here without importing torch (the parser is built on
every call); a test holds them equal to :data:`fairhep.model.fast.ENGINES` / ``PRECISIONS``."""

from __future__ import annotations

import argparse

ENGINE_CHOICES = ("fast", "reference")
PRECISION_CHOICES = ("fp32", "tf32", "bf16")


def add_engine_options(p: argparse.ArgumentParser, precision: bool = True) -> None:
    p.add_argument("--engine", choices=ENGINE_CHOICES, default=ENGINE_CHOICES[0],
                   help="fast (default): the exact closed form for padded tracks and SVs, "
                   "equal to the network within float rounding; reference: the factored "
                   "dense forward that ONNX Runtime and TensorRT run")
    if precision:
        p.add_argument("--precision", choices=PRECISION_CHOICES, default="fp32",
                       help="matmul precision on CUDA (default fp32); tf32 and bf16 are "
                       "approximate and recorded as such")
