"""What a ``fairhep bench`` run is asked to do, complete and frozen.

The CLI (``fairhep bench``) and campaign tasks build one :class:`BenchOptions` each; the
option names mirror the command line, which is a contract with site job files and containers
(``apptainer run fairhep.sif bench --batch-sweep``).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from fairhep.cache import default_cache_dir


@dataclass(frozen=True)
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
    engine: str = "fast"  # the embedded default's training and evaluation: fast | reference
    cache_dir: Path | None = None  # None = fairhep.cache.default_cache_dir()
    # Overrides of the embedded default's size (fairhep.bench.inputs.DefaultSettings); tests
    # use a tiny one. $FAIRHEP_BENCH_DEFAULTS overrides the same keys from the environment.
    defaults: Mapping[str, Any] = field(default_factory=dict)

    @property
    def cache(self) -> Path:
        return Path(self.cache_dir) if self.cache_dir else default_cache_dir()
