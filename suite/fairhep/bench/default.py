"""The inputs of every bench mode, and the default mode itself.

Without ``--data``/``--run`` the modes use the embedded default: a small synthetic dataset in
the cache directory and a briefly trained baseline IN (both cached, so the modes can be run
one after the other cheaply). :func:`prepare_inputs` returns them as :class:`Inputs`;
:func:`run_default` evaluates the run on the test set and writes a ``bench.default`` record.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from fairhep import schema
from fairhep.bench.options import BenchOptions
from fairhep.data import load
from fairhep.errors import ConfigError, FairhepError

# ---- the embedded default -------------------------------------------------------------------
# Sized so that a cold `fairhep bench` (synthesis + training + evaluation) takes a few minutes
# on 2 CPU cores (measured: 3 min 53 s, ~250 CPU-seconds; the baseline IN trains at ~250-290
# jets/s on 2 idle cores, far less on a busy machine) and reaches a test AUC of ~0.97 with the
# generator's default difficulty. Each can be overridden through $FAIRHEP_BENCH_DEFAULTS
# (a JSON object) or ``BenchOptions.defaults`` (tests use a tiny configuration).
DEFAULTS: dict[str, Any] = {
    "train_files": 9,  # file 0 validates (k-fold with 1-file folds), 8 train
    "jets_per_file": 1000,
    "test_jets": 4000,  # a separate synthetic test set (own seed stream)
    "epochs": 3,
    # 10x the paper's 1e-4: the default trains for minutes, not days (recorded in the record).
    "lr": 1e-3,
    "batch_size": 128,
    "difficulty": None,  # None = the generator's default
}
TEST_SEED_OFFSET = 1_000_003  # test jets come from a seed no training set uses
CACHE_INFO = "bench-cache.json"


@dataclass
class Prepared:
    """What prepare_inputs did, for the bench.default record."""

    started: float
    cached_data: bool | None = None  # None: the user's dataset
    cached_run: bool | None = None  # None: the user's run
    synth_jets_per_s: float | None = None
    default: dict[str, Any] | None = None
    test_files: list[Path] | None = None  # None: the whole test directory


@dataclass(frozen=True)
class Inputs:
    """The test data and the trained run every mode works on, and how they were obtained."""

    data_dir: Path
    run_dir: Path
    prepared: Prepared


def _settings(opts: BenchOptions) -> dict[str, Any]:
    """DEFAULTS, overridden by $FAIRHEP_BENCH_DEFAULTS (a JSON object), then by
    opts.defaults, then by --epochs."""
    overrides: dict[str, Any] = {}
    env = os.environ.get("FAIRHEP_BENCH_DEFAULTS")
    if env:
        try:
            overrides.update(json.loads(env))
        except (ValueError, TypeError) as exc:
            raise ConfigError(f"FAIRHEP_BENCH_DEFAULTS is not a JSON object ({exc})") from None
    overrides.update(opts.defaults)
    unknown = sorted(set(overrides) - set(DEFAULTS))
    if unknown:
        raise ConfigError(f"FAIRHEP_BENCH_DEFAULTS: unknown key(s) {unknown}; known: "
                          f"{sorted(DEFAULTS)}")
    settings = {**DEFAULTS, **overrides}
    if opts.epochs is not None:
        settings["epochs"] = opts.epochs
    return settings


def _dataset_intact(directory: Path) -> bool:
    """The cached dataset is reused only if `fairhep data check` finds nothing wrong with it
    (files, shapes, values, manifest checksums)."""
    from fairhep.data.check import check_dataset

    try:
        return check_dataset(directory).ok
    except FairhepError:
        return False


def _synthesize_default(opts: BenchOptions, root: Path, settings: dict[str, Any]) -> float:
    """Write train/ and test/ under ``root`` atomically (a killed synthesis leaves nothing
    that looks complete); returns jets per second."""
    from rich.progress import Progress

    from fairhep.data.synth import synthesize

    tmp = root.with_name(f".{root.name}.{os.getpid()}.tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    n_train = settings["train_files"] * settings["jets_per_file"]
    total = n_train + settings["test_jets"]
    with Progress(transient=True) as progress:
        task = progress.add_task("synthesising jets", total=total)
        t0 = time.perf_counter()
        synthesize(tmp / "train", settings["train_files"], settings["jets_per_file"], opts.seed,
                   settings["difficulty"], split="train",
                   progress=lambda n: progress.advance(task, n))
        synthesize(tmp / "test", 1, settings["test_jets"], opts.seed + TEST_SEED_OFFSET,
                   settings["difficulty"], split="test",
                   progress=lambda n: progress.advance(task, n))
        seconds = time.perf_counter() - t0
    rate = total / seconds
    (tmp / CACHE_INFO).write_text(json.dumps({"synth_jets_per_s": rate, **settings}) + "\n")
    shutil.rmtree(root, ignore_errors=True)
    tmp.replace(root)
    return rate


def prepare_inputs(opts: BenchOptions) -> Inputs:
    """The dataset directory and trained run directory the modes use (embedded default when
    not given)."""
    from fairhep.data.synth import DEFAULT_DIFFICULTY, GENERATOR_VERSION
    from fairhep.train import SUMMARY, TrainConfig, train

    prep = Prepared(started=time.perf_counter())
    cache = opts.cache
    settings = _settings(opts)
    if settings["difficulty"] is None:
        settings["difficulty"] = DEFAULT_DIFFICULTY

    if opts.data is not None:
        data_dir = Path(opts.data)
        train_dir = data_dir
        if opts.run is None:
            if data_dir.is_dir() and not any(data_dir.glob(schema.H5_FILE_GLOB)):
                raise ConfigError(f"{data_dir}: training the default model needs an HDF5 "
                                  "dataset; give --run RUN_DIR to evaluate a trained model on "
                                  "this one")
            # Train on the user's files except the first, and test on that held-out file.
            prep.test_files = [load.list_files(data_dir)[0]]
    else:
        key = (f"synth-g{GENERATOR_VERSION}-s{opts.seed}-{settings['train_files']}x"
               f"{settings['jets_per_file']}-t{settings['test_jets']}-d{settings['difficulty']}")
        root = cache / "data" / key
        if _dataset_intact(root / "train") and _dataset_intact(root / "test"):
            prep.cached_data = True
            info = json.loads((root / CACHE_INFO).read_text()) if (root / CACHE_INFO).is_file() else {}
            prep.synth_jets_per_s = info.get("synth_jets_per_s")
        else:
            root.parent.mkdir(parents=True, exist_ok=True)
            prep.cached_data = False
            prep.synth_jets_per_s = _synthesize_default(opts, root, settings)
        data_dir, train_dir = root / "test", root / "train"
        prep.default = settings

    if opts.run is not None:
        return Inputs(data_dir, Path(opts.run), prep)

    run_key = (f"in-{train_dir.parent.name if opts.data is None else _dir_key(train_dir)}"
               f"-s{opts.seed}-e{settings['epochs']}-lr{settings['lr']}-b{settings['batch_size']}")
    run_dir = cache / "runs" / run_key
    summary = run_dir / SUMMARY
    prep.cached_run = summary.is_file() and json.loads(summary.read_text()).get("finished", False)
    if not prep.cached_run:
        # An unfinished run directory (a killed bench) is resumed by train().
        cfg = TrainConfig(
            data=train_dir, out=run_dir, seed=opts.seed, split="kfold", fold=0, fold_files=1,
            epochs=settings["epochs"], patience=8, batch_size=settings["batch_size"],
            lr=settings["lr"], device=opts.device, results=opts.results,
        )
        result = train(cfg)
        if result.interrupted:
            raise FairhepError(f"{run_dir}: training of the default model was interrupted; "
                               "rerun `fairhep bench` to resume it")
    return Inputs(data_dir, run_dir, prep)


def _dir_key(directory: Path) -> str:
    """A short key naming a user's dataset in the cache (its manifest, else its path)."""
    manifest = directory / "manifest.json"
    text = manifest.read_bytes() if manifest.is_file() else str(directory.resolve()).encode()
    return hashlib.sha256(text).hexdigest()[:12]


