"""``fairhep bench``: the main job, and the entry point of every benchmark mode.

:func:`run` prepares the inputs (:mod:`.inputs`: the embedded default unless
``--data``/``--run`` are given) and runs the selected modes: the default evaluation
(:mod:`.default`), framework parity and time per batch (:mod:`.frameworks`, Table 8) and the
batch-size sweep (:mod:`.sweep`, Figure 4); the last two run each backend through one shared
loop (:mod:`.backend_loop`) on one :mod:`.workload`.
Nothing here builds a report: the CLI or the campaign task does, after the bench.

Before any work, the output locations are checked (one line naming the folder when one is
not writable, not a traceback after the last measurement), and for the portability modes TF32
is turned off for the whole process while no CUDA library has started yet
(:mod:`fairhep.backends.tf32`).
"""

from __future__ import annotations

from pathlib import Path

from fairhep.bench.options import BenchOptions

__all__ = ["BenchOptions", "run"]


def run(opts: BenchOptions) -> list[Path]:
    """Run the selected modes and return the result records written."""
    from fairhep.bench.datasource import prepare_inputs
    from fairhep.results import ensure_record_dirs, kinds
    from fairhep.writable import ensure_writable

    ensure_record_dirs(Path(opts.results), *(
        ([kinds.BENCH_FRAMEWORKS] if opts.frameworks else [])
        + ([kinds.BENCH_SWEEP] if opts.batch_sweep else [])
        + ([] if opts.frameworks or opts.batch_sweep else [kinds.BENCH_DEFAULT])))
    if opts.run is None or opts.data is None or opts.frameworks or opts.batch_sweep:
        # the embedded default's data and run, ONNX exports and engines are kept there
        ensure_writable(opts.cache, "cache directory",
                        "choose another with --cache-dir or $FAIRHEP_CACHE")
    if opts.frameworks or opts.batch_sweep:
        from fairhep.backends.tf32 import disable_tf32_for_this_process

        disable_tf32_for_this_process()
    inputs = prepare_inputs(opts)
    written: list[Path] = []
    if opts.frameworks:
        from fairhep.bench.frameworks import run_frameworks

        written += run_frameworks(opts, inputs.data_dir, inputs.run_dir)
    if opts.batch_sweep:
        from fairhep.bench.sweep import run_sweep

        written += run_sweep(opts, inputs.data_dir, inputs.run_dir)
    if not (opts.frameworks or opts.batch_sweep):
        from fairhep.bench.default import run_default

        written += run_default(opts, inputs)
    return written
