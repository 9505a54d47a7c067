"""Relative neural activity (paper Eq. 7), the NAP/dNAP maps and sparsity (Table 10)."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from fairhep.data.load import load_dataset
from fairhep.model import InteractionNetwork, ModelConfig
from fairhep.xai import activity_study, rna, sparsity
from fairhep.xai.activity import activation_sums, layer_names

pytestmark = pytest.mark.usefixtures("one_torch_thread")
CPU = torch.device("cpu")


def test_rna_lies_in_0_1_with_each_layers_maximum_1(tiny_test_set: Path) -> None:
    jets = load_dataset(tiny_test_set, max_jets=12)
    torch.manual_seed(0)
    net = InteractionNetwork(ModelConfig(hidden=8, de=4, do=4)).eval()
    study = activity_study(net, jets, CPU, chunk=5)
    assert set(study.rna) == {"QCD", "Hbb", "all"}
    for scores in study.rna.values():
        assert list(scores) == layer_names()
        for layer, values in scores.items():
            assert all(0.0 <= v <= 1.0 for v in values), layer
            assert max(values) == pytest.approx(1.0)
    widths = [len(study.rna["all"][name]) for name in layer_names()]
    assert widths == [8, 8, 4, 8, 8, 4, 8, 8, 4]
    for layer in layer_names():
        expected = [abs(h - q) for h, q in zip(study.rna["Hbb"][layer], study.rna["QCD"][layer],
                                               strict=True)]
        assert study.dnap[layer] == pytest.approx(expected)
    assert sum(study.n_jets.values()) == 12
    assert study.sparsity["all"] == sparsity(study.rna["all"])


def test_activation_sums_add_up_over_jets(tiny_test_set: Path) -> None:
    jets = load_dataset(tiny_test_set, max_jets=4)
    torch.manual_seed(1)
    net = InteractionNetwork(ModelConfig(hidden=6, de=3, do=3)).eval()
    x, y = torch.from_numpy(jets.tracks), torch.from_numpy(jets.svs)
    whole = activation_sums(net, x, y)
    parts = [activation_sums(net, x[i:i + 1], y[i:i + 1]) for i in range(4)]
    for layer in layer_names():
        assert torch.allclose(whole[layer], torch.stack([p[layer] for p in parts]).sum(0),
                              rtol=1e-5)


def test_sparsity_counts_neurons_below_0_2_and_a_dead_layer_is_zero() -> None:
    f64 = torch.float64
    scores = rna({"a": torch.tensor([10.0, 1.0, 3.0, 0.0], dtype=f64), "b": torch.zeros(2)})
    assert scores == {"a": [1.0, 0.1, 0.3, 0.0], "b": [0.0, 0.0]}
    assert sparsity(scores) == pytest.approx(4 / 6)
    assert sparsity(scores, below=0.05) == pytest.approx(3 / 6)
