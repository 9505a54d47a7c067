"""``fairhep evaluate``: accuracy, AUC and ROC of a trained run on a dataset."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from fairhep.cli import Subparsers, add_device_option
from fairhep.cli._engine import add_engine_options, engine_settings
from fairhep.cli._results import add_results_option
from fairhep.cli._values import positive_int


def register(sub: Subparsers) -> None:
    p = sub.add_parser(
        "evaluate",
        help="score a trained run on a dataset (accuracy, AUC, ROC)",
        description="Accuracy as in the paper (QCD when score[:,0] >= 0.5), AUC and ROC "
        "points from scikit-learn. DATA may be an HDF5 dataset or the original NumPy test "
        "layout (test_<k>_features_2.npy ...).",
    )
    p.add_argument("--run", type=Path, required=True, help="run directory (train or model import)")
    p.add_argument("--data", type=Path, required=True, help="dataset directory")
    p.add_argument("--weights", choices=["best.pth", "last.pth"], default="best.pth")
    add_device_option(p)
    p.add_argument("--batch-size", type=positive_int, default=1024)
    p.add_argument("--max-jets", type=positive_int, help="use at most this many jets")
    add_results_option(p, "the `evaluate` result record")
    p.add_argument("--json", action="store_true", help="print the result as JSON")
    add_engine_options(p)
    p.set_defaults(func=_run)


def _run(args: argparse.Namespace) -> int:
    from fairhep.evaluate import evaluate

    r = evaluate(args.run, args.data, device=args.device, max_jets=args.max_jets,
                 results=args.results, batch_size=args.batch_size, weights=args.weights,
                 engine=args.engine, precision=args.precision,
                 engine_settings=engine_settings(args))
    if args.json:
        print(json.dumps({
            "accuracy": r.accuracy, "auc": r.auc, "auc_undefined": r.auc_undefined,
            "n_jets": r.n_jets, "loss": r.loss,
            "jets_per_s": r.jets_per_s, "total_s": r.total_s, "device": r.device,
            "roc": r.roc, "record": str(r.record) if r.record else None,
            "engine": r.config.get("engine"), "precision": r.config.get("precision"),
        }, indent=2))
    else:
        area = f"{r.auc:.5f}" if r.auc is not None else f"undefined ({r.auc_undefined})"
        print(f"{r.n_jets} jets on {r.device}: accuracy {r.accuracy:.5f}, AUC {area}, "
              f"loss {r.loss:.5f}; {r.jets_per_s:,.0f} jets/s"
              + (f"; record {r.record}" if r.record else ""))
    return 0
