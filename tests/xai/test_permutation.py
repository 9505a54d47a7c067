"""The paper's permutation test: the IN does not depend on the order of tracks or SVs."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from fairhep.data.load import load_dataset
from fairhep.model import InteractionNetwork, ModelConfig
from fairhep.xai import Rule, explain
from fairhep.xai.jets import hbb_scores

pytestmark = pytest.mark.usefixtures("one_torch_thread")


def test_permuting_the_track_and_sv_slots_of_a_jet_leaves_its_score_equal(
        tiny_test_set: Path) -> None:
    jets = load_dataset(tiny_test_set, max_jets=4)
    x, y = torch.from_numpy(jets.tracks), torch.from_numpy(jets.svs)
    torch.manual_seed(1)
    net = InteractionNetwork(ModelConfig()).eval()  # the baseline, untrained
    with torch.inference_mode():
        before = hbb_scores(net, x, y)
        for _ in range(3):
            px = x[:, :, torch.randperm(x.shape[2])]
            py = y[:, :, torch.randperm(y.shape[2])]
            after = hbb_scores(net, px, py)
            assert (after - before).abs().max() <= 1e-6
    assert before.std() > 0  # different jets, different scores: the test can fail


def test_relevance_follows_the_tracks_when_their_slots_are_permuted(
        tiny_test_set: Path) -> None:
    jets = load_dataset(tiny_test_set, max_jets=3)
    x, y = torch.from_numpy(jets.tracks), torch.from_numpy(jets.svs)
    torch.manual_seed(2)
    net = InteractionNetwork(ModelConfig(hidden=8, de=4, do=4)).eval()
    target = torch.from_numpy(jets.labels)
    perm = torch.randperm(x.shape[2])
    a = explain(net, x, y, target, Rule("gamma"))
    b = explain(net, x[:, :, perm], y, target, Rule("gamma"))
    assert torch.allclose(b.tracks, a.tracks[:, :, perm], atol=1e-5)
    assert torch.allclose(b.svs, a.svs, atol=1e-5)
