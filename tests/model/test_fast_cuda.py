"""The fast engine on CUDA (``gpu``-marked: skipped without a GPU; ``tools/gpu-check`` runs
them on a GPU node): fixed bucket shapes, eager and compiled (max-autotune, CUDA graphs),
pinned host memory with asynchronous copies, tf32/bf16 as approximate, gradients for
training, the training jets resident on the GPU, and a bit-reproducible training."""

from __future__ import annotations

import os

import numpy as np
import pytest
import torch

from fairhep.data import load
from fairhep.data.resident import ResidentJets
from fairhep.data.synth import synthesize
from fairhep.model import InteractionNetwork, ModelConfig, reference_forward
from fairhep.model.fast import EngineOptions, FastEngine, fast_logits
from jet_helpers import random_jets

pytestmark = pytest.mark.gpu
CUDA = torch.device("cuda")
SMALL_BUCKETS = (16, 60)  # few shapes: compiling stays short in a test


@pytest.fixture(scope="module")
def jets() -> tuple[torch.Tensor, torch.Tensor]:
    return random_jets(300, seed=41)


def _nets(config: ModelConfig | None = None) -> tuple[InteractionNetwork, InteractionNetwork]:
    torch.manual_seed(0)
    cpu = InteractionNetwork(config).eval()
    gpu = InteractionNetwork(config).eval()
    gpu.load_state_dict(cpu.state_dict())
    return cpu, gpu.to(CUDA)


def _reference_scores(net: InteractionNetwork, tracks, svs) -> torch.Tensor:
    with torch.no_grad():
        return torch.cat([torch.softmax(reference_forward(net, tracks[i:i + 50], svs[i:i + 50]),
                                        1) for i in range(0, len(tracks), 50)])


# Compiled: $FAIRHEP_ENGINE_COMPILE's mode (tools/gpu-check: reduce-overhead, CUDA graphs
# without minutes of autotuning), else the engine's max-autotune.
COMPILED = os.environ.get("FAIRHEP_ENGINE_COMPILE") or "max-autotune"


@pytest.mark.parametrize(("variant", "compile_mode"), [
    ("baseline", None), ("ablated", None), ("baseline", COMPILED)])
def test_cuda_engine_scores_equal_the_interaction_matrix_form(jets, variant, compile_mode):
    config = None if variant == "baseline" else ModelConfig.ablated(12, 5, hidden=16, de=8, do=8)
    cpu, gpu = _nets(config)
    engine = FastEngine(gpu, EngineOptions(buckets=SMALL_BUCKETS, compile=compile_mode,
                                           memory_budget_mb=8))
    engine.warm_up()
    tracks, svs = jets
    ref = _reference_scores(cpu, tracks, svs)
    for _ in range(2):  # a second pass replays the captured graphs
        got = engine.scores(tracks.to(CUDA), svs.to(CUDA)).cpu()
        torch.testing.assert_close(got, ref, rtol=0, atol=1e-5)


def test_host_inference_through_pinned_memory_equals_device_inference(jets):
    _, gpu = _nets()
    engine = FastEngine(gpu, EngineOptions.for_device(CUDA, compile=None))
    tracks, svs = jets
    on_device = engine.scores(tracks.to(CUDA), svs.to(CUDA)).cpu()
    pageable = engine.predict_host(tracks.numpy(), svs.numpy())
    pinned = engine.predict_host(tracks.pin_memory(), svs.pin_memory())
    torch.testing.assert_close(pageable, on_device, rtol=0, atol=1e-6)
    torch.testing.assert_close(pinned, on_device, rtol=0, atol=1e-6)


@pytest.mark.parametrize("precision", ["tf32", "bf16"])
def test_tf32_and_bf16_are_approximate_and_close(jets, precision):
    cpu, gpu = _nets()
    options = EngineOptions.for_device(CUDA, compile=None, precision=precision)
    assert options.approximate and options.to_dict()["approximate"] is True
    tracks, svs = jets
    got = FastEngine(gpu, options).scores(tracks.to(CUDA), svs.to(CUDA)).cpu()
    assert float((got - _reference_scores(cpu, tracks, svs)).abs().max()) <= 1e-2


@pytest.mark.parametrize("compile_mode", [None, "default"],
                         ids=["eager", "compiled"])
def test_cuda_gradients_equal_the_interaction_matrix_form(compile_mode):
    cpu, gpu = _nets()
    cpu.train()
    gpu.train()
    tracks, svs = random_jets(16, seed=43)
    labels = torch.arange(16) % 2
    loss = torch.nn.functional.cross_entropy(reference_forward(cpu, tracks, svs), labels)
    torch.autograd.backward(loss)
    engine = FastEngine(gpu, EngineOptions(buckets=SMALL_BUCKETS, compile=compile_mode))
    loss_gpu = torch.nn.functional.cross_entropy(
        engine.logits(tracks.to(CUDA), svs.to(CUDA)), labels.to(CUDA))
    torch.autograd.backward(loss_gpu)
    torch.testing.assert_close(loss_gpu.cpu(), loss.detach(), rtol=1e-5, atol=0)
    for (name, p), q in zip(cpu.named_parameters(), gpu.parameters(), strict=True):
        assert p.grad is not None and q.grad is not None, name
        rel = float((q.grad.cpu() - p.grad).norm() / p.grad.norm())
        assert rel <= 1e-4, f"{name}: {rel:.2e}"


def test_resident_training_jets_are_the_streamed_batches(tmp_path):
    synthesize(tmp_path, files=2, jets_per_file=200, seed=44)
    files = load.list_files(tmp_path)
    resident = ResidentJets(files, CUDA)
    streamed = load.iter_batches(files, 64, shuffle=True, rng=np.random.default_rng(5))
    for a, b in zip(streamed, resident.batches(64, np.random.default_rng(5)), strict=True):
        assert b.tracks.is_cuda
        assert np.array_equal(a.tracks, b.tracks.cpu().numpy())
        assert np.array_equal(a.labels, b.labels.cpu().numpy())


def test_cuda_training_is_bit_reproducible_for_the_same_seed(tmp_path):
    from fairhep.train import TrainConfig, train

    data = tmp_path / "data"
    synthesize(data, files=3, jets_per_file=300, seed=45)
    weights = []
    for name in ("a", "b"):
        cfg = TrainConfig(data=data, out=tmp_path / name, seed=1, fold_files=1, epochs=2,
                          device="cuda", progress=False)
        assert train(cfg).finished
        weights.append(torch.load(tmp_path / name / "last.pth", weights_only=True))
    for k in weights[0]:
        assert torch.equal(weights[0][k], weights[1][k]), k


def test_cuda_fast_logits_equal_cpu_fast_logits_for_only_padded_and_full_jets():
    cpu, gpu = _nets()
    tracks, svs = random_jets(6, seed=46, counts=[0, 0, 60, 60, 1, 59])
    svs[:2] = 0
    with torch.no_grad():
        a = fast_logits(cpu, tracks, svs)
        b = fast_logits(gpu, tracks.to(CUDA), svs.to(CUDA),
                        EngineOptions(buckets=SMALL_BUCKETS)).cpu()
    torch.testing.assert_close(a, b, rtol=0, atol=1e-5)
