"""The test data and the trained run every bench mode works on.

Without ``--data``/``--run`` the modes use the embedded default: a small synthetic dataset in
the cache directory and a briefly trained baseline IN (both cached, so the modes can be run
one after the other cheaply). :func:`prepare_inputs` returns them, and how they were
obtained, as one frozen :class:`Inputs`.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
import shutil
import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from fairhep import schema
from fairhep.bench.options import BenchOptions
from fairhep.data import load
from fairhep.errors import ConfigError, FairhepError

TEST_SEED_OFFSET = 1_000_003  # test jets come from a seed no training set uses
CACHE_INFO = "bench-cache.json"
ENV_DEFAULTS = "FAIRHEP_BENCH_DEFAULTS"


@dataclass(frozen=True)
class DefaultSettings:
    """The size of the embedded default.

    Sized so that a cold `fairhep bench` (synthesis + training + evaluation) takes about a
    minute on 2 CPU cores with the fast engine (68 s measured on a busy node; 272 s with
    ``--engine reference``, whose training runs at ~250-290 jets/s on 2 idle cores) and
    reaches a test AUC of ~0.97 with the generator's default difficulty. Each field can be
    overridden through $FAIRHEP_BENCH_DEFAULTS (a JSON object) or ``BenchOptions.defaults``
    (tests use a tiny configuration). The field order is the order of the record's
    ``config.default``.
    """

    train_files: int = 9  # file 0 validates (k-fold with 1-file folds), 8 train
    jets_per_file: int = 1000
    test_jets: int = 4000  # a separate synthetic test set (own seed stream)
    epochs: int = 3
    # 10x the paper's 1e-4: the default trains for minutes, not days (recorded in the record).
    lr: float = 1e-3
    batch_size: int = 128
    difficulty: float | None = None  # None = the generator's default
    generator: str | None = None  # None = fairhep.data.synth_options.DEFAULT_GENERATOR

    def as_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


DEFAULTS = DefaultSettings()


@dataclass(frozen=True)
class Inputs:
    """The test data and the trained run every mode works on, and how they were obtained."""

    data_dir: Path
    run_dir: Path
    started: float  # time.perf_counter() when preparing began (the record's total_s)
    cached_data: bool | None = None  # None: the user's dataset
    cached_run: bool | None = None  # None: the user's run
    synth_jets_per_s: float | None = None
    default: Mapping[str, Any] | None = None  # the embedded default's settings, when used
    test_files: tuple[Path, ...] | None = None  # None: the whole test directory


@dataclass(frozen=True)
class _Data:
    """The data half of :class:`Inputs`: test and training directories, and the cache."""

    test_dir: Path
    train_dir: Path
    cached: bool | None = None
    synth_jets_per_s: float | None = None
    default: Mapping[str, Any] | None = None
    test_files: tuple[Path, ...] | None = None


def settings(opts: BenchOptions) -> DefaultSettings:
    """DEFAULTS, overridden by $FAIRHEP_BENCH_DEFAULTS (a JSON object), then by
    opts.defaults, then by --epochs; the generator's difficulty filled in."""
    from fairhep.data.synth_options import DEFAULT_DIFFICULTY, DEFAULT_GENERATOR, GENERATORS

    overrides: dict[str, Any] = {}
    env = os.environ.get(ENV_DEFAULTS)
    if env:
        try:
            overrides.update(json.loads(env))
        except (ValueError, TypeError) as exc:
            raise ConfigError(f"{ENV_DEFAULTS} is not a JSON object ({exc})") from None
    overrides.update(opts.defaults)
    known = [f.name for f in dataclasses.fields(DefaultSettings)]
    unknown = sorted(set(overrides) - set(known))
    if unknown:
        raise ConfigError(f"{ENV_DEFAULTS}: unknown key(s) {unknown}; known: {sorted(known)}")
    chosen = dataclasses.replace(DEFAULTS, **overrides)
    if opts.epochs is not None:
        chosen = dataclasses.replace(chosen, epochs=opts.epochs)
    if chosen.difficulty is None:
        chosen = dataclasses.replace(chosen, difficulty=DEFAULT_DIFFICULTY)
    if chosen.generator is None:
        chosen = dataclasses.replace(chosen, generator=DEFAULT_GENERATOR)
    if chosen.generator not in GENERATORS:
        raise ConfigError(f"{ENV_DEFAULTS}: generator {chosen.generator!r} is not one of "
                          f"{list(GENERATORS)}")
    return chosen


def prepare_inputs(opts: BenchOptions) -> Inputs:
    """The dataset and trained run the modes use (the embedded default when not given)."""
    started = time.perf_counter()
    chosen = settings(opts)
    data = _prepare_data(opts, chosen)
    run_dir: Path
    cached_run: bool | None = None  # None: the user's run
    if opts.run is not None:
        run_dir = Path(opts.run)
    else:
        run_dir, cached_run = _prepare_run(opts, chosen, data.train_dir)
    return Inputs(data.test_dir, run_dir, started, cached_data=data.cached,
                  cached_run=cached_run, synth_jets_per_s=data.synth_jets_per_s,
                  default=data.default, test_files=data.test_files)


