"""``fairhep validate``: is this bundle intact, and does every runtime here reproduce its
expected scores within the tolerance?

First every file is checked against ``SHA256SUMS`` (one changed byte is a one-line error
naming the file, and a failed ``validate`` record). Then the validation sample goes through
each runtime in the same batches: per runtime the max and mean per-jet |Δscore| against the
expected scores, pass or fail against the tolerance of its precision, and the time. A runtime
that cannot run here is skipped with its reason; one that breaks fails with its error. One
``validate`` record holds it all, with provenance.

A bundle of a trained run holds two graphs of one set of weights: ``model.onnx`` (dense, the
paper's form) and ``model-fast.onnx`` (:data:`fairhep.fair.bundle.FAST_MODEL`). Every runtime
that runs an ONNX file runs both, as two rows (the fast one keyed ``<runtime>/fast``); each
row says its ``graph_form`` (None for runtimes that run the PyTorch weights). A foreign ONNX
has no fast graph: one line says so and the dense graph is validated alone.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np

from fairhep.backends import TOLERANCE, Backend, PreparedModel
from fairhep.data.load import JetArrays
from fairhep.errors import BackendUnavailable
from fairhep.fair import bundle as layout
from fairhep.fair.inference_runtimes import CompiledBackend, KServeBackend, local_runtimes, select
from fairhep.fair.sample import BATCH_SIZE, read_expected, read_sample, score_batches

PASSED, FAILED, SKIPPED = "passed", "failed", "skipped"


@dataclass(frozen=True)
class RuntimeResult:
    label: str
    status: str  # passed | failed | skipped
    reason: str | None = None  # why skipped, or the error of a runtime that broke
    precision: str = "fp32"
    tolerance: float | None = None
    max_abs_diff: float | None = None
    mean_abs_diff: float | None = None
    n_jets: int = 0
    prepare_s: float | None = None
    run_s: float | None = None
    detail: dict[str, Any] = field(default_factory=dict)
    graph_form: str | None = None  # dense | fast; None: the runtime ran the PyTorch weights
    graph_file: str | None = None  # the bundle's ONNX file it ran, when it ran one

    @property
    def key(self) -> str:
        """The row's name in records: the runtime, with ``/fast`` when it ran the bundle's
        fast graph (the same runtime's dense row keeps the plain name)."""
        return f"{self.label}/fast" if self.graph_file == layout.FAST_MODEL else self.label

    @property
    def jets_per_s(self) -> float | None:
        return self.n_jets / self.run_s if self.run_s else None


@dataclass(frozen=True)
class Validation:
    bundle: Path
    model_id: str
    identifier: str
    files_checked: int
    n_jets: int
    reference: str
    sample: dict[str, Any]
    results: tuple[RuntimeResult, ...]
    record: Path | None = None
    fast_graph: str | None = None  # the bundle's fast graph file; None: it has none

    @property
    def failed(self) -> list[RuntimeResult]:
        return [r for r in self.results if r.status == FAILED]

    @property
    def ran(self) -> list[RuntimeResult]:
        return [r for r in self.results if r.status != SKIPPED]

    @property
    def passed(self) -> bool:
        """Every runtime that ran passed, and at least one ran (the record, the JSON and
        the command's exit status all say this)."""
        return not self.failed and bool(self.ran)

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["bundle"], d["record"] = str(self.bundle), str(self.record) if self.record else None
        d["passed"] = self.passed
        return d


def _bundle_reason(b: Backend, bndl: layout.Bundle) -> str | None:
    if not b.needs_onnx and bndl.weights is None:  # torch and the fast engine run weights
        return f"{b.name}: the bundle has no PyTorch weights (a packaged ONNX file)"
    return None


def _graph_form(b: Backend, onnx: Path | None) -> str | None:
    if onnx is not None:
        return "fast" if onnx.name == layout.FAST_MODEL else "dense"
    if isinstance(b, KServeBackend):
        # What the server's metadata says it serves by default (fairhep serve: over HTTP; the
        # v2 gRPC metadata message has no parameters, so a gRPC row says None: not known).
        form = b.metadata.get("parameters", {}).get("graph_form")
    else:  # onnxruntime-fast builds its own graph from the weights
        form = b.extra_config().get("graph_form")
    return str(form) if form is not None else None


def _run(b: Backend, bndl: layout.Bundle, jets: JetArrays, expected: np.ndarray,
         cache_dir: Path, onnx: Path | None = None) -> RuntimeResult:
    """``b`` on the sample; ``onnx``: the bundle's graph it runs (runtimes that need one)."""
    result = _run_graph(b, bndl, jets, expected, cache_dir, onnx)
    return replace(result, graph_form=_graph_form(b, onnx),
                   graph_file=onnx.name if onnx is not None else None)


def _run_graph(b: Backend, bndl: layout.Bundle, jets: JetArrays, expected: np.ndarray,
               cache_dir: Path, onnx: Path | None) -> RuntimeResult:
    reason = b.available() or _bundle_reason(b, bndl)
    if reason:
        return RuntimeResult(b.label, SKIPPED, reason, b.precision)
    table = {**TOLERANCE, **bndl.validation.get("tolerance", {})}
    if b.precision not in table:
        return RuntimeResult(b.label, FAILED, f"the bundle states no tolerance for "
                             f"{b.precision}; package it again", b.precision)
    tol = float(table[b.precision])
    model = PreparedModel(run_dir=bndl.weights or bndl.root, onnx_path=onnx or bndl.onnx,
                          batch_sizes=(1, BATCH_SIZE), cache_dir=cache_dir)
    t0 = time.perf_counter()
    try:
        b.prepare(model)
        prepare_s = time.perf_counter() - t0
        t1 = time.perf_counter()
        if isinstance(b, CompiledBackend):
            scores = b.predict_batched(jets.tracks, jets.svs, BATCH_SIZE)
        else:
            scores = score_batches(jets, b.predict)
        run_s = time.perf_counter() - t1
    except BackendUnavailable as exc:
        return RuntimeResult(b.label, SKIPPED, str(exc), b.precision)
    except Exception as exc:  # a broken runtime must not hide the others' results
        return RuntimeResult(b.label, FAILED, f"{type(exc).__name__}: {exc}", b.precision, tol)
    finally:
        b.close()
    if scores.shape != expected.shape:
        return RuntimeResult(b.label, FAILED, f"scores of shape {scores.shape}, expected "
                             f"{expected.shape}", b.precision, tol, prepare_s=prepare_s)
    diff = np.abs(scores.astype(np.float64) - expected.astype(np.float64))
    detail = dict(b.last_run) if isinstance(b, CompiledBackend) else {}
    bad = int(np.count_nonzero(~np.isfinite(scores)))
    if bad:  # no NaN reaches a record (records are strict JSON)
        return RuntimeResult(b.label, FAILED, f"{bad} of {scores.size} scores are NaN or inf",
                             b.precision, tol, n_jets=len(expected), prepare_s=prepare_s,
                             run_s=run_s, detail=detail)
    worst = float(diff.max())
    ok = worst <= tol
    return RuntimeResult(
        b.label, PASSED if ok else FAILED,
        None if ok else f"max |Δscore| {worst:.3g} exceeds the {b.precision} tolerance {tol:g}",
        b.precision, tol, worst, float(diff.mean()), len(expected), prepare_s, run_s, detail)


def validate(root: Path, runtimes: Sequence[str] = (), url: str | None = None,
             results: Path | None = Path("results"), cache_dir: Path | None = None,
             on_result: Callable[[RuntimeResult], None] | None = None,
             log: Callable[[str], None] | None = None) -> Validation:
    """Check ``root``'s sums, then run its sample through the runtimes; write a record.
    ``on_result`` hears each runtime's result as soon as it is known, ``log`` what takes
    time before it starts (building the C++ runner)."""
    from fairhep.cache import default_cache_dir

    root = Path(root)
    cache = Path(cache_dir) if cache_dir is not None else default_cache_dir()
    if results is not None:  # before any runtime runs, not after the last one
        from fairhep.results import ensure_record_dirs, kinds

        ensure_record_dirs(Path(results), kinds.VALIDATE)
    try:
        bndl = layout.open_bundle(root)
    except layout.BundleError as exc:
        if results is not None:
            _write_refusal(results, root, str(exc))
        raise
    jets = read_sample(bndl.validation_dir)
    expected = read_expected(bndl.validation_dir, len(jets))
    if log is not None:
        log(f"{bndl.files_checked} files match SHA256SUMS; {len(jets)} jets, expected scores "
            f"from {bndl.validation.get('reference')}")
    known: list[Backend] = local_runtimes(cache, log)
    if url is not None:
        known.append(KServeBackend(url, bndl.model_id, bndl.card["inputs"]))
    chosen = select(known, runtimes)
    if bndl.fast_onnx is None and log is not None:
        log(layout.FAST_ABSENT)
    out = []
    for b in chosen:
        # A server runs what it serves (fairhep serve: the fast graph by default).
        files = b.needs_onnx and not isinstance(b, KServeBackend)
        graphs = ([bndl.onnx, *([bndl.fast_onnx] if bndl.fast_onnx else [])]
                  if files else [None])
        for onnx in graphs:
            r = _run(b, bndl, jets, expected, cache, onnx)
            if r.status == SKIPPED:  # a runtime absent here: one row, not one per graph
                r = replace(r, graph_form=None, graph_file=None)
            out.append(r)
            if on_result is not None:
                on_result(r)
            if r.status == SKIPPED:
                break
    v = Validation(root, bndl.model_id, bndl.identifier, bndl.files_checked, len(jets),
                   str(bndl.validation.get("reference")), dict(bndl.validation.get("source", {})),
                   tuple(out), fast_graph=layout.FAST_MODEL if bndl.fast_onnx else None)
    if results is not None:
        v = replace(v, record=_write_record(results, v, url, runtimes))
    return v


def _write_refusal(results: Path, root: Path, reason: str) -> Path:
    from fairhep.results import ResultRecord, kinds, write_record

    record = ResultRecord(kind=kinds.VALIDATE, status="failed",
                          config={"bundle": str(root)},
                          metrics={"passed": False, "runtimes": {}})
    record.skip("bundle", reason)
    return write_record(Path(results), record)


def _write_record(results: Path, v: Validation, url: str | None,
                  requested: Sequence[str]) -> Path:
    from fairhep.results import ResultRecord, kinds, write_record

    per = {r.key: {k: val for k, val in asdict(r).items() if k not in ("prepare_s", "run_s")}
           for r in v.ran}
    record = ResultRecord(
        kind=kinds.VALIDATE,
        status="failed" if v.failed else "ok",
        config={"bundle": str(v.bundle), "model_id": v.model_id, "identifier": v.identifier,
                "reference": v.reference, "n_jets": v.n_jets, "batch_size": BATCH_SIZE,
                "url": url, "runtimes_requested": list(requested), "sample": v.sample,
                "files_checked": v.files_checked, "fast_graph": v.fast_graph,
                "fast_graph_note": None if v.fast_graph else layout.FAST_ABSENT},
        metrics={"passed": v.passed, "runtimes": per,
                 "n_passed": sum(r.status == PASSED for r in v.results),
                 "n_failed": len(v.failed),
                 "n_skipped": sum(r.status == SKIPPED for r in v.results)},
        timings={r.key: {"prepare_s": r.prepare_s, "run_s": r.run_s,
                           "jets_per_s": r.jets_per_s} for r in v.ran},
    )
    for r in v.results:
        if r.status == SKIPPED:
            record.skip(r.key, r.reason or "")
    # The sample's manifest: the record's provenance names the jets it was measured on.
    return write_record(Path(results), record, v.bundle / layout.VALIDATION_DIR / "manifest.json")
