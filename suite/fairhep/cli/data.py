"""``fairhep data synth|convert|check``: make, convert and validate jet datasets."""

from __future__ import annotations

import argparse
import textwrap
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path
from typing import TYPE_CHECKING

from fairhep import schema
from fairhep.cli import Subparsers, add_progress_option
from fairhep.cli._values import positive_int

if TYPE_CHECKING:
    from rich.progress import Progress, TaskID

    from fairhep.data.h5layout import ProgressFn


def register(sub: Subparsers) -> None:
    data = sub.add_parser("data", help="synthesise, convert or check a jet dataset",
                          description="Jet datasets in the FAIR HDF5 layout (see fairhep.schema).")
    dsub = data.add_subparsers(dest="data_command", metavar="DATA_COMMAND", required=True)
    _register_synth(dsub)
    _register_convert(dsub)
    _register_check(dsub)
    _register_realism(dsub)


def _register_synth(dsub: Subparsers) -> None:
    from fairhep.data import synth_options as synth  # no numpy: keeps `fairhep --help` fast

    p = dsub.add_parser(
        "synth",
        help="write synthetic H->bb / QCD jets in the FAIR layout",
        description=textwrap.fill(
            "Synthetic H->bb and QCD jets in the FAIR HDF5 layout (or the original NumPy test "
            "layout), physics-motivated (two prongs, displaced tracks and secondary vertices "
            "from b hadrons), deterministic per seed, with a manifest. The physics model is "
            "documented in `python -m pydoc fairhep.data.synth`.", 90)
        + "\n\n" + synth.DIFFICULTY_DOC,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("--out", type=Path, help="output directory (required unless --describe)")
    p.add_argument("--files", type=positive_int, default=1, help="number of files (default 1)")
    p.add_argument("--jets-per-file", type=positive_int, default=10_000,
                   help="jets in each file (default 10000; the FAIR files hold 100000)")
    p.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    p.add_argument("--difficulty", type=float, default=None,
                   help="fraction of jets generated with the other class's physics, in "
                   f"[0, {synth.MAX_DIFFICULTY}]; AUC <= ~1-difficulty "
                   f"(default {synth.DEFAULT_DIFFICULTY}: baseline IN AUC ~0.97 after 3 "
                   "epochs on 20k jets)")
    _add_split_option(p)
    p.add_argument("--layout", choices=list(synth.LAYOUTS), default="h5",
                   help="h5: newdata_<i>.h5 (default); npy: the original NumPy test layout "
                   "test_<k>_features_2.npy, _3, test_<k>_truth_0.npy, test_<k>_spectators_0.npy")
    p.add_argument("--channels-last", action="store_true",
                   help="npy layout only: store (N, 60, 30) / (N, 5, 14) like the older files")
    p.add_argument("--generator", choices=list(synth.GENERATORS), default=None,
                   help=f"v2: realistic jets, every number cited (see --describe); v1: the "
                   f"first generator (default {synth.DEFAULT_GENERATOR})")
    p.add_argument("--describe", action="store_true",
                   help="print every distribution and number of the v2 generator with its "
                   "source, and exit")
    add_progress_option(p)
    p.set_defaults(func=_synth)


def _register_realism(dsub: Subparsers) -> None:
    p = dsub.add_parser(
        "realism",
        help="how real jets look to a model trained on CMS jets (AUC, per-feature changes)",
        description="Score DIR's jets with a model trained on real jets (default: the paper's "
        "published baseline from ../shared/published/, or --checkpoint / --run) and, per input "
        "feature, the AUC change when the feature is shuffled across jets or set to its mean. "
        "The model is an instrument: never tune a generator against it.",
    )
    p.add_argument("directory", type=Path, metavar="DIR", help="dataset directory")
    p.add_argument("--checkpoint", type=Path, metavar="FILE.pth",
                   help="a published state_dict (default: $FAIRHEP_PUBLISHED_BASELINE or "
                   "../shared/published/gnn_baseline_best.pth)")
    p.add_argument("--metadata", type=Path, metavar="META.json",
                   help="the checkpoint's FAIR metadata file (needed when it dropped features)")
    p.add_argument("--run", type=Path, metavar="RUN_DIR",
                   help="an imported or trained run directory instead of a checkpoint")
    p.add_argument("--max-jets", type=positive_int, default=2000,
                   help="jets to score (default 2000; each feature costs two passes)")
    p.add_argument("--seed", type=int, default=0, help="seed of the shuffles (default 0)")
    p.add_argument("--json", action="store_true", help="print a JSON object instead")
    add_progress_option(p)
    p.set_defaults(func=_realism)


def _add_split_option(p: argparse.ArgumentParser) -> None:
    p.add_argument("--split", choices=list(schema.H5_FEATURE_GROUP), default="train",
                   help="HDF5 group: training_subgroup (train) or testing_subgroup (test)")


def _step_size(text: str) -> int | str:
    """``20000`` (entries) or a memory size uproot understands, e.g. ``100 MB``."""
    return int(text) if text.strip().isdigit() else text


def _register_convert(dsub: Subparsers) -> None:
    p = dsub.add_parser(
        "convert",
        help="convert CMS open-data ROOT ntuples (HiggsToBBNTuple) to the FAIR HDF5 layout",
        description="Read TTree deepntuplizer/tree with uproot in steps, drop jets that are "
        "neither QCD nor H->bb, cut/pad tracks (60) and SVs (5) in ntuple order, and write "
        "newdata_<i>.h5 files (the counter runs across input files; existing files are "
        "skipped, so an interrupted conversion resumes) plus manifest.json.",
    )
    p.add_argument("root_files", nargs="+", type=Path, metavar="ROOT_FILE")
    p.add_argument("--out", type=Path, required=True, help="output directory")
    p.add_argument("--jets-per-file", type=positive_int, default=100_000,
                   help="entries per output file (default 100000, as the FAIR files)")
    p.add_argument("--step-size", type=_step_size, default=20_000,
                   help="entries read at once, or a size like '100 MB' (default 20000)")
    _add_split_option(p)
    add_progress_option(p)
    p.set_defaults(func=_convert)


def _register_check(dsub: Subparsers) -> None:
    p = dsub.add_parser(
        "check",
        help="validate a dataset directory (shapes, dtypes, NaN/inf, labels, checksums)",
        description="Validate every file of a dataset against fairhep.schema and its manifest. "
        "Prints one line per problem (file, dataset, what is wrong); exit code 1 if any.",
    )
    p.add_argument("directory", type=Path, help="dataset directory")
    p.add_argument("--no-checksums", dest="checksums", action="store_false",
                   help="skip the sha256 comparison with the manifest (faster on big datasets)")
    p.set_defaults(func=_check)


@contextmanager
def progress_bar(description: str, total: int, enabled: bool = True, unit: str = "jets"
                 ) -> Iterator[ProgressFn]:
    """A rich progress bar counting jets; yields the ``advance(n)`` callback. The bar is
    drawn at the first jets, not before: a command that refuses its input (an existing
    dataset, a difficulty out of range) prints its one line and no empty bar."""
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        TextColumn,
        TimeElapsedColumn,
        TimeRemainingColumn,
    )

    with ExitStack() as stack:
        started: list[tuple[Progress, TaskID]] = []

        def advance(n: int) -> None:
            if not started:
                bar = stack.enter_context(Progress(
                    TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(),
                    TextColumn(unit), TimeElapsedColumn(), TimeRemainingColumn(),
                    disable=not enabled, transient=False))
                started.append((bar, bar.add_task(description, total=total)))
            bar, task = started[0]
            bar.advance(task, n)

        yield advance


