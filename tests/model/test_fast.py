"""The fast engine against the literal interaction-matrix form (`reference_forward`, the
truth): scores, gradients and AUC on jets with 0…60 real tracks in random slots and 0…5 SVs,
for the baseline and ablated variants, on both plans (exact groups, fixed buckets)."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest
import torch

from fairhep.errors import SettingError
from fairhep.metrics import auc
from fairhep.model import InteractionNetwork, ModelConfig, reference_forward
from fairhep.model.fast import (
    ENGINES,
    EngineOptions,
    EngineSettings,
    engine_record,
    fast_logits,
    make_forward,
    scores,
)
from fairhep.model.fast import linear as fast_linear
from fairhep.model.fast import plan as fast_plan
from jet_helpers import random_jets

# One intra-op thread: on a busy 2-core machine spinning OpenMP threads slow small ops ~30x.
pytestmark = pytest.mark.usefixtures("one_torch_thread")

CONFIGS = {
    "baseline": ModelConfig(),
    "ablated": ModelConfig.ablated(12, 5, hidden=16, de=8, do=8),
    "odd-sizes": ModelConfig.ablated(3, 1, hidden=7, de=5, do=3),
}
OPTIONS = {
    "exact": EngineOptions(),
    "exact-tiny-budget": EngineOptions(memory_budget_mb=0.02, block_edges=50),
    "buckets": EngineOptions(buckets=(8, 16, 32, 60)),
    "buckets-tiny-budget": EngineOptions(buckets=(4, 60), memory_budget_mb=0.02),
}


def _net(config: ModelConfig, seed: int = 0) -> InteractionNetwork:
    torch.manual_seed(seed)
    return InteractionNetwork(config).eval()


@pytest.fixture(scope="module", params=list(CONFIGS))
def truth(request):
    """A variant, jets with every edge case, and their reference scores (computed once)."""
    net = _net(CONFIGS[request.param])
    # No, one, all 60 real tracks; jets without SVs; random counts in random slots.
    counts = [0, 1, 60, 59, 2, 30] + [int(c) for c in np.random.default_rng(3).integers(0, 61, 18)]
    tracks, svs = random_jets(len(counts), seed=5, counts=counts)
    svs[:4] = 0
    with torch.no_grad():
        ref = torch.softmax(reference_forward(net, tracks, svs), dim=1)
    return net, tracks, svs, ref


@pytest.mark.parametrize("option", list(OPTIONS))
def test_scores_equal_the_interaction_matrix_form(truth, option):
    net, tracks, svs, ref = truth
    with torch.no_grad():
        fast = torch.softmax(fast_logits(net, tracks, svs, OPTIONS[option]), dim=1)
    assert fast.shape == (len(tracks), 2)
    torch.testing.assert_close(fast, ref, rtol=0, atol=1e-5)
    assert float(ref[:, 0].std()) > 1e-3  # the jets get different scores: not a constant


def test_batches_of_only_padded_jets_and_empty_batches():
    net = _net(CONFIGS["baseline"])
    tracks, svs = torch.zeros(3, 30, 60), torch.zeros(3, 14, 5)
    with torch.no_grad():
        ref = reference_forward(net, tracks, svs)
        for opts in OPTIONS.values():
            torch.testing.assert_close(fast_logits(net, tracks, svs, opts), ref, rtol=0,
                                       atol=1e-5)
        assert fast_logits(net, tracks[:0], svs[:0]).shape == (0, 2)


@pytest.mark.parametrize("option", ["exact", "buckets"])
def test_moving_padded_slots_leaves_every_score_unchanged(option):
    net = _net(CONFIGS["baseline"])
    tracks, svs = random_jets(24, seed=8)
    # The same real tracks and SVs, in the same order, with the padding moved around them.
    moved_t, moved_s = torch.zeros_like(tracks), torch.zeros_like(svs)
    g = torch.Generator().manual_seed(9)
    for i in range(len(tracks)):
        for src, dst in ((tracks[i], moved_t[i]), (svs[i], moved_s[i])):
            real = torch.nonzero((src != 0).any(dim=0)).flatten()
            slots = torch.sort(torch.randperm(src.shape[1], generator=g)[: len(real)]).values
            dst[:, slots] = src[:, real]
    assert not torch.equal(moved_t, tracks)
    with torch.no_grad():
        a = fast_logits(net, tracks, svs, OPTIONS[option])
        b = fast_logits(net, moved_t, moved_s, OPTIONS[option])
    assert torch.equal(a, b)  # bit for bit: the engine sees the same real slots


def test_a_slot_with_only_dropped_features_nonzero_counts_as_padded():
    # To an ablated network such a track is all zero: the closed form must apply to it.
    config = CONFIGS["ablated"]
    net = _net(config)
    tracks, svs = random_jets(6, seed=4)
    dropped = [i for i, f in enumerate(ModelConfig().track_features)
               if f not in config.track_features]
    tracks[:, dropped, :] = 1.0  # every slot now has a nonzero (dropped) feature
    with torch.no_grad():
        torch.testing.assert_close(fast_logits(net, tracks, svs),
                                   reference_forward(net, tracks, svs), rtol=0, atol=1e-5)


def _grads(net: InteractionNetwork, logits: torch.Tensor, labels: torch.Tensor
           ) -> dict[str, torch.Tensor]:
    net.zero_grad(set_to_none=True)
    loss = torch.nn.functional.cross_entropy(logits, labels)
    torch.autograd.backward(loss)
    return {k: p.grad.detach().clone() for k, p in net.named_parameters() if p.grad is not None}


@pytest.mark.parametrize("onednn", [True, False], ids=["onednn", "plain"])
@pytest.mark.parametrize("option", ["exact", "buckets-tiny-budget"])
@pytest.mark.parametrize("variant", ["baseline", "ablated"])
def test_loss_and_gradients_equal_the_interaction_matrix_form(variant, option, onednn,
                                                              monkeypatch):
    if onednn and not fast_linear.onednn_available():
        pytest.skip("oneDNN's fused linear is not in this torch build")
    fused_calls: list[int] = []
    pointwise = fast_linear._pointwise

    def counted(x: torch.Tensor, w: torch.Tensor, b: torch.Tensor | None) -> torch.Tensor:
        fused_calls.append(1)
        return pointwise(x, w, b)

    monkeypatch.setattr(fast_linear, "_pointwise", counted)
    options = replace(OPTIONS[option], onednn=onednn)  # what --onednn gives the engine
    net = _net(CONFIGS[variant]).train()
    tracks, svs = random_jets(12, seed=11, counts=[0, 60, 1, 25, 7, 40, 3, 12, 33, 18, 9, 50])
    labels = torch.arange(12) % 2
    ref_logits = reference_forward(net, tracks, svs)
    fast = fast_logits(net, tracks, svs, options)
    assert bool(fused_calls) == onednn  # the option, and only it, runs the fused kernel
    torch.testing.assert_close(
        torch.nn.functional.cross_entropy(fast, labels),
        torch.nn.functional.cross_entropy(ref_logits, labels), rtol=1e-5, atol=0)
    g_ref = _grads(net, reference_forward(net, tracks, svs), labels)
    g_fast = _grads(net, fast_logits(net, tracks, svs, options), labels)
    assert g_ref.keys() == g_fast.keys() == {k for k, _ in net.named_parameters()}
    for k, g in g_ref.items():
        rel = float((g_fast[k] - g).norm() / g.norm())
        assert rel <= 1e-4, f"{k}: relative gradient difference {rel:.2e}"


def test_auc_equals_the_reference_to_five_decimals(tmp_path):
    from fairhep.data.load import load_dataset
    from fairhep.data.synth import synthesize

    synthesize(tmp_path, files=1, jets_per_file=600, seed=21, split="test")
    jets = load_dataset(tmp_path)
    tracks, svs = torch.from_numpy(jets.tracks), torch.from_numpy(jets.svs)
    labels = torch.from_numpy(jets.labels)
    net = _net(CONFIGS["ablated"]).train()
    opt = torch.optim.Adam(net.parameters(), lr=1e-2)
    for step in range(25):  # a little training, so that the ranking means something
        sl = slice(32 * step % 576, 32 * step % 576 + 32)
        loss = torch.nn.functional.cross_entropy(fast_logits(net, tracks[sl], svs[sl]),
                                                 labels[sl])
        opt.zero_grad()
        torch.autograd.backward(loss)
        opt.step()
    net.eval()
    with torch.no_grad():
        ref = torch.cat([torch.softmax(reference_forward(net, tracks[i:i + 100],
                                                         svs[i:i + 100]), 1)
                         for i in range(0, len(jets), 100)]).numpy()
    fast = scores(net, jets.tracks, jets.svs)
    a_ref, a_fast = auc(ref, jets.labels), auc(fast, jets.labels)
    assert a_ref > 0.75  # trained a little: well above chance
    assert f"{a_fast:.5f}" == f"{a_ref:.5f}"


def test_jets_are_grouped_by_real_track_count_not_looped_over():
    tracks, svs = random_jets(300, seed=2, counts=[5, 17, 40] * 100)
    net = _net(CONFIGS["baseline"])
    x, y = net.select_inputs(tracks, svs)
    slots = fast_plan.find_slots(x.transpose(1, 2), y.transpose(1, 2))
    order, chunks = fast_plan.exact_plan(slots, 5, max_edges=10**9)
    assert [c.n for c in chunks] == [5, 17, 40]
    assert sorted(torch.cat([c.jets for c in chunks]).tolist()) == list(range(300))
    assert torch.equal(torch.cat([c.jets for c in chunks]), order)


def test_the_memory_budget_bounds_every_chunk_not_the_batch():
    net = _net(CONFIGS["baseline"])
    tracks, svs = random_jets(60, seed=6)
    x, y = net.select_inputs(tracks, svs)
    slots = fast_plan.find_slots(x.transpose(1, 2), y.transpose(1, 2))
    for mb in (0.05, 0.5):
        max_edges = fast_plan.edges_per_chunk(int(mb * 2**20), 60, 20)
        _, chunks = fast_plan.exact_plan(slots, 5, max_edges)
        for c in chunks:
            # A chunk is one jet, or within the budget.
            assert len(c.jets) == 1 or len(c.jets) * (c.n * c.n + 2 * c.n + 5 * c.n + 1) <= \
                max_edges
    with torch.no_grad():
        small = fast_logits(net, tracks, svs, EngineOptions(memory_budget_mb=0.05))
        large = fast_logits(net, tracks, svs, EngineOptions(memory_budget_mb=512))
    torch.testing.assert_close(small, large, rtol=0, atol=1e-5)


def test_bucket_chunks_come_in_two_fixed_shapes_per_bucket():
    net = _net(CONFIGS["baseline"])
    buckets = (8, 16, 32, 60)
    max_edges = fast_plan.edges_per_chunk(2**20, 60, 20)
    shapes: set[tuple[int, int]] = set()
    for seed in range(4):
        tracks, svs = random_jets(int(50 + 97 * seed), seed=seed)
        x, y = net.select_inputs(tracks, svs)
        slots = fast_plan.find_slots(x.transpose(1, 2), y.transpose(1, 2))
        _, chunks = fast_plan.bucket_plan(slots, buckets, 5, max_edges)
        shapes |= {(len(c.jets), c.n) for c in chunks}
    for size in buckets:
        full = fast_plan.full_chunk_jets(size, 5, max_edges)
        assert {j for j, n in shapes if n == size} <= {full, full // fast_plan.TAIL_FRACTION}


def test_engine_names_options_and_the_scores_entry_point():
    net = _net(CONFIGS["ablated"])
    tracks, svs = random_jets(10, seed=1)
    assert ENGINES == ("fast", "reference")
    with torch.no_grad():
        ref = make_forward("reference", net)(tracks, svs)
        torch.testing.assert_close(make_forward("fast", net)(tracks, svs), ref, rtol=0,
                                   atol=1e-5)
    s = scores(net, tracks.numpy(), svs.numpy())
    assert isinstance(s, np.ndarray) and s.dtype == np.float32 and s.shape == (10, 2)
    np.testing.assert_allclose(s, torch.softmax(ref, 1).numpy(), atol=1e-5)
    with pytest.raises(ValueError, match="unknown engine 'dense'"):
        make_forward("dense", net)
    with pytest.raises(ValueError, match="precision bf16 needs a CUDA device"):
        make_forward("fast", net, "bf16")(tracks, svs)
    with pytest.raises(ValueError, match="precision must be one of fp32, tf32, bf16"):
        EngineOptions(precision="fp16")
    with pytest.raises(ValueError, match="ascending positive"):
        EngineOptions(buckets=(16, 8))
    with pytest.raises(ValueError, match="memory budget must be positive"):
        EngineOptions(memory_budget_mb=0)
    with pytest.raises(ValueError, match=r"tracks \(B, 30, 60\)"):
        fast_logits(net, tracks[:, :, :59], svs)
    assert EngineOptions.for_device("cuda").buckets is not None
    assert EngineOptions.for_device("cpu").buckets is None
    assert EngineOptions(precision="bf16").approximate and not EngineOptions().approximate


def test_cpu_inference_runs_chunks_side_by_side_with_the_same_scores():
    net = _net(CONFIGS["baseline"])
    tracks, svs = random_jets(40, seed=12)
    opts = EngineOptions(memory_budget_mb=0.2)  # many chunks
    before = torch.get_num_threads()
    with torch.inference_mode():
        serial = fast_logits(net, tracks, svs, opts)  # one thread (module fixture)
        torch.set_num_threads(2)
        try:
            parallel = fast_logits(net, tracks, svs, opts)
            assert torch.get_num_threads() == 2  # the workers' setting did not leak
        finally:
            torch.set_num_threads(before)
    torch.testing.assert_close(parallel, serial, rtol=0, atol=1e-6)
    with torch.no_grad():
        torch.testing.assert_close(fast_logits(net, tracks, svs, opts), serial, rtol=0,
                                   atol=1e-6)


def test_cpu_training_runs_chunks_side_by_side_with_the_same_gradients():
    net = _net(CONFIGS["ablated"]).train()
    tracks, svs = random_jets(30, seed=13)
    labels = torch.arange(30) % 2
    opts = EngineOptions.for_device("cpu", training=True)
    serial = _grads(net, fast_logits(net, tracks, svs, opts), labels)  # one thread
    before = torch.get_num_threads()
    torch.set_num_threads(2)
    try:
        parallel = _grads(net, fast_logits(net, tracks, svs, opts), labels)
        again = _grads(net, fast_logits(net, tracks, svs, opts), labels)
        assert torch.get_num_threads() == 2
    finally:
        torch.set_num_threads(before)
    for k, g in serial.items():
        torch.testing.assert_close(parallel[k], g, rtol=1e-5, atol=1e-7)
        assert torch.equal(parallel[k], again[k]), k  # deterministic whatever thread is first


@pytest.mark.parametrize("option", ["exact", "buckets"])
def test_any_graph_size_other_track_and_sv_slots(option):
    config = ModelConfig(n_tracks=20, n_svs=3, hidden=8, de=4, do=4)
    net = _net(config)
    tracks, svs = random_jets(12, seed=14, n_tracks=20, n_svs=3,
                              counts=[0, 20, 1, 19, 5, 11, 0, 20, 7, 3, 14, 9])
    with torch.no_grad():
        ref = reference_forward(net, tracks, svs)
        got = fast_logits(net, tracks, svs, OPTIONS[option])  # buckets wider than 20 slots
    torch.testing.assert_close(got, ref, rtol=0, atol=1e-5)


def test_settings_passed_in_replace_the_device_defaults_and_reach_the_record():
    budget = EngineSettings(memory_budget_mb=12.5, onednn=fast_linear.onednn_available())
    assert EngineOptions.for_device("cpu", settings=budget).memory_budget_mb == 12.5
    cuda = EngineOptions.for_device("cuda", settings=EngineSettings(
        compile="none", buckets=(20, 40, 60), memory_budget_mb=100))
    assert (cuda.compile, cuda.buckets, cuda.memory_budget_mb) == (None, (20, 40, 60), 100)
    assert EngineOptions.for_device("cuda", training=True, settings=EngineSettings(
        compile="reduce-overhead")).compile == "reduce-overhead"
    # No settings: the device's defaults, whatever the process's variables say.
    assert EngineOptions.for_device("cpu").memory_budget_mb == 64
    assert EngineOptions.for_device("cuda").compile == "max-autotune"
    record = engine_record("fast", torch.device("cpu"), settings=budget)["engine_options"]
    assert record["memory_budget_mb"] == 12.5 and record["onednn"] == budget.onednn
    bads: list[dict[str, object]] = [{"memory_budget_mb": 0}, {"buckets": (40, 20)},
                                      {"compile": "fastest"}]
    for bad in bads:
        with pytest.raises(SettingError, match=f"engine {next(iter(bad))}"):
            EngineSettings(**bad)  # type: ignore[arg-type]


def test_the_model_layer_reads_no_environment(monkeypatch):
    for var in ("FAIRHEP_ENGINE_BUDGET_MB", "FAIRHEP_ENGINE_COMPILE", "FAIRHEP_ONEDNN"):
        monkeypatch.setenv(var, "1")
    fast_linear.onednn_available.cache_clear()
    opts = EngineOptions.for_device("cpu")
    assert (opts.memory_budget_mb, opts.onednn) == (64, False)
    assert EngineOptions.for_device("cuda").compile == "max-autotune"


@pytest.mark.parametrize("counts", [[30] * 8, [5, 40] * 4, list(range(0, 60, 5))],
                         ids=["one-count", "two-counts", "many-counts"])
def test_cpu_training_options_give_the_reference_gradients(counts):
    # Few real-track counts: exact groups; many: coarse buckets without fillers.
    net = _net(CONFIGS["ablated"]).train()
    tracks, svs = random_jets(len(counts), seed=15, counts=counts)
    labels = torch.arange(len(counts)) % 2
    g_ref = _grads(net, reference_forward(net, tracks, svs), labels)
    g_fast = _grads(net, fast_logits(net, tracks, svs,
                                     EngineOptions.for_device("cpu", training=True)), labels)
    for k, g in g_ref.items():
        assert float((g_fast[k] - g).norm() / g.norm()) <= 1e-4, k
