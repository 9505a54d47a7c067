"""Run directories for tests: an untrained IN saved the way `fairhep train` saves one."""

from __future__ import annotations

from pathlib import Path

import torch

from fairhep.model import BEST_WEIGHTS, InteractionNetwork, ModelConfig, save_run_model


def make_run(run_dir: Path, config: ModelConfig | None = None, seed: int = 0) -> InteractionNetwork:
    """An untrained IN saved as a run directory (model.json + best.pth)."""
    torch.manual_seed(seed)
    net = InteractionNetwork(config).eval()
    save_run_model(run_dir, net)
    torch.save(net.state_dict(), run_dir / BEST_WEIGHTS)
    return net
