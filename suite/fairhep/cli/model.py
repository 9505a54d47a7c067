"""``fairhep model info`` and ``fairhep model import``; also the model options of ``train``."""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import TYPE_CHECKING

from fairhep.cli import Subparsers

if TYPE_CHECKING:
    from fairhep.model import ModelConfig


def add_model_options(p: argparse.ArgumentParser) -> None:
    """Hyperparameters of the IN variant (defaults: the paper's baseline, Table 3)."""
    g = p.add_argument_group("model (defaults: the paper's baseline)")
    g.add_argument("--hidden", type=int, default=60, help="hidden width h of every MLP (60)")
    g.add_argument("--de", type=int, default=20, help="edge output size D_E (20)")
    g.add_argument("--do", type=int, default=24, help="object output size D_O (24)")
    g.add_argument("--drop-track-features", type=int, default=0, metavar="N",
                   help="drop the first N of the paper's 12 least important track features")
    g.add_argument("--drop-sv-features", type=int, default=0, metavar="M",
                   help="drop the first M of the paper's 5 least important SV features")


def model_config_from_args(args: argparse.Namespace) -> ModelConfig:
    from fairhep.errors import ConfigError
    from fairhep.model import ModelConfig

    try:
        return ModelConfig.ablated(args.drop_track_features, args.drop_sv_features,
                                   hidden=args.hidden, de=args.de, do=args.do)
    except ValueError as exc:
        raise ConfigError(f"model options: {exc}") from None


def register(sub: Subparsers) -> None:
    p = sub.add_parser("model", help="the interaction network: parameter count, import weights")
    msub = p.add_subparsers(dest="model_command", metavar="ACTION", required=True)

    info = msub.add_parser("info", help="parameter count of an IN variant (paper Tables 3, 10)")
    add_model_options(info)
    info.add_argument("--json", action="store_true", help="print a JSON object")
    info.set_defaults(func=_info)

    imp = msub.add_parser(
        "import",
        help="make a run directory from a checkpoint of the original FAIR/Moreno code",
        description="FILE is a plain PyTorch state_dict with keys fr1 ... fo3, fc_fixed (the "
        "published models); ablated variants are recognised from the weight shapes. The run "
        "directory works with evaluate, export and bench --run.",
    )
    imp.add_argument("file", type=Path, metavar="FILE.pth")
    imp.add_argument("--out", type=Path, required=True, help="run directory to create")
    imp.set_defaults(func=_import)


def _info(args: argparse.Namespace) -> int:
    from fairhep.model import InteractionNetwork

    cfg = model_config_from_args(args)
    net = InteractionNetwork(cfg)
    layers = {name: sum(t.numel() for t in mod.parameters())
              for name, mod in net.named_children() if any(True for _ in mod.parameters())}
    if args.json:
        print(json.dumps({"parameters": net.n_parameters(), "model": cfg.to_dict(),
                          "P": cfg.p, "S": cfg.s, "layers": layers}, indent=2))
        return 0
    print(f"interaction network: P={cfg.p} track features x {cfg.n_tracks} tracks, "
          f"S={cfg.s} SV features x {cfg.n_svs} SVs, h={cfg.hidden}, D_E={cfg.de}, "
          f"D_O={cfg.do}")
    print("  " + ", ".join(f"{k} {v:,}" for k, v in layers.items()))
    print(f"parameters: {net.n_parameters():,}")
    return 0


def _import(args: argparse.Namespace) -> int:
    from fairhep.model import import_checkpoint

    net = import_checkpoint(args.file, args.out)
    c = net.config
    print(f"{args.file}: IN with P={c.p}, S={c.s}, h={c.hidden}, D_E={c.de}, D_O={c.do} "
          f"({net.n_parameters():,} parameters) -> run directory {args.out}")
    return 0
