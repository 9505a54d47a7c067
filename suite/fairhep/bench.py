"""``fairhep bench``: the main job, and the entry point of every benchmark mode.

Without ``--data``/``--run`` it uses the embedded default: a small synthetic dataset in the
cache directory and a briefly trained baseline IN (both cached, so the modes can be run one
after the other cheaply). ``--frameworks`` and ``--batch-sweep`` select the portability modes.
The option names are a contract: ``apptainer run fairhep.sif bench --batch-sweep`` and site
job files call them.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path


@dataclass
class BenchOptions:
    data: Path | None = None  # existing dataset; None = embedded synthetic default
    run: Path | None = None  # existing trained run; None = train the default briefly
    results: Path = Path("results")
    device: str = "auto"  # auto | cpu | cuda
    seed: int = 0
    epochs: int | None = None  # epochs for the embedded default's training
    max_jets: int | None = None  # cap on test jets used by the modes
    frameworks: bool = False
    batch_sweep: bool = False
    backends: tuple[str, ...] = ()  # empty = every known backend (absent ones are skipped)
    batch_sizes: tuple[int, ...] | None = None  # None = the mode's default grid
    repeats: int = 10
    report: bool = True
    cache_dir: Path | None = None
    extra: dict[str, object] = field(default_factory=dict)


def default_cache_dir() -> Path:
    env = os.environ.get("FAIRHEP_CACHE")
    if env:
        return Path(env)
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "fairhep"


def prepare_inputs(opts: BenchOptions) -> tuple[Path, Path]:
    """The dataset directory and trained run directory the modes use (embedded default when
    not given)."""
    raise NotImplementedError("core pipeline: synthesise + train the embedded default")


def run_default(opts: BenchOptions, data_dir: Path, run_dir: Path) -> list[Path]:
    raise NotImplementedError("core pipeline: evaluate and write bench.default records")


def run(opts: BenchOptions) -> list[Path]:
    """Run the selected modes and return the result records written."""
    data_dir, run_dir = prepare_inputs(opts)
    written: list[Path] = []
    if opts.frameworks:
        from fairhep.frameworks import run_frameworks

        written += run_frameworks(opts, data_dir, run_dir)
    if opts.batch_sweep:
        from fairhep.sweep import run_sweep

        written += run_sweep(opts, data_dir, run_dir)
    if not (opts.frameworks or opts.batch_sweep):
        written += run_default(opts, data_dir, run_dir)
    return written
