"""``fairhep package``: a trained run or an ONNX file of the IN as a self-describing bundle."""

from __future__ import annotations

import argparse
from collections.abc import Callable
from pathlib import Path

from fairhep.cli import Subparsers, add_progress_option
from fairhep.cli._values import positive_float, positive_int


def feature_list(which: str) -> Callable[[str], tuple[str, ...]]:
    """A parser of ``--<which>-features-dropped``: comma-separated 0-based indices in the IN
    order (the FAIR metadata's convention) or feature names; empty for none."""
    from fairhep import schema

    names = schema.TRACK_FEATURES if which == "track" else schema.SV_FEATURES

    def parse(text: str) -> tuple[str, ...]:
        out = []
        for item in (t.strip() for t in text.split(",") if t.strip()):
            if item.isdigit() and int(item) < len(names):
                out.append(names[int(item)])
            elif item in names:
                out.append(item)
            else:
                raise argparse.ArgumentTypeError(
                    f"{item!r} is neither an index 0..{len(names) - 1} nor a {which} feature")
        return tuple(dict.fromkeys(out))

    return parse


def register(sub: Subparsers) -> None:
    p = sub.add_parser(
        "package", help="package a run or an IN ONNX file as a FAIR model bundle",
        description="Writes model.onnx, model_card.md + model_card.json (inputs with feature "
        "order, units and padding, outputs, training data, metrics, intended use, limitations, "
        "licence, authors, citation, the FAIR checklist F1-R3), CITATION.cff, validation/ (N "
        "jets in the suite's HDF5 layout with the reference engine's scores and the tolerance), "
        "a Triton model repository (triton/<id>/) and SHA256SUMS. The model id (hbb-in- and "
        "16 hex digits of model.onnx's sha256) names the bundle everywhere.",
    )
    src = p.add_mutually_exclusive_group(required=True)
    src.add_argument("--run", type=Path, help="trained run directory (train or model import)")
    src.add_argument("--onnx", type=Path, help="an ONNX file of the IN that fairhep did not "
                     "write (e.g. the FAIR export: input_cpf/input_sv, opset 11)")
    p.add_argument("--out", type=Path, required=True, help="bundle directory (new or empty)")
    p.add_argument("--validation-jets", type=positive_int, default=1000, metavar="N",
                   help="jets in the validation sample (default 1000)")
    p.add_argument("--data", type=Path, help="take the sample's jets from this test set "
                   "(default: the run's held-out jets when its data is here, else synthetic)")
    p.add_argument("--seed", type=int, default=0, help="seed of a synthetic sample (default 0)")
    p.add_argument("--tolerance", type=positive_float, default=1e-4,
                   help="per-jet |Δscore| an fp32 runtime may show (default 1e-4; fp16 "
                   "runtimes: 1e-2)")
    card = p.add_argument_group("model card")
    card.add_argument("--published-model", choices=["paper"],
                      help="the model is the paper's published one (e.g. its ONNX or `model "
                      "import` of its checkpoint): the card quotes the paper's metrics for it "
                      "(Table 8), with their source")
    card.add_argument("--name", help="the model's name (default: H->bb interaction network)")
    card.add_argument("--license", default="CC-BY-4.0", help="SPDX licence id of the model "
                      "(default CC-BY-4.0)")
    card.add_argument("--author", action="append", default=[], dest="authors",
                      help="author (repeat for several; default: fairhep developers)")
    card.add_argument("--intended-use", help="replaces the default intended-use statement")
    card.add_argument("--limitation", action="append", default=[], dest="limitations",
                      help="a limitation to add (repeatable)")
    card.add_argument("--doi", help="the DOI the bundle was deposited under, if any")
    card.add_argument("--dataset-doi", help="training data DOI (for a file that does not say)")
    card.add_argument("--interface", choices=["fair-in"], help="declare that a file without "
                      "metadata takes the FAIR IN's inputs (fairhep.schema feature order, zero "
                      "padding, channels first) and gives softmax scores (QCD, H->bb)")
    card.add_argument("--track-features-dropped", type=feature_list("track"), metavar="LIST",
                      help="track features the model ignores: 0-based indices or names")
    card.add_argument("--sv-features-dropped", type=feature_list("sv"), metavar="LIST",
                      help="SV features the model ignores: 0-based indices or names")
    card.add_argument("--results", type=Path, action="append", default=[],
                      help="result folder whose evaluate records of this run add metrics")
    add_progress_option(p)
    p.set_defaults(func=_run)


def _run(args: argparse.Namespace) -> int:
    from fairhep.fair.card import CardOptions
    from fairhep.fair.package import PackageOptions, package
    from fairhep.published import model_metrics

    card = CardOptions(
        name=args.name, license=args.license, authors=tuple(args.authors),
        intended_use=args.intended_use, limitations=tuple(args.limitations), doi=args.doi,
        dataset_doi=args.dataset_doi, interface=args.interface,
        dropped_track_features=args.track_features_dropped,
        dropped_sv_features=args.sv_features_dropped, results=tuple(args.results),
        quoted_metrics=tuple(model_metrics()) if args.published_model == "paper" else (),
    )
    done = package(PackageOptions(out=args.out, run=args.run, onnx=args.onnx,
                                  validation_jets=args.validation_jets, data=args.data,
                                  seed=args.seed, card=card, progress=args.progress,
                                  tolerance=args.tolerance))
    src = done.sample
    where = f"seed {src['seed']}" if src["kind"] == "synthetic" else src.get("path", "")
    print(f"packaged {done.model_id} ({done.identifier}) into {done.root}: {done.files} files "
          "in SHA256SUMS")
    print(f"  validation sample: {src['n_jets']} jets ({src['kind']}, {where}); expected scores "
          f"from {done.reference}")
    if done.fast_note:
        print(f"  {done.fast_note}")
    print(f"  next: fairhep validate {done.root}; fairhep serve {done.root}")
    return 0
