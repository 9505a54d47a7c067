"""Layer-wise relevance propagation through the IN (paper Figure 6, Eqs. 5 and 6)."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from fairhep import schema
from fairhep.data.load import load_dataset
from fairhep.model import InteractionNetwork, ModelConfig
from fairhep.model.reference import trace
from fairhep.xai import Rule, explain, lrp_study
from fairhep.xai.lrp import _energy_order

pytestmark = pytest.mark.usefixtures("one_torch_thread")
CPU = torch.device("cpu")


def _jets(data: Path, n: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    jets = load_dataset(data, max_jets=n)
    return (torch.from_numpy(jets.tracks), torch.from_numpy(jets.svs),
            torch.from_numpy(jets.labels))


def _without_biases(config: ModelConfig, seed: int = 0) -> InteractionNetwork:
    torch.manual_seed(seed)
    net = InteractionNetwork(config).eval()
    with torch.no_grad():
        for module in net.modules():
            if isinstance(module, torch.nn.Linear):
                module.bias.zero_()
    return net


def test_the_traced_forward_pass_is_the_network(tiny_test_set: Path) -> None:
    x, y, _ = _jets(tiny_test_set, 3)
    torch.manual_seed(4)
    net = InteractionNetwork(ModelConfig.ablated(12, 5, hidden=8, de=4, do=4)).eval()
    t = trace(net, x, y)
    with torch.no_grad():  # (reference_forward is these logits; the factored form is not)
        assert torch.allclose(t.logits, net(x, y), atol=1e-5)
    assert t.x.shape == (3, 18, 60) and t.acts["f_R^pp"][0].shape == (3, 60 * 59, 36)


@pytest.mark.parametrize("rule", [Rule("zero"), Rule("epsilon")], ids=["zero", "epsilon"])
@pytest.mark.parametrize("config", [ModelConfig(hidden=8, de=4, do=4), ModelConfig()],
                         ids=["tiny", "baseline"])
def test_zero_and_epsilon_rules_conserve_relevance_without_biases(
        tiny_test_set: Path, rule: Rule, config: ModelConfig) -> None:
    x, y, labels = _jets(tiny_test_set, 2)
    ex = explain(_without_biases(config), x, y, labels, rule)
    total = ex.tracks.sum(dim=(1, 2)) + ex.svs.sum(dim=(1, 2))
    one = torch.ones(2, dtype=total.dtype)
    assert torch.allclose(total, one, atol=1e-4)
    # ... through every stage: fc, the sum over tracks (Eq. 5), each MLP and Eq. 6.
    through_f_o = ["fc_fixed", "sum over tracks (Eq. 5)", "fo3", "fo2", "fo1"]
    for stage in through_f_o:
        assert torch.allclose(ex.stages[stage], one, atol=1e-4)
    split = (ex.stages["f_O input: track features"] + ex.stages["receivers (Eq. 6): E_pp"]
             + ex.stages["receivers (Eq. 6): E_vp"])
    assert torch.allclose(split, one, atol=1e-4)
    assert torch.allclose(ex.stages["fr1"], ex.stages["receivers (Eq. 6): E_pp"], atol=1e-4)
    assert ex.logit.abs().min() > 0


def test_a_large_epsilon_absorbs_relevance_and_gamma_zero_is_the_zero_rule(
        tiny_test_set: Path) -> None:
    x, y, labels = _jets(tiny_test_set, 3)
    net = _without_biases(ModelConfig(hidden=8, de=4, do=4), seed=5)
    zero = explain(net, x, y, labels, Rule("zero"))
    gamma0 = explain(net, x, y, labels, Rule("gamma", gamma=0.0))
    assert torch.allclose(zero.tracks, gamma0.tracks, atol=1e-6)
    wide = explain(net, x, y, labels, Rule("epsilon", epsilon=10.0))
    assert (wide.tracks.sum(dim=(1, 2)) + wide.svs.sum(dim=(1, 2))).abs().max() < 0.5
    with pytest.raises(ValueError, match="unknown LRP rule"):
        Rule("alpha-beta")


def test_gamma_favours_positive_contributions() -> None:
    # One layer, two inputs: a positive and a negative contribution to the same output.
    layer = torch.nn.Linear(2, 1)
    with torch.no_grad():
        layer.weight.copy_(torch.tensor([[1.0, -0.5]]))
        layer.bias.zero_()
    a, r = torch.tensor([[1.0, 1.0]]), torch.tensor([[1.0]])
    assert Rule("zero").backward(layer, a, r).tolist() == [[2.0, -1.0]]
    g = Rule("gamma", gamma=2.0).backward(layer, a, r)  # w' = (3, -0.5): z' = 2.5
    assert torch.allclose(g, torch.tensor([[1.2, -0.2]]))


def test_class_averages_cover_every_feature_track_and_layer(tiny_test_set: Path) -> None:
    jets = load_dataset(tiny_test_set, max_jets=10)
    net = _without_biases(ModelConfig.ablated(12, 5, hidden=6, de=3, do=3))
    study = lrp_study(net, jets, Rule("zero"), CPU, chunk=4)
    assert set(study.classes) == {c for i, c in enumerate(schema.CLASSES)
                                  if (jets.labels == i).any()}
    for c in study.classes.values():
        assert list(c.track_features) == list(net.config.track_features)  # 18: dropped absent
        assert list(c.sv_features) == list(net.config.sv_features)
        assert len(c.track_slots) == 60 and len(c.sv_slots) == 5
        total = sum(c.track_features.values()) + sum(c.sv_features.values())
        assert total == pytest.approx(1.0, abs=1e-4)
        assert sum(c.track_slots) + sum(c.sv_slots) == pytest.approx(total, abs=1e-6)
    assert sum(c.n_jets for c in study.classes.values()) == 10


def test_objects_are_ordered_by_relative_energy_highest_first() -> None:
    relevance = torch.tensor([[1.0, 2.0, 3.0, 4.0]])
    erel = torch.tensor([[0.1, 0.0, 0.5, 0.2]])
    assert _energy_order(relevance, erel).tolist() == [[3.0, 4.0, 1.0, 2.0]]


def test_svs_are_ordered_by_their_own_energy_not_the_tracks(tiny_test_set: Path) -> None:
    """The public helper's 'sort vertices' re-sorted the tracks; here SVs follow sv_erel."""
    jets = load_dataset(tiny_test_set, max_jets=1)
    erel = schema.SV_FEATURES.index("sv_erel")
    jets.svs[0, :, :] = 0.0
    jets.svs[0, :, 0], jets.svs[0, :, 3] = 0.5, 1.0  # two real SVs, in slots 0 and 3
    jets.svs[0, erel, 0], jets.svs[0, erel, 3] = 0.1, 0.4  # slot 3 has the higher energy
    net = _without_biases(ModelConfig(hidden=8, de=4, do=4), seed=6)
    x, y = torch.from_numpy(jets.tracks), torch.from_numpy(jets.svs)
    per_sv = explain(net, x, y, torch.from_numpy(jets.labels), Rule("zero")).svs.sum(dim=1)[0]
    study = lrp_study(net, jets, Rule("zero"), CPU)
    (c,) = study.classes.values()
    assert c.sv_slots[:2] == pytest.approx([float(per_sv[3]), float(per_sv[0])], abs=1e-6)