def _synth(args: argparse.Namespace) -> int:
    if args.describe:
        from fairhep.data.jetphysics import describe_lines

        print("\n".join(describe_lines()))
        return 0
    if args.out is None:
        from fairhep.errors import ConfigError

        raise ConfigError("data synth: --out DIR is required (or --describe to list the "
                          "generator's sources)")
    from fairhep.data.synth import synthesize

    total = args.files * args.jets_per_file
    t0 = time.perf_counter()
    with progress_bar("synthesising", total, args.progress) as advance:
        manifest = synthesize(args.out, args.files, args.jets_per_file, args.seed,
                              difficulty=args.difficulty, split=args.split, layout=args.layout,
                              channels_last=args.channels_last, progress=advance,
                              generator=args.generator)
    dt = time.perf_counter() - t0
    # A NumPy test set is four files per set of jets (tracks, SVs, truth, spectators).
    where = (f"{args.files} file{'s' if args.files != 1 else ''}" if args.layout == "h5" else
             f"{args.files} NumPy test set{'s' if args.files != 1 else ''} "
             f"({len(manifest.files)} files)")
    print(f"wrote {manifest.n_jets} generated jets in {where} to {args.out} "
          f"({manifest.n_jets / dt:,.0f} jets/s, generator {manifest.generator['generator']}, "
          f"difficulty {manifest.generator['difficulty']})")
    return 0


def _convert(args: argparse.Namespace) -> int:
    from fairhep.data.convert import convert, plan

    t0 = time.perf_counter()
    total = sum(c.stop - c.start for c in plan(args.root_files, args.jets_per_file))
    with progress_bar("converting", total, args.progress) as advance:
        manifest = convert(args.root_files, args.out, jets_per_file=args.jets_per_file,
                           step_size=args.step_size, split=args.split, progress=advance)
    dt = time.perf_counter() - t0
    g = manifest.generator
    print(f"wrote {manifest.n_jets} jets in {len(manifest.files)} files to {args.out} "
          f"({g['entries'] / dt:,.0f} entries/s; dropped {g['dropped_unlabelled']} unlabelled, "
          f"{g['dropped_ambiguous']} ambiguous; {g['files_skipped_existing']} existing files "
          "skipped)")
    return 0


def _check(args: argparse.Namespace) -> int:
    from fairhep.data.check import check_dataset, print_report

    report = check_dataset(args.directory, checksums=args.checksums)
    print_report(report)
    return 0 if report.ok else 1


def _realism(args: argparse.Namespace) -> int:
    import json

    from fairhep.errors import ConfigError
    from fairhep.xai.realism import load_instrument, realism_study, table_lines

    if args.run is not None and (args.checkpoint is not None or args.metadata is not None):
        raise ConfigError("data realism: --run and --checkpoint/--metadata both name the model; "
                          "give one")
    net, name = load_instrument(args.checkpoint, args.metadata, args.run)
    total = len(net.config.track_features) + len(net.config.sv_features)
    with progress_bar("realism", total, args.progress, unit="features") as advance:
        result = realism_study(net, args.directory, name, max_jets=args.max_jets,
                               seed=args.seed, progress=advance)
    if args.json:
        print(json.dumps(result.as_dict(), indent=2))
    else:
        print("\n".join(table_lines(result)))
    return 0
