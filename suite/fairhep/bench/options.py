"""What a ``fairhep bench`` run is asked to do, complete and frozen.

The CLI (``fairhep bench``) and campaign tasks build one :class:`BenchOptions` each; the
option names mirror the command line, which is a contract with site job files and containers
(``apptainer run fairhep.sif bench --batch-sweep``).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from fairhep.bench.loadgen_driver import LoadgenSettings
from fairhep.cache import default_cache_dir
from fairhep.errors import ConfigError
from fairhep.results.location import default_results_dir

if TYPE_CHECKING:  # the options stay torch-free: a server's bench needs no torch
    from fairhep.model.fast import EngineSettings

HOST_MEMORY = ("auto", "pinned", "pageable")  # fairhep.backends.pinned.CHOICES
DEVICES = ("auto", "cpu", "cuda")


@dataclass(frozen=True)
class ConcurrencySettings:
    """``--concurrency-sweep``'s levels (:mod:`fairhep.bench.concurrency`)."""

    seconds: float = 2.0  # measured time per concurrency level
    batch: int = 1  # jets per request
    max_concurrency: int = 64
    min_gain: float = 0.05  # a level must beat the best throughput by this fraction

    def __post_init__(self) -> None:
        if not (self.seconds > 0 and self.batch >= 1 and self.max_concurrency >= 1
                and self.min_gain >= 0):
            raise ConfigError(f"--concurrency settings must be positive, got {asdict(self)}")

    def levels(self) -> list[int]:
        """1, 2, 4, ... up to ``max_concurrency`` (itself the last when not a power of 2)."""
        out, n = [], 1
        while n < self.max_concurrency:
            out.append(n)
            n *= 2
        return [*out, self.max_concurrency]


@dataclass(frozen=True)
class BenchOptions:
    data: Path | None = None  # existing dataset; None = embedded synthetic default
    run: Path | None = None  # existing trained run; None = train the default briefly
    results: Path = field(default_factory=default_results_dir)  # $FAIRHEP_RESULTS or ./results
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
    # How the fast engine runs (--engine-compile, --engine-buckets, --engine-budget-mb,
    # --onednn): the default's training and evaluation and the fast-* backends. None: defaults.
    engine_settings: EngineSettings | None = None
    cache_dir: Path | None = None  # None = fairhep.cache.default_cache_dir()
    # Overrides of the embedded default's size (fairhep.bench.datasource.DefaultSettings); tests
    # use a tiny one. $FAIRHEP_BENCH_DEFAULTS overrides the same keys from the environment.
    defaults: Mapping[str, Any] = field(default_factory=dict)
    # Seconds of work per sweep repetition (None = the device's default: long enough for
    # NVML's utilisation counter, see fairhep.bench.sweep.REPEAT_SECONDS).
    repeat_s: float | None = None
    # Host memory of GPU backends' inputs and outputs: auto = pinned on GPU backends.
    host_memory: str = "auto"
    # LoadGen scenarios (--loadgen SingleStream,Server,...; empty: not this mode), on the
    # backends or, with url, on a KServe v2 server (model_name: which of its models).
    loadgen: tuple[str, ...] = ()
    url: str | None = None
    model_name: str | None = None
    loadgen_settings: LoadgenSettings = field(default_factory=LoadgenSettings)
    # --concurrency-sweep: throughput against 1, 2, 4, ... clients of the server at url;
    # metrics_url: its Prometheus endpoint, for the server-side time of a request.
    concurrency_sweep: bool = False
    concurrency: ConcurrencySettings = field(default_factory=ConcurrencySettings)
    metrics_url: str | None = None

    def __post_init__(self) -> None:
        """Refuse what no mode can run, in one line naming the option, before any work."""
        if self.repeats < 1:
            raise ConfigError(f"--repeats must be at least 1, got {self.repeats}")
        if self.max_jets is not None and self.max_jets < 1:
            raise ConfigError(f"--max-jets must be at least 1, got {self.max_jets}")
        if self.batch_sizes is not None and (not self.batch_sizes or min(self.batch_sizes) < 1
                                             or len(set(self.batch_sizes)) < len(self.batch_sizes)):
            raise ConfigError(f"--batch-sizes must be positive integers, each once, got "
                              f"{list(self.batch_sizes)}")
        # inf would make a sweep repetition last forever
        if self.repeat_s is not None and not (math.isfinite(self.repeat_s) and self.repeat_s > 0):
            raise ConfigError(f"--repeat-seconds must be a finite number above 0, got "
                              f"{self.repeat_s}")
        if self.host_memory not in HOST_MEMORY:
            raise ConfigError(f"--host-memory must be one of {', '.join(HOST_MEMORY)}, got "
                              f"{self.host_memory!r}")
        if self.url and not (self.loadgen or self.concurrency_sweep):
            raise ConfigError("--url measures a server with LoadGen: give --loadgen "
                              "SCENARIO[,...] or --concurrency-sweep too")
        if self.concurrency_sweep and not self.url:
            raise ConfigError("--concurrency-sweep measures a server: give --url "
                              "http://HOST:PORT or grpc://HOST:PORT (e.g. `fairhep serve`)")
        if self.device not in DEVICES:
            raise ConfigError(f"--device must be one of {', '.join(DEVICES)}, got "
                              f"{self.device!r}")

    @property
    def cache(self) -> Path:
        return Path(self.cache_dir) if self.cache_dir else default_cache_dir()
