"""``fairhep model info`` and ``fairhep model import``; also the model options of ``train``."""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import TYPE_CHECKING

from fairhep.cli import Subparsers

if TYPE_CHECKING:
    from fairhep.model import ModelConfig

LIST_HELP = ("comma-separated 0-based indices in the IN order (ranges such as 14-21 allowed) "
             "or feature names; `fairhep model info --features` lists them")


def add_feature_list_options(g: argparse._ArgumentGroup | argparse.ArgumentParser) -> None:
    """``--track-features-dropped LIST`` / ``--sv-features-dropped LIST`` (any set)."""
    g.add_argument("--track-features-dropped", metavar="LIST", default=None,
                   help=f"track features this variant does not read: {LIST_HELP}")
    g.add_argument("--sv-features-dropped", metavar="LIST", default=None,
                   help=f"SV features this variant does not read: {LIST_HELP}")


def add_model_options(p: argparse.ArgumentParser) -> None:
    """Hyperparameters of the IN variant (defaults: the paper's baseline, Table 3)."""
    g = p.add_argument_group("model (defaults: the paper's baseline)")
    g.add_argument("--hidden", type=int, default=60, help="hidden width h of every MLP (60)")
    g.add_argument("--de", type=int, default=20, help="edge output size D_E (20)")
    g.add_argument("--do", type=int, default=24, help="object output size D_O (24)")
    g.add_argument("--drop-track-features", type=int, default=0, metavar="N",
                   help="drop the first N of the paper's 12 least important track features "
                   "(Table 10)")
    g.add_argument("--drop-sv-features", type=int, default=0, metavar="M",
                   help="drop the first M of the paper's 5 least important SV features")
    add_feature_list_options(g)


def dropped_lists(args: argparse.Namespace) -> tuple[tuple[str, ...] | None,
                                                      tuple[str, ...] | None]:
    """The explicit dropped lists of ``args`` as names (None where not given)."""
    from fairhep.errors import ConfigError
    from fairhep.model import FeatureListError, parse_feature_list

    out: list[tuple[str, ...] | None] = []
    for kind in ("track", "sv"):
        text = getattr(args, f"{kind}_features_dropped")
        try:
            out.append(None if text is None
                       else parse_feature_list(text, kind, f"--{kind}-features-dropped"))
        except FeatureListError as exc:
            raise ConfigError(str(exc)) from None
    return out[0], out[1]


def model_config_from_args(args: argparse.Namespace) -> ModelConfig:
    from fairhep.errors import ConfigError
    from fairhep.model import ModelConfig

    tracks, svs = dropped_lists(args)
    for kind, listed, count in (("track", tracks, args.drop_track_features),
                                ("sv", svs, args.drop_sv_features)):
        if listed is not None and count:
            raise ConfigError(f"model options: --drop-{kind}-features {count} and "
                              f"--{kind}-features-dropped both say what to drop; give one")
    try:
        table10 = ModelConfig.ablated(args.drop_track_features, args.drop_sv_features)
        return ModelConfig.dropping(
            table10.track_features_dropped if tracks is None else tracks,
            table10.sv_features_dropped if svs is None else svs,
            hidden=args.hidden, de=args.de, do=args.do,
        )
    except (ValueError, KeyError) as exc:
        raise ConfigError(f"model options: {exc}") from None


def register(sub: Subparsers) -> None:
    p = sub.add_parser("model", help="the interaction network: parameter count, import weights")
    msub = p.add_subparsers(dest="model_command", metavar="ACTION", required=True)

    info = msub.add_parser("info", help="parameter count of an IN variant (paper Tables 3, 10)")
    add_model_options(info)
    info.add_argument("--json", action="store_true", help="print a JSON object")
    info.add_argument("--features", action="store_true",
                      help="list every input feature with its index, unit and whether this "
                      "variant reads it")
    info.set_defaults(func=_info)

    imp = msub.add_parser(
        "import",
        help="make a run directory from a checkpoint of the original FAIR/Moreno code",
        description="FILE is a plain PyTorch state_dict with keys fr1 ... fo3, fc_fixed (the "
        "published models), imported exactly as published: h, D_E and D_O come from the "
        "weight shapes. Which features a checkpoint with fewer inputs dropped cannot be read "
        "from its shapes: give the FAIR repository's metadata file (--metadata, checked "
        "against the weights) or the lists. The run directory works with evaluate, export "
        "and bench --run.",
    )
    imp.add_argument("file", type=Path, metavar="FILE.pth")
    imp.add_argument("--out", type=Path, required=True, help="run directory to create")
    imp.add_argument("--metadata", type=Path, metavar="META.json",
                     help="the FAIR repository's <label>_model_metadata.json (drop_pfeatures, "
                     "drop_svfeatures, hidden, De, Do)")
    add_feature_list_options(imp)
    imp.set_defaults(func=_import)


def _info(args: argparse.Namespace) -> int:
    from fairhep.model import InteractionNetwork

    cfg = model_config_from_args(args)
    net = InteractionNetwork(cfg)
    layers = {name: sum(t.numel() for t in mod.parameters())
              for name, mod in net.named_children() if any(True for _ in mod.parameters())}
    if args.features:
        _print_features(cfg)
        return 0
    if args.json:
        print(json.dumps({"parameters": net.n_parameters(), "model": cfg.to_dict(),
                          "P": cfg.p, "S": cfg.s, "layers": layers}, indent=2))
        return 0
    print(f"interaction network: P={cfg.p} track features x {cfg.n_tracks} tracks, "
          f"S={cfg.s} SV features x {cfg.n_svs} SVs, h={cfg.hidden}, D_E={cfg.de}, "
          f"D_O={cfg.do}")
    print("  " + ", ".join(f"{k} {v:,}" for k, v in layers.items()))
    d = cfg.to_dict()
    for kind in ("track", "sv"):
        idx = d[f"{kind}_indices_dropped"]  # type: ignore[literal-required]
        if idx:
            print(f"  {kind} features dropped: {', '.join(map(str, idx))} "
                  f"({', '.join(d[f'{kind}_features_dropped'])})")  # type: ignore[literal-required]
    print(f"parameters: {net.n_parameters():,}")
    return 0


def _print_features(cfg: ModelConfig) -> None:
    from fairhep import schema

    for kind, specs, kept in (("track", schema.TRACK_FEATURE_SPECS, cfg.track_features),
                              ("sv", schema.SV_FEATURE_SPECS, cfg.sv_features)):
        print(f"{kind} features (index in the IN order, name, unit):")
        for i, f in enumerate(specs):
            print(f"  {i:2d}  {f.name:22s} {f.unit:7s} {'' if f.name in kept else 'dropped'}"
                  .rstrip())


def _import(args: argparse.Namespace) -> int:
    from fairhep.model import import_checkpoint

    tracks, svs = dropped_lists(args)
    net = import_checkpoint(args.file, args.out, metadata=args.metadata, track_dropped=tracks,
                            sv_dropped=svs)
    c = net.config
    dropped = "; ".join(f"{kind} features dropped: {', '.join(names)}"
                        for kind, names in (("track", c.track_features_dropped),
                                            ("SV", c.sv_features_dropped)) if names)
    print(f"{args.file}: IN with P={c.p}, S={c.s}, h={c.hidden}, D_E={c.de}, D_O={c.do} "
          f"({net.n_parameters():,} parameters{'; ' + dropped if dropped else ''}) -> run "
          f"directory {args.out}")
    return 0
