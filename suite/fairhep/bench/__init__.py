"""``fairhep bench``: the main job, and the entry point of every benchmark mode.

:func:`run` prepares the inputs (:mod:`.inputs`: the embedded default unless
``--data``/``--run`` are given) and runs the selected modes: the default evaluation
(:mod:`.default`), framework parity and time per batch (:mod:`.frameworks`, Table 8) and the
batch-size sweep (:mod:`.sweep`, Figure 4) and latency under load by MLPerf LoadGen's rules
(:mod:`.loadgen`); each mode is one object of the registry in :mod:`.modes`. The portability
modes run each backend through one shared loop (:mod:`.backend_loop`) on one
:mod:`.workload`.
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
    """Run the selected modes (:mod:`fairhep.bench.modes`) and return the records written."""
    from fairhep.bench.datasource import prepare_inputs
    from fairhep.bench.modes import selected_modes
    from fairhep.results import ensure_record_dirs
    from fairhep.writable import ensure_writable

    modes = selected_modes(opts)
    ensure_record_dirs(Path(opts.results), *(m.kind for m in modes))
    needs_run = any(m.needs_run(opts) for m in modes)
    portability = any(m.portability for m in modes)
    if (needs_run and (opts.run is None or opts.data is None or portability)) \
            or opts.data is None:
        # the embedded default's data and run, ONNX exports and engines are kept there
        ensure_writable(opts.cache, "cache directory",
                        "choose another with --cache-dir or $FAIRHEP_CACHE")
    if portability and needs_run:
        from fairhep.backends.tf32 import disable_tf32_for_this_process

        disable_tf32_for_this_process()
    inputs = prepare_inputs(opts) if needs_run or opts.data is None else None
    written: list[Path] = []
    for mode in modes:
        written += mode.run(opts, inputs)
    return written
