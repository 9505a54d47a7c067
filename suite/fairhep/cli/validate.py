"""``fairhep validate``: a bundle's checksums, then its validation sample on every runtime."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from fairhep.cli import Subparsers
from fairhep.cli._results import add_results_option

if TYPE_CHECKING:
    from fairhep.fair.validate import RuntimeResult, Validation


def register(sub: Subparsers) -> None:
    p = sub.add_parser(
        "validate", help="check a model bundle and reproduce its scores on every runtime",
        description="Checks every file against SHA256SUMS (a changed byte: one line naming the "
        "file, exit 1), then runs the validation sample through every runtime here: PyTorch "
        "from the bundle's weights, ONNX Runtime CPU / CUDA / TensorRT EP, native TensorRT, a "
        "compiled C++ program on the ONNX Runtime C++ API (built with CMake on first use), and "
        "with --url a KServe v2 server (tritonclient). Per runtime: max and mean |Δscore| "
        "against the expected scores, pass/fail against the tolerance, time; runtimes absent "
        "here are skipped with the reason. Exit 1 when any runtime that ran fails. Writes a "
        "`validate` record.",
    )
    p.add_argument("bundle", type=Path, metavar="DIR", help="bundle from `fairhep package`")
    p.add_argument("--runtimes", nargs="+", default=[], metavar="NAME",
                   help="only these (labels such as onnxruntime-cpu, or torch, onnxruntime, "
                   "tensorrt, cpp, kserve); default: all")
    p.add_argument("--url", help="also validate the server at http://HOST:PORT or "
                   "grpc://HOST:PORT (`fairhep serve DIR`)")
    add_results_option(p, "the validate record")
    p.add_argument("--cache-dir", type=Path, help="where the C++ runner and TensorRT engines "
                   "are built (default: $FAIRHEP_CACHE or ~/.cache/fairhep)")
    p.add_argument("--json", action="store_true", help="print the result as JSON")
    p.set_defaults(func=_run)


def _fmt(x: float | None, spec: str = ".2e") -> str:
    return "-" if x is None else format(x, spec)


def _line(r: RuntimeResult) -> str:
    if r.status == "skipped":
        return f"  {r.key:<26}skipped: {r.reason}"
    verdict = "PASS" if r.status == "passed" else "FAIL"
    time_s = f"{r.run_s:.3f} s" if r.run_s is not None else "-"
    line = (f"  {r.key:<26}{_fmt(r.max_abs_diff):>10}{_fmt(r.mean_abs_diff):>11}"
            f"{_fmt(r.tolerance, 'g'):>11}  {verdict:<6}{time_s:>10}")
    if r.jets_per_s:
        line += f"{r.jets_per_s:>12,.0f}"
    return line + (f"\n      {r.reason}" if r.status == "failed" and r.reason else "")


def _run(args: argparse.Namespace) -> int:
    from fairhep.fair.validate import validate

    header_done = False

    def show(r: RuntimeResult) -> None:
        nonlocal header_done
        if args.json:
            return
        if not header_done:
            print(f"  {'runtime':<26}{'max|Δ|':>10}{'mean|Δ|':>11}{'tolerance':>11}  "
                  f"{'result':<6}{'time':>10}{'jets/s':>12}")
            header_done = True
        print(_line(r), flush=True)

    if not args.json:
        print(f"validating {args.bundle}", flush=True)
    def note(text: str) -> None:
        if not args.json:
            print(f"  {text}", flush=True)

    v = validate(args.bundle, args.runtimes, args.url, args.results, args.cache_dir,
                 on_result=show, log=note)
    if args.json:
        print(json.dumps(v.to_dict(), indent=2, default=str))
    else:
        _summary(v)
    return 0 if v.passed else 1


def _summary(v: Validation) -> None:
    src = v.sample
    where = (f"seed {src.get('seed')}" if src.get("kind") == "synthetic"
             else str(src.get("path", "")))
    print(f"bundle {v.model_id} ({v.identifier}): {v.files_checked} files match SHA256SUMS")
    print(f"sample: {v.n_jets} jets ({src.get('kind')}, {where}); expected scores from "
          f"{v.reference}")
    ran, failed = len(v.ran), len(v.failed)
    skipped = len(v.results) - ran
    print(f"{ran} runtime(s) ran: {ran - failed} passed, {failed} failed; {skipped} skipped"
          + (f"; record {v.record}" if v.record else ""))
    if not ran:
        print("no runtime could run here", file=sys.stderr)
