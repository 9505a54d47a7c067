"""``fairhep train``: the original training recipe with the paper's three split methods."""

from __future__ import annotations

import argparse
import signal
from pathlib import Path

from fairhep.cli import Subparsers, add_device_option, add_progress_option
from fairhep.cli._engine import add_engine_options, engine_settings
from fairhep.cli._results import add_results_option
from fairhep.cli._values import positive_float, positive_int
from fairhep.cli.model import add_model_options, model_config_from_args


def register(sub: Subparsers) -> None:
    p = sub.add_parser(
        "train",
        help="train the interaction network (original recipe, resumable)",
        description="Adam, lr 1e-4, batch 128, cross-entropy, up to 100 epochs with early "
        "stopping on the validation loss (patience 8); keeps best.pth and last.pth in RUN_DIR. "
        "Rerunning the same command resumes a killed or interrupted run (SIGTERM checkpoints "
        "and exits with 143, SIGUSR1 with 138; Ctrl-C does the same and exits with 130), and "
        "writes the record of a finished run if a kill prevented it. RUN_DIR/train.lock keeps "
        "a second training out.",
    )
    p.add_argument("--data", type=Path, required=True, help="HDF5 dataset directory")
    p.add_argument("--out", type=Path, required=True, help="run directory (created; resumed if "
                   "it holds a checkpoint)")
    p.add_argument("--seed", type=int, default=0, help="fixes initialisation and shuffling")
    p.add_argument("--split", choices=["kfold", "files", "points"], default="kfold",
                   help="kfold: file-level folds (fold 0 = first files, the paper's default); "
                   "files: random validation files; points: random split on jets")
    p.add_argument("--fold", type=int, default=0, help="validation fold for --split kfold")
    p.add_argument("--fold-files", type=positive_int, default=5,
                   help="files per fold (kfold) / validation files (files); default 5")
    p.add_argument("--valid-fraction", type=float, default=None,
                   help="validation share of jets for --split points (default 0.1)")
    p.add_argument("--epochs", type=positive_int, default=100, help="maximum epochs (default 100)")
    p.add_argument("--patience", type=positive_int, default=8,
                   help="early-stopping patience (default 8)")
    p.add_argument("--batch-size", type=positive_int, default=128,
                   help="the global batch: with --distributed, shared equally by the ranks "
                   "(default 128, the paper's)")
    p.add_argument("--lr", type=positive_float, default=1e-4,
                   help="Adam learning rate (default 1e-4)")
    p.add_argument("--lr-rule", choices=["fixed", "linear", "sqrt"], default="fixed",
                   help="scale --lr by (global batch / 128) [linear] or its square root "
                   "[sqrt] when the batch grows with the ranks; fixed (default): --lr as given")
    p.add_argument("--distributed", action="store_true",
                   help="one training over all tasks of `srun` (SLURM_PROCID, SLURM_NTASKS, "
                   "SLURM_LOCALID) or `torchrun` (RANK, WORLD_SIZE), else a world of one: "
                   "DistributedDataParallel, NCCL on CUDA, gloo on the CPU; rank 0 validates, "
                   "checkpoints and records")
    p.add_argument("--dist-timeout", type=positive_float, default=1800.0, metavar="SECONDS",
                   help="with --distributed: how long a rank waits for the others before "
                   "ending with a line naming the ranks that stopped answering (default 1800)")
    p.add_argument("--max-jets", type=positive_int,
                   help="use about this many jets (first of each file)")
    add_device_option(p)
    add_results_option(p, "the `train` result record")
    p.add_argument("--overwrite", action="store_true",
                   help="replace what RUN_DIR holds (a training with other settings, or an "
                   "imported model) instead of refusing; records already written stay")
    add_progress_option(p)
    add_model_options(p)
    add_engine_options(p)
    p.set_defaults(func=_run)


def _run(args: argparse.Namespace) -> int:
    from fairhep.splits import DEFAULT_VALID_FRACTION
    from fairhep.train import TrainConfig, train

    cfg = TrainConfig(
        data=args.data, out=args.out, seed=args.seed, split=args.split, fold=args.fold,
        epochs=args.epochs, patience=args.patience, batch_size=args.batch_size, lr=args.lr,
        device=args.device, model=model_config_from_args(args), max_jets=args.max_jets,
        fold_files=args.fold_files, results=args.results, progress=args.progress,
        valid_fraction=args.valid_fraction or DEFAULT_VALID_FRACTION, overwrite=args.overwrite,
        engine=args.engine, precision=args.precision, distributed=args.distributed,
        lr_rule=args.lr_rule, dist_timeout_s=args.dist_timeout,
        engine_settings=engine_settings(args),
    )
    result = train(cfg)
    if result.interrupted:  # 143 after SIGTERM (what a scheduler expects), 130 after Ctrl-C
        return 128 + (result.stop_signal or signal.SIGTERM)
    print(f"{result.epochs} epochs (best {result.best_epoch}"
          f"{', stopped early' if result.stopped_early else ''}): val loss "
          f"{result.best_val_loss:.4f}, accuracy {result.val_accuracy:.4f}, AUC "
          f"{result.val_auc:.4f}; {result.train_jets_per_s:,.0f} train jets/s"
          + (f"; record {result.record}" if result.record else ""))
    return 0
