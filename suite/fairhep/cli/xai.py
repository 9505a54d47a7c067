"""``fairhep xai mask|lrp|rna|ablate``: the interpretability studies of the paper (§3.4).

Each writes one ``xai.*`` result record (with provenance) under ``--results`` and its figure,
with the figure's data as CSV, under ``--figures`` (default ``RESULTS/xai/<run name>``).
Without ``--run`` and ``--data`` the embedded default of ``fairhep bench`` is used (trained
and cached on first use). A run directory of ``fairhep model import`` works like a trained one.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

from fairhep.cli import Subparsers, add_device_option, add_progress_option
from fairhep.cli._results import add_results_option
from fairhep.cli._values import positive_int
from fairhep.errors import ConfigError
from fairhep.writable import ensure_writable

if TYPE_CHECKING:
    from fairhep.plots import Figure
    from fairhep.xai import Outcome, StudyOptions


def _thresholds(text: str) -> tuple[float, ...]:
    try:
        values = tuple(float(t) for t in text.split(",") if t.strip())
    except ValueError:
        raise argparse.ArgumentTypeError(f"thresholds must be numbers in %: {text!r}") from None
    if not values or min(values) < 0:
        raise argparse.ArgumentTypeError(f"thresholds must be non-negative numbers: {text!r}")
    return values


def _common(p: argparse.ArgumentParser, sample: bool) -> None:
    p.add_argument("--run", type=Path, help="run directory (fairhep train or model import); "
                   "with --data; both left out: the embedded default of `fairhep bench`")
    p.add_argument("--data", type=Path, help="test dataset (HDF5 or the NumPy test layout)")
    add_results_option(p, "the result record")
    p.add_argument("--figures", type=Path,
                   help="where the figure and its CSV go (default: RESULTS/xai/<run name>)")
    p.add_argument("--weights", choices=["best.pth", "last.pth"], default="best.pth")
    add_device_option(p)
    add_progress_option(p)
    p.add_argument("--json", action="store_true", help="print the record's metrics as JSON")
    if sample:
        p.add_argument("--batches", type=positive_int, default=30,
                       help="batches of each class to average over (paper: 30)")
        p.add_argument("--batch-size", type=positive_int, default=128,
                       help="jets per batch (paper: 128)")
    else:
        p.add_argument("--batch-size", type=positive_int, default=1024, help="inference batch size")
        p.add_argument("--max-jets", type=positive_int,
                       help="use the first N jets (default: all)")


def register(sub: Subparsers) -> None:
    p = sub.add_parser("xai", help="interpretability (paper §3.4): masking, LRP, neural "
                       "activity, ablated models")
    xsub = p.add_subparsers(dest="xai_command", metavar="STUDY", required=True)

    m = xsub.add_parser("mask", help="feature masking: ΔAUC per feature (Figure 5), "
                        "multi-feature masking with fidelity (Table 9)")
    _common(m, sample=False)
    m.add_argument("--thresholds", type=_thresholds, default=(0.0, 0.001, 0.005, 0.01, 0.05, 1.0),
                   help="|ΔAUC| thresholds in %% (default: the paper's 0,0.001,0.005,0.01,0.05,1)")
    m.set_defaults(func=_mask)

    lrp = xsub.add_parser("lrp", help="layer-wise relevance per feature, track/SV and layer "
                          "(Figure 6)")
    _common(lrp, sample=True)
    lrp.add_argument("--rule", choices=["gamma", "epsilon", "zero"], default="gamma")
    lrp.add_argument("--gamma", type=float, default=2.0, help="LRP-γ's γ (paper: 2.0)")
    lrp.add_argument("--epsilon", type=float, default=1e-6, help="LRP-ε's ε")
    lrp.set_defaults(func=_lrp)

    r = xsub.add_parser("rna", help="relative neural activity, NAP/dNAP diagram and sparsity "
                        "(Figure 8, Table 10)")
    _common(r, sample=True)
    r.set_defaults(func=_rna)

    a = xsub.add_parser("ablate", help="one Table 10 row: AUC, fidelity against a baseline, "
                        "sparsity", description="Train the variant first, e.g. `fairhep train "
                        "--drop-track-features 12 --drop-sv-features 5 --hidden 32 --de 16 "
                        "--do 16`, then compare it with the baseline run here.")
    _common(a, sample=True)
    a.add_argument("--baseline", type=Path, required=True,
                   help="the baseline run directory (fidelity is measured against it)")
    a.add_argument("--max-jets", type=positive_int, help="AUC and fidelity on the first N jets")
    a.set_defaults(func=_ablate)


def _inputs(args: argparse.Namespace) -> tuple[Path, Path]:
    if (args.run is None) != (args.data is None):
        raise ConfigError("fairhep xai: give both --run and --data, or neither (the embedded "
                          "default of `fairhep bench`)")
    if args.run is not None:
        return Path(args.run), Path(args.data)
    from fairhep.bench import BenchOptions
    from fairhep.bench.datasource import prepare_inputs

    got = prepare_inputs(BenchOptions(results=args.results, device=args.device))
    print(f"embedded default: run {got.run_dir}, data {got.data_dir}")
    return got.run_dir, got.data_dir


def _options(args: argparse.Namespace) -> StudyOptions:
    from fairhep.xai import StudyOptions

    run, data = _inputs(args)
    sample = {"batches": args.batches, "sample_batch_size": args.batch_size} if hasattr(
        args, "batches") else {"batch_size": args.batch_size}
    try:
        opts = StudyOptions(run=run, data=data, results=args.results, device=args.device,
                            weights=args.weights, max_jets=getattr(args, "max_jets", None),
                            progress=args.progress, **sample)
    except ValueError as exc:
        raise ConfigError(f"fairhep xai {args.xai_command}: {exc}") from None
    # Before the study, not after it; the fix names the option that chose the folder.
    fix = ("choose another with --figures" if args.figures else "choose another --results "
           "(the figures go to RESULTS/xai/<run name>), or --figures for the figures alone")
    ensure_writable(_figure_dir(args, opts), "figure directory", fix)
    return opts


def _figure_dir(args: argparse.Namespace, opts: StudyOptions) -> Path:
    return Path(args.figures) if args.figures else Path(args.results) / "xai" / Path(opts.run).name


def _finish(args: argparse.Namespace, outcome: Outcome[Any], figure: Figure | None,
            lines: list[str]) -> int:
    if args.json:
        print(json.dumps(outcome.record.metrics, indent=2, default=str))
    else:
        print("\n".join(lines))
    if figure is not None:
        print(f"figure: {figure.png} (data: {figure.csv})")
    if outcome.path is not None:
        print(f"record: {outcome.path}")
    return 0


def _mask(args: argparse.Namespace) -> int:
    from fairhep.plots import xai_mask_figure
    from fairhep.xai import run_mask

    opts = _options(args)
    out = run_mask(opts, args.thresholds)
    s = out.study
    ranked = sorted(s.singles, key=lambda f: -f.delta_auc)
    lines = [f"{s.n_jets} jets, unmasked AUC {s.baseline_auc:.5f}",
             "most important (ΔAUC %): " + ", ".join(
                 f"{f.feature} {f.delta_auc_pct:.3f}" for f in ranked[:5]),
             "least important (smallest |ΔAUC| %): " + ", ".join(
                 f"{f.feature} {f.delta_auc_pct:.4f}"
                 for f in sorted(s.singles, key=lambda f: abs(f.delta_auc))[:5]),
             f"{'threshold %':>12} {'ΔP':>4} {'ΔS':>4} {'AUC %':>8} {'fidelity %':>11}"]
    lines += [f"{t.threshold_pct:>12g} {len(t.mask.tracks):>4} {len(t.mask.svs):>4} "
              f"{100 * t.auc:>8.3f} {100 * t.fidelity:>11.3f}" for t in s.thresholds]
    fig = xai_mask_figure(out.record.metrics, _figure_dir(args, opts), "figure5",
                  f"Figure 5: ΔAUC when one feature is masked — {Path(opts.run).name}")
    return _finish(args, out, fig, lines)


def _lrp(args: argparse.Namespace) -> int:
    from fairhep.plots import xai_relevance_figure
    from fairhep.xai import Rule, run_lrp

    opts = _options(args)
    try:
        rule = Rule(args.rule, gamma=args.gamma, epsilon=args.epsilon)
    except ValueError as exc:
        raise ConfigError(f"fairhep xai lrp: {exc}") from None
    out = run_lrp(opts, rule)
    lines = []
    for name, c in out.study.classes.items():
        top = sorted({**c.track_features, **c.sv_features}.items(), key=lambda kv: -kv[1])
        least = sorted(top, key=lambda kv: abs(kv[1]))
        lines.append(f"{name} ({c.n_jets} jets): most relevant " + ", ".join(
            f"{k} {v:.3f}" for k, v in top[:5]) + "; least (|relevance|) " + ", ".join(
            f"{k} {v:.1e}" for k, v in least[:3]))
        lines.append("  per layer (output to inputs): " + "; ".join(
            f"{k} {v:.2f}" for k, v in c.stages.items()))
    fig = xai_relevance_figure(out.record.metrics, _figure_dir(args, opts), f"figure6_{rule.name}",
                  f"Figure 6: LRP-{rule.name} relevance — {Path(opts.run).name}")
    return _finish(args, out, fig, lines)


def _rna(args: argparse.Namespace) -> int:
    from fairhep.plots import xai_nap_figure
    from fairhep.xai import run_rna

    opts = _options(args)
    out = run_rna(opts)
    s = out.study
    lines = [(f"sparsity (RNA < 0.2): all {s.sparsity['all']:.3f}, QCD {s.sparsity['QCD']:.3f}, "
              f"H->bb {s.sparsity['Hbb']:.3f} ({s.n_jets['QCD']} + {s.n_jets['Hbb']} jets)")]
    lines += [f"  {layer:<10} mean dNAP {sum(v) / len(v):.3f}" for layer, v in s.dnap.items()]
    fig = xai_nap_figure(out.record.metrics, _figure_dir(args, opts), "figure8_nap",
                  f"Figure 8: neural activation pattern — {Path(opts.run).name}")
    return _finish(args, out, fig, lines)


def _ablate(args: argparse.Namespace) -> int:
    from fairhep.plots import xai_nap_figure
    from fairhep.xai import run_ablation

    opts = _options(args)
    out = run_ablation(opts, Path(args.baseline))
    r = out.study
    lines = [(f"{r.parameters:,} parameters: AUC {100 * r.auc:.3f} %, fidelity "
              f"{100 * r.fidelity:.3f} % against {args.baseline}, sparsity {r.sparsity:.3f} "
              f"({r.n_jets} jets)")]
    fig = xai_nap_figure(out.record.metrics["activity"], _figure_dir(args, opts), "figure9_nap",
                  f"Neural activation pattern — {Path(opts.run).name}")
    return _finish(args, out, fig, lines)