def _prepare_data(opts: BenchOptions, chosen: DefaultSettings) -> _Data:
    if opts.data is not None:
        data_dir = Path(opts.data)
        if opts.run is not None:
            return _Data(data_dir, data_dir)
        if data_dir.is_dir() and not any(data_dir.glob(schema.H5_FILE_GLOB)):
            raise ConfigError(f"{data_dir}: training the default model needs an HDF5 "
                              "dataset; give --run RUN_DIR to evaluate a trained model on "
                              "this one")
        # Train on the user's files except the first, and test on that held-out file.
        return _Data(data_dir, data_dir, test_files=(load.list_files(data_dir)[0],))

    from fairhep.data.synth import VERSIONS

    generator = chosen.generator or ""
    # v1 keeps its earlier key, so caches made before v2 existed are still found.
    tag = (f"g{VERSIONS[generator]}" if generator == "v1"
           else f"{generator}g{VERSIONS[generator]}")
    key = (f"synth-{tag}-s{opts.seed}-{chosen.train_files}x"
           f"{chosen.jets_per_file}-t{chosen.test_jets}-d{chosen.difficulty}")
    root = opts.cache / "data" / key
    default = chosen.as_dict()
    if _dataset_intact(root / "train") and _dataset_intact(root / "test"):
        info_path = root / CACHE_INFO
        info = json.loads(info_path.read_text()) if info_path.is_file() else {}
        return _Data(root / "test", root / "train", cached=True,
                     synth_jets_per_s=info.get("synth_jets_per_s"), default=default)
    root.parent.mkdir(parents=True, exist_ok=True)
    rate = _synthesize_default(opts, root, chosen)
    return _Data(root / "test", root / "train", cached=False, synth_jets_per_s=rate,
                 default=default)


def _prepare_run(opts: BenchOptions, chosen: DefaultSettings, train_dir: Path
                 ) -> tuple[Path, bool]:
    """The default model trained on ``train_dir`` (cached); whether it came from the cache."""
    from fairhep.train import SUMMARY, TrainConfig, train

    data_key = train_dir.parent.name if opts.data is None else _dir_key(train_dir)
    run_key = (f"in-{data_key}-s{opts.seed}-e{chosen.epochs}-lr{chosen.lr}"
               f"-b{chosen.batch_size}" + ("" if opts.engine == "reference" else f"-{opts.engine}"))
    run_dir = opts.cache / "runs" / run_key
    summary = run_dir / SUMMARY
    cached = summary.is_file() and bool(json.loads(summary.read_text()).get("finished", False))
    if not cached:
        # An unfinished run directory (a killed bench) is resumed by train().
        cfg = TrainConfig(
            data=train_dir, out=run_dir, seed=opts.seed, split="kfold", fold=0, fold_files=1,
            epochs=chosen.epochs, patience=8, batch_size=chosen.batch_size,
            lr=chosen.lr, device=opts.device, results=opts.results, engine=opts.engine,
            engine_settings=opts.engine_settings,
        )
        if train(cfg).interrupted:
            raise FairhepError(f"{run_dir}: training of the default model was interrupted; "
                               "rerun `fairhep bench` to resume it")
    return run_dir, cached


def _dataset_intact(directory: Path) -> bool:
    """The cached dataset is reused only if `fairhep data check` finds nothing wrong with it
    (files, shapes, values, manifest checksums)."""
    from fairhep.data.check import check_dataset

    try:
        return check_dataset(directory).ok
    except FairhepError:
        return False


def _synthesize_default(opts: BenchOptions, root: Path, chosen: DefaultSettings) -> float:
    """Write train/ and test/ under ``root`` atomically (a killed synthesis leaves nothing
    that looks complete); returns jets per second."""
    from rich.progress import Progress

    from fairhep.data.synth import synthesize

    tmp = root.with_name(f".{root.name}.{os.getpid()}.tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    total = chosen.train_files * chosen.jets_per_file + chosen.test_jets
    with Progress(transient=True) as progress:
        task = progress.add_task("synthesising jets", total=total)

        def advance(n: int) -> None:
            progress.advance(task, n)

        t0 = time.perf_counter()
        synthesize(tmp / "train", chosen.train_files, chosen.jets_per_file, opts.seed,
                   chosen.difficulty, split="train", progress=advance,
                   generator=chosen.generator)
        synthesize(tmp / "test", 1, chosen.test_jets, opts.seed + TEST_SEED_OFFSET,
                   chosen.difficulty, split="test", progress=advance,
                   generator=chosen.generator)
        seconds = time.perf_counter() - t0
    rate = total / seconds
    info = {"synth_jets_per_s": rate, **chosen.as_dict()}
    (tmp / CACHE_INFO).write_text(json.dumps(info) + "\n")
    shutil.rmtree(root, ignore_errors=True)
    tmp.replace(root)
    return rate


def _dir_key(directory: Path) -> str:
    """A short key naming a user's dataset in the cache (its manifest, else its path)."""
    manifest = directory / "manifest.json"
    text = manifest.read_bytes() if manifest.is_file() else str(directory.resolve()).encode()
    return hashlib.sha256(text).hexdigest()[:12]