def run_default(opts: BenchOptions, inputs: Inputs) -> list[Path]:
    """Evaluate the run on the test set, write a ``bench.default`` record, print a table."""
    from rich.console import Console
    from rich.table import Table

    from fairhep.data.manifest import manifest_path
    from fairhep.evaluate import evaluate
    from fairhep.results import ResultRecord, kinds, write_record
    from fairhep.train import SUMMARY

    prep, data_dir, run_dir = inputs.prepared, inputs.data_dir, inputs.run_dir
    ev = evaluate(run_dir, data_dir, device=opts.device, max_jets=opts.max_jets,
                  files=prep.test_files)
    summary_path = Path(run_dir) / SUMMARY
    summary = json.loads(summary_path.read_text()) if summary_path.is_file() else {}
    timings = {
        "synth_jets_per_s": prep.synth_jets_per_s,
        "train_jets_per_s": summary.get("train_jets_per_s"),
        "eval_jets_per_s": ev.jets_per_s,
        "train_s": summary.get("train_s"),
        "eval_s": ev.total_s,
        "total_s": time.perf_counter() - prep.started,
    }
    record = ResultRecord(
        kind=kinds.BENCH_DEFAULT,
        config={
            "data": str(data_dir), "run": str(run_dir), "device": ev.device, "seed": opts.seed,
            "model": ev.config["model"], "parameters": ev.config["parameters"],
            "training": summary.get("config"), "default": prep.default,
            "cached_data": prep.cached_data, "cached_run": prep.cached_run,
            "max_jets": opts.max_jets,
            "test_files": ev.config["files"],
        },
        metrics={
            "accuracy": ev.accuracy, "auc": ev.auc, "loss": ev.loss,
            "n_train_jets": summary.get("n_train_jets"), "n_test_jets": ev.n_jets,
            "roc": ev.roc,
        },
        timings=timings,
    )
    path = write_record(Path(opts.results), record, manifest_path(data_dir))

    def rate(v: float | None) -> str:
        return "-" if v is None else f"{v:,.0f}"

    table = Table(title="fairhep bench (default)", show_header=False)
    table.add_row("device", ev.device)
    table.add_row("jets (train / test)",
                  f"{rate(summary.get('n_train_jets'))} / {ev.n_jets:,}")
    table.add_row("AUC", f"{ev.auc:.4f}")
    table.add_row("accuracy", f"{ev.accuracy:.4f}")
    cached = " (cached)"
    table.add_row("synth jets/s", rate(prep.synth_jets_per_s) + (cached if prep.cached_data else ""))
    table.add_row("train jets/s", rate(summary.get("train_jets_per_s"))
                  + (cached if prep.cached_run else ""))
    table.add_row("eval jets/s", rate(ev.jets_per_s))
    table.add_row("total time", f"{timings['total_s']:.1f} s")
    table.add_row("record", str(path))
    Console().print(table)
    return [path]
