"""The bench modes, each one object behind one interface, in one registry.

A mode says when the options select it (the CLI flags stay as they were: ``--frameworks``,
``--batch-sweep``, ``--loadgen``, ``--concurrency-sweep``; none of them: the default), the
record kind it writes,
whether it compares backends (TF32 off for the whole process, the ONNX cache written), the
report section that reads its records, and runs. :func:`fairhep.bench.run` asks the registry
instead of testing flags; a new mode is one class and one line in :data:`MODES`.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from pathlib import Path

from fairhep.bench.datasource import Inputs
from fairhep.bench.options import BenchOptions
from fairhep.results import kinds


class BenchMode(ABC):
    name: str = ""
    kind: str = ""  # the record kind it writes (fairhep.results.kinds)
    section: str = ""  # the report section that reads them (fairhep.report.sections)
    portability: bool = True  # compares backends: TF32 off, ONNX exports cached

    @abstractmethod
    def selected(self, opts: BenchOptions) -> bool:
        """Whether ``opts`` asks for this mode."""

    def needs_run(self, opts: BenchOptions) -> bool:  # noqa: ARG002 - the interface's
        """Whether it needs a trained run (a server alone needs only the jets)."""
        return True

    @abstractmethod
    def run(self, opts: BenchOptions, inputs: Inputs | None) -> list[Path]:
        """Run it; the records written. ``inputs`` is None only when no selected mode
        :meth:`needs_run` and ``--data`` names the jets (nothing to train or cache)."""


class Frameworks(BenchMode):
    name, kind, section = "frameworks", kinds.BENCH_FRAMEWORKS, "table8"

    def selected(self, opts: BenchOptions) -> bool:
        return opts.frameworks

    def run(self, opts: BenchOptions, inputs: Inputs | None) -> list[Path]:
        from fairhep.bench.frameworks import run_frameworks

        assert inputs is not None
        return run_frameworks(opts, inputs.data_dir, inputs.run_dir)


class Sweep(BenchMode):
    name, kind, section = "batch_sweep", kinds.BENCH_SWEEP, "figure4"

    def selected(self, opts: BenchOptions) -> bool:
        return opts.batch_sweep

    def run(self, opts: BenchOptions, inputs: Inputs | None) -> list[Path]:
        from fairhep.bench.sweep import run_sweep

        assert inputs is not None
        return run_sweep(opts, inputs.data_dir, inputs.run_dir)


class Loadgen(BenchMode):
    name, kind, section = "loadgen", kinds.BENCH_LOADGEN, "latency"

    def selected(self, opts: BenchOptions) -> bool:
        return bool(opts.loadgen)

    def needs_run(self, opts: BenchOptions) -> bool:
        return opts.url is None

    def run(self, opts: BenchOptions, inputs: Inputs | None) -> list[Path]:
        from fairhep.bench.loadgen import run_loadgen

        if inputs is None:
            assert opts.data is not None
            return run_loadgen(opts, Path(opts.data), None)
        return run_loadgen(opts, inputs.data_dir, None if opts.url else inputs.run_dir)


class Concurrency(BenchMode):
    """A server's throughput and latency against concurrent clients (perf_analyzer-like)."""

    name, kind, section = "concurrency_sweep", kinds.BENCH_CONCURRENCY, "latency"
    portability = False

    def selected(self, opts: BenchOptions) -> bool:
        return opts.concurrency_sweep

    def needs_run(self, opts: BenchOptions) -> bool:  # noqa: ARG002 - the interface's
        return False

    def run(self, opts: BenchOptions, inputs: Inputs | None) -> list[Path]:
        from fairhep.bench.concurrency import run_concurrency

        assert opts.url is not None  # BenchOptions refuses a sweep without one
        return run_concurrency(opts.url, opts.model_name, opts.concurrency, opts.metrics_url,
                               inputs.data_dir if inputs else Path(str(opts.data)),
                               opts.max_jets, opts.results)


class Default(BenchMode):
    """Evaluate the run: what `fairhep bench` does when no other mode is asked for."""

    name, kind, section = "default", kinds.BENCH_DEFAULT, "bench_default"
    portability = False

    def selected(self, opts: BenchOptions) -> bool:
        return not any(m.selected(opts) for m in MODES if m is not self)

    def run(self, opts: BenchOptions, inputs: Inputs | None) -> list[Path]:
        from fairhep.bench.default import run_default

        assert inputs is not None
        return run_default(opts, inputs)


MODES: tuple[BenchMode, ...] = (Frameworks(), Sweep(), Loadgen(), Concurrency(), Default())


def selected_modes(opts: BenchOptions) -> list[BenchMode]:
    return [m for m in MODES if m.selected(opts)]
