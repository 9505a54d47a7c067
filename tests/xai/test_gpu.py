"""The studies on a CUDA GPU give the CPU's numbers (skipped where torch sees no GPU)."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from fairhep.data.load import load_dataset
from fairhep.model import InteractionNetwork, ModelConfig
from fairhep.xai import Rule, activity_study, lrp_study, mask_study

pytestmark = pytest.mark.gpu


def test_masking_lrp_and_rna_on_the_gpu_match_the_cpu(tiny_test_set: Path) -> None:
    torch.manual_seed(0)
    net = InteractionNetwork(ModelConfig()).eval()
    cpu, gpu = torch.device("cpu"), torch.device("cuda")
    a = mask_study(net, tiny_test_set, cpu, max_jets=32)
    b = mask_study(net.to(gpu), tiny_test_set, gpu, max_jets=32)
    assert abs(a.baseline_auc - b.baseline_auc) < 1e-6
    for sa, sb in zip(a.singles, b.singles, strict=True):
        assert abs(sa.fidelity - sb.fidelity) < 1e-5
    jets = load_dataset(tiny_test_set, max_jets=16)
    la, lb = (lrp_study(net, jets, Rule(), d) for d in (cpu, gpu))
    for name, ca in la.classes.items():
        cb = lb.classes[name]
        assert ca.track_features == pytest.approx(cb.track_features, abs=1e-4)
        assert ca.stages == pytest.approx(cb.stages, abs=1e-4)
    ra, rb = (activity_study(net, jets, d) for d in (cpu, gpu))
    assert ra.rna["all"]["f_O 3"] == pytest.approx(rb.rna["all"]["f_O 3"], abs=1e-5)
