"""Inputs shared by the portability tests (export, backends, frameworks, sweep): one tiny
synthetic test set, one untrained baseline IN run directory and one cache directory, made
once per pytest process. Parity and timing need real jets and real weights, not trained ones.
"""

from __future__ import annotations

import atexit
import functools
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path

import torch

from fairhep.data.synth import synthesize
from fairhep.model import BEST_WEIGHTS, InteractionNetwork, ModelConfig, save_run_model

N_JETS = 96


@dataclass(frozen=True)
class Inputs:
    root: Path
    data: Path
    run: Path
    cache: Path


def make_run(run_dir: Path, config: ModelConfig | None = None, seed: int = 0) -> InteractionNetwork:
    """An untrained IN saved as a run directory (model.json + best.pth)."""
    torch.manual_seed(seed)
    net = InteractionNetwork(config).eval()
    save_run_model(run_dir, net)
    torch.save(net.state_dict(), run_dir / BEST_WEIGHTS)
    return net


@functools.cache
def inputs() -> Inputs:
    root = Path(tempfile.mkdtemp(prefix="fairhep-portability-"))
    atexit.register(shutil.rmtree, root, ignore_errors=True)
    synthesize(root / "data", files=1, jets_per_file=N_JETS, seed=7, split="test")
    make_run(root / "run")
    return Inputs(root, root / "data", root / "run", root / "cache")


@functools.cache
def onnx_file() -> Path:
    """The run's ONNX export in the shared cache (the dynamo export takes seconds: once)."""
    from fairhep.export import cached_onnx

    i = inputs()
    return cached_onnx(i.run, i.cache / "onnx")
