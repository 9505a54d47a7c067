"""One interpretability study of one run on one dataset, from options to a written record.

The command line (``fairhep xai mask|lrp|rna|ablate``) and the campaign's xai and ablate tasks
both come here. A run directory of ``fairhep train`` and one of ``fairhep model import`` (a
published checkpoint) are read the same way.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Generic, TypeVar

import torch

from fairhep import schema
from fairhep.data.manifest import manifest_path
from fairhep.devices import resolve_device
from fairhep.model import BEST_WEIGHTS, InteractionNetwork, load_run_model
from fairhep.results import ResultRecord, ensure_record_dirs, kinds, write_record
from fairhep.results.location import default_results_dir
from fairhep.xai import records
from fairhep.xai.ablation import AblationRow, ablation_row
from fairhep.xai.activity import ActivityStudy, activity_study
from fairhep.xai.inputs import input_facts
from fairhep.xai.jets import PAPER_BATCH_SIZE, PAPER_BATCHES, class_sample, data_origin
from fairhep.xai.lrp import LrpStudy, Rule, lrp_study
from fairhep.xai.masking import PAPER_THRESHOLDS_PCT, MaskStudy, mask_study, single_masks

T = TypeVar("T")


@dataclass(frozen=True)
class StudyOptions:
    run: Path
    data: Path
    # None: write no record; by default $FAIRHEP_RESULTS or ./results, as on the command line
    results: Path | None = field(default_factory=default_results_dir)
    device: str = "auto"
    weights: str = BEST_WEIGHTS
    batch_size: int = 1024  # inference batches of the masking and scoring passes
    max_jets: int | None = None  # masking and Table 10's AUC: the first N jets (None: all)
    batches: int = PAPER_BATCHES  # LRP and RNA: this many batches of each class ...
    sample_batch_size: int = PAPER_BATCH_SIZE  # ... of this many jets
    progress: bool = True
    extra: Mapping[str, Any] = field(default_factory=dict)  # more config for the record

    def __post_init__(self) -> None:
        if min(self.batch_size, self.batches, self.sample_batch_size) < 1:
            raise ValueError("batch sizes and the number of batches must be positive")
        if self.max_jets is not None and self.max_jets < 1:
            raise ValueError("max_jets must be positive")

    @property
    def per_class(self) -> int:
        return self.batches * self.sample_batch_size


@dataclass(frozen=True)
class Outcome(Generic[T]):
    study: T
    record: ResultRecord
    path: Path | None  # the written record (None: no --results)


@contextlib.contextmanager
def _bar(enabled: bool, what: str, total: int | None) -> Iterator[Callable[[int], None]]:
    """A rich progress bar advanced by jets; a no-op without ``enabled``."""
    if not enabled:
        yield lambda _n: None
        return
    from rich.progress import Progress

    with Progress(transient=True) as progress:
        task = progress.add_task(what, total=total)
        yield lambda n: progress.advance(task, n)


def _load(opts: StudyOptions, kind: str) -> tuple[InteractionNetwork, torch.device]:
    if opts.results is not None:
        ensure_record_dirs(opts.results, kind)
    device = resolve_device(opts.device)
    return load_run_model(Path(opts.run), opts.weights).to(device), device


def _write(opts: StudyOptions, record: ResultRecord, net: InteractionNetwork,
           device: torch.device, n_jets: int, started: float) -> Path | None:
    record.config = {**records.run_config(opts.run, net, opts.weights), "data": str(opts.data),
                     "data_origin": data_origin(opts.data), "device": str(device),
                     **record.config, **opts.extra}
    record.metrics.setdefault("n_jets", n_jets)
    record.timings = {"total_s": time.perf_counter() - started}
    if opts.results is None:
        return None
    return write_record(Path(opts.results), record, manifest_path(Path(opts.data)))


def run_mask(opts: StudyOptions, thresholds_pct: tuple[float, ...] = PAPER_THRESHOLDS_PCT
         ) -> Outcome[MaskStudy]:
    """Single-feature masking of every input feature and multi-feature masking per threshold."""
    started = time.perf_counter()
    net, device = _load(opts, kinds.XAI_MASK)
    passes = 1 + len(single_masks(net))
    with _bar(opts.progress, f"masking {passes} ways (+ thresholds)", None) as advance:
        study = mask_study(net, opts.data, device, thresholds_pct, opts.batch_size,
                           opts.max_jets, advance)
    record = records.mask_record(study, {"batch_size": opts.batch_size,
                                         "max_jets": opts.max_jets,
                                         "thresholds_pct": list(thresholds_pct)})
    return Outcome(study, record, _write(opts, record, net, device, study.n_jets, started))


def _sample_config(opts: StudyOptions) -> dict[str, Any]:
    return {"batches_per_class": opts.batches, "sample_batch_size": opts.sample_batch_size,
            "per_class": opts.per_class}


def run_lrp(opts: StudyOptions, rule: Rule) -> Outcome[LrpStudy]:
    """Mean LRP relevance per feature, object and layer, for each class."""
    started = time.perf_counter()
    net, device = _load(opts, kinds.XAI_LRP)
    jets = class_sample(opts.data, opts.per_class)
    with _bar(opts.progress, f"LRP-{rule.name}", len(jets)) as advance:
        study = lrp_study(net, jets, rule, device, progress=advance)
    record = records.lrp_record(study, _sample_config(opts))
    record.metrics["inputs"] = input_facts(jets)
    return Outcome(study, record, _write(opts, record, net, device, len(jets), started))


def run_rna(opts: StudyOptions) -> Outcome[ActivityStudy]:
    """Relative neural activity per neuron and class, dNAP and sparsity."""
    started = time.perf_counter()
    net, device = _load(opts, kinds.XAI_RNA)
    jets = class_sample(opts.data, opts.per_class)
    with _bar(opts.progress, "neural activity", len(jets)) as advance:
        study = activity_study(net, jets, device, progress=advance)
    record = records.rna_record(study, _sample_config(opts))
    return Outcome(study, record, _write(opts, record, net, device, len(jets), started))


def run_ablation(opts: StudyOptions, baseline: Path) -> Outcome[AblationRow]:
    """Table 10's row for ``opts.run``: AUC, fidelity against ``baseline``, sparsity."""
    started = time.perf_counter()
    net, device = _load(opts, kinds.XAI_ABLATION)
    same = Path(baseline).resolve() == Path(opts.run).resolve()
    base = net if same else load_run_model(Path(baseline), opts.weights).to(device)
    row = ablation_row(net, base, opts.data, device, opts.per_class, opts.batch_size,
                       opts.max_jets)
    dropped_tracks = [f for f in schema.TRACK_FEATURES if f not in net.config.track_features]
    dropped_svs = [f for f in schema.SV_FEATURES if f not in net.config.sv_features]
    record = records.ablation_record(row, {
        "baseline": str(baseline), "is_baseline": same,
        "baseline_parameters": base.n_parameters(),
        "dropped_track_features": dropped_tracks, "dropped_sv_features": dropped_svs,
        "delta_p": len(dropped_tracks), "delta_s": len(dropped_svs),
        "batch_size": opts.batch_size, "max_jets": opts.max_jets, **_sample_config(opts),
    })
    return Outcome(row, record, _write(opts, record, net, device, row.n_jets, started))
