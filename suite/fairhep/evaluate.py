"""Scoring a trained IN on a dataset: predictions, and the metrics of :mod:`fairhep.metrics`."""

from __future__ import annotations

import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

from fairhep import schema
from fairhep.data import load, stream
from fairhep.data.arrays import Float32Array, Int64Array, IntArray
from fairhep.data.load import JetArrays
from fairhep.data.manifest import manifest_path
from fairhep.devices import resolve_device, synchronize
from fairhep.errors import ConfigError, DataError
from fairhep.hostmem import retain_freed_memory
from fairhep.metrics import RocPoints, accuracy, defined_auc, roc_points
from fairhep.model import BEST_WEIGHTS, InteractionNetwork, load_run_model
from fairhep.model.fast import (
    DEFAULT_ENGINE,
    FAST_READ_JETS,
    EngineSettings,
    engine_record,
    make_forward,
)


@dataclass
class Predictions:
    scores: Float32Array  # (N, 2) softmax scores, column 0 = QCD
    labels: Int64Array  # (N,) 0 = QCD, 1 = H->bb
    loss: float  # mean cross-entropy
    seconds: float  # time in the forward passes (incl. host-device copies)

    def __len__(self) -> int:
        return int(self.labels.shape[0])


def predict(
    net: InteractionNetwork, batches: Iterable[JetArrays], device: torch.device,
    engine: str = DEFAULT_ENGINE, precision: str = "fp32", during_training: bool = False,
    settings: EngineSettings | None = None,
) -> Predictions:
    """Scores and mean loss of ``net`` over a stream of batches (no gradients).
    ``during_training``: the engine set up as training's (on CUDA its quick compile mode,
    not inference's minutes of autotuning at every epoch's validation); ``settings``: the
    fast engine's (the commands' ``--engine-*``; None: the device's defaults)."""
    was_training = net.training
    net.eval()
    forward = make_forward(engine, net, precision, training=during_training, settings=settings)
    scores: list[Float32Array] = []
    labels: list[Int64Array] = []
    loss_sum, seconds = 0.0, 0.0
    with torch.inference_mode():
        for jets in batches:
            t0 = time.perf_counter()
            x = torch.from_numpy(jets.tracks).to(device)
            y = torch.from_numpy(jets.svs).to(device)
            lab = torch.from_numpy(jets.labels).to(device)
            logits = forward(x, y)
            loss_sum += float(torch.nn.functional.cross_entropy(logits, lab, reduction="sum"))
            scores.append(torch.softmax(logits, dim=1).cpu().numpy())
            seconds += time.perf_counter() - t0
            labels.append(jets.labels)
    synchronize(device)
    net.train(was_training)
    if not labels:
        raise DataError("no jets to evaluate: the dataset (or its validation part) is empty")
    lab_all = np.concatenate(labels)
    return Predictions(np.concatenate(scores), lab_all, loss_sum / len(lab_all), seconds)


@dataclass
class EvalResult:
    accuracy: float
    auc: float | None  # None when the jets hold one class: see auc_undefined
    n_jets: int
    roc: RocPoints
    loss: float
    total_s: float
    jets_per_s: float  # jets through the network per second of forward passes
    device: str
    record: Path | None = None
    config: dict[str, object] = field(default_factory=dict)
    auc_undefined: str | None = None  # why auc is None


def read_batches(data_dir: Path, batch_size: int, max_jets: int | None,
                  files: Sequence[Path] | None = None) -> Iterable[JetArrays]:
    """The first ``max_jets`` jets (all when None) in batches, each read by itself: HDF5
    files a batch at a time, the original NumPy test layout copied out of its memory maps."""
    data_dir = Path(data_dir)
    if files is None and data_dir.is_dir() and not any(data_dir.glob(schema.H5_FILE_GLOB)):
        if any(data_dir.glob("test_*_truth_0.npy")):
            return load.iter_npy_test(data_dir, batch_size, max_jets)
        jets = load.load_dataset(data_dir, max_jets)  # no dataset: its one-line error
        return (jets.slice(slice(i, i + batch_size)) for i in range(0, len(jets), batch_size))
    files = load.list_files(data_dir) if files is None else list(files)
    subsets: dict[Path, IntArray] | None = None
    if max_jets is not None:
        subsets, left = {}, max_jets
        for f in files:
            take = min(left, load.n_jets(f))
            subsets[f] = np.arange(take)
            left -= take
    return stream.iter_slices(files, batch_size, subsets)  # a batch read at a time


def evaluate(
    run_dir: Path,
    data_dir: Path,
    device: str = "auto",
    max_jets: int | None = None,
    results: Path | None = None,
    batch_size: int = 1024,
    weights: str = BEST_WEIGHTS,
    files: Sequence[Path] | None = None,
    engine: str = DEFAULT_ENGINE,
    precision: str = "fp32",
    engine_settings: EngineSettings | None = None,
) -> EvalResult:
    """Score a run's model on a dataset (only ``files`` of it, when given: e.g. the files a
    training held out); write an ``evaluate`` record when ``results`` is set."""
    if batch_size < 1:
        raise ConfigError(f"--batch-size must be a positive number of jets, got {batch_size}")
    if max_jets is not None and max_jets < 1:
        raise ConfigError(f"--max-jets must be a positive number of jets, got {max_jets}; "
                          "leave it out to use every jet")
    if results is not None:
        from fairhep.results import ensure_record_dirs, kinds

        ensure_record_dirs(Path(results), kinds.EVALUATE)
    t0 = time.perf_counter()
    dev = resolve_device(device)
    retain_freed_memory()
    net = load_run_model(Path(run_dir), weights).to(dev)
    # The fast engine's memory is bounded by its budget; reading is bounded here.
    read = batch_size if engine == "reference" else min(batch_size, FAST_READ_JETS)
    pred = predict(net, read_batches(Path(data_dir), read, max_jets, files), dev, engine,
                   precision, settings=engine_settings)
    total_s = time.perf_counter() - t0
    config: dict[str, object] = {
        "run": str(run_dir),
        "weights": weights,
        "data": str(data_dir),
        "device": str(dev),
        "model": net.config.to_dict(),
        "parameters": net.n_parameters(),
        "batch_size": batch_size,
        "max_jets": max_jets,
        "files": None if files is None else [Path(f).name for f in files],
        **engine_record(engine, dev, precision, settings=engine_settings),
    }
    area, undefined = defined_auc(pred.scores, pred.labels)
    out = EvalResult(
        accuracy=accuracy(pred.scores, pred.labels),
        auc=area,
        auc_undefined=undefined,
        n_jets=len(pred),
        roc=roc_points(pred.scores, pred.labels),
        loss=pred.loss,
        total_s=total_s,
        jets_per_s=len(pred) / max(pred.seconds, 1e-9),
        device=str(dev),
        config=config,
    )
    if results is not None:
        from fairhep.results import ResultRecord, kinds, write_record

        record = ResultRecord(
            kind=kinds.EVALUATE,
            config=config,
            metrics={"accuracy": out.accuracy, "auc": out.auc, "n_jets": out.n_jets,
                     "loss": out.loss, "roc": out.roc,
                     **({"auc_undefined": undefined} if undefined else {})},
            timings={"total_s": out.total_s, "jets_per_s": out.jets_per_s},
        )
        out.record = write_record(Path(results), record, manifest_path(Path(data_dir)))
    return out
