"""The NVML sampler: honest about being unavailable, sampling at 10 Hz or more on a GPU, and
sampling the GPU torch computes on or none ("no NVML match", e.g. a MIG instance)."""

from __future__ import annotations

import sys
import time
import types

import pytest

from fairhep.bench.gpu_sampler import GpuSampler
from fairhep.gpu import match_nvml_index, nvml_unavailable_reason


@pytest.mark.skipif(nvml_unavailable_reason() is None, reason="NVML works on this node")
def test_sampler_reports_nvml_unavailable_here():
    sampler = GpuSampler()
    assert sampler.available is False
    assert sampler.reason == nvml_unavailable_reason() and sampler.reason
    with sampler:
        t0 = time.perf_counter()
        time.sleep(0.05)
        window = sampler.window(t0, time.perf_counter())
    assert window == {"gpu_util_pct": None, "gpu_mem_mib": None, "gpu_power_w": None,
                      "nvml_samples": 0}
    status = sampler.status()
    assert status["available"] is False and status["n_samples"] == 0


@pytest.mark.gpu
@pytest.mark.skipif(nvml_unavailable_reason() is not None, reason="needs NVML")
def test_sampler_samples_at_10_hz_or_more():
    with GpuSampler(hz=20) as sampler:
        t0 = time.perf_counter()
        time.sleep(1.0)
        t1 = time.perf_counter()
    inside = [s for s in sampler.samples if t0 <= s.t <= t1]
    assert len(inside) >= 10
    w = sampler.window(t0, t1)
    util, mem = w["gpu_util_pct"], w["gpu_mem_mib"]
    assert util is not None and 0 <= util <= 100 and mem is not None and mem > 0
    assert w["nvml_samples"] == len(inside)


@pytest.mark.gpu
@pytest.mark.skipif(nvml_unavailable_reason() is not None, reason="needs NVML")
def test_sampler_samples_the_gpu_torch_computes_on():
    import torch

    with GpuSampler() as sampler:
        time.sleep(0.2)
    if sampler.reason is not None:  # a MIG slice: the reason says so, no numbers
        assert sampler.reason.startswith("no NVML match") and sampler.samples == []
        return
    assert sampler.device_name == torch.cuda.get_device_name(torch.cuda.current_device())


GPU0 = "GPU-11111111-2222-3333-4444-555555555555"
GPU1 = "GPU-aaaaaaaa-bbbb-cccc-dddd-eeeeeeeeeeee"


def test_nvml_index_is_matched_by_uuid_never_guessed():
    assert match_nvml_index(GPU1.removeprefix("GPU-"), [GPU0, GPU1]) == 1  # torch's form
    assert match_nvml_index(GPU0, [GPU0, GPU1]) == 0
    assert match_nvml_index(None, [GPU0]) == 0  # one GPU: nothing to confuse it with
    several = match_nvml_index(None, [GPU0, GPU1])
    assert isinstance(several, str) and several.startswith("no NVML match: 2 GPUs")
    mig = match_nvml_index("0badc0de-0000-1111-2222-333333333333", [GPU0, GPU1],
                           [True, False])
    assert isinstance(mig, str) and mig.startswith(
        "no NVML match for CUDA device 0badc0de-0000-1111-2222-333333333333 (MIG is "
        "enabled on NVML GPU 0")


class _FakeNvml(types.ModuleType):
    """A stand-in pynvml with two whole GPUs, MIG on the first: which one is asked for is
    what is tested, not NVML itself."""

    class NVMLError(Exception):
        pass

    def __init__(self) -> None:
        super().__init__("pynvml")
        self.sampled: list[int] = []

    def nvmlInit(self) -> None:
        pass

    def nvmlShutdown(self) -> None:
        pass

    def nvmlDeviceGetCount(self) -> int:
        return 2

    def nvmlDeviceGetHandleByIndex(self, i: int) -> int:
        return i

    def nvmlDeviceGetUUID(self, h: int) -> bytes:
        return (GPU0, GPU1)[h].encode()

    def nvmlDeviceGetMigMode(self, h: int) -> tuple[int, int]:
        return (1, 1) if h == 0 else (0, 0)

    def nvmlDeviceGetName(self, h: int) -> str:
        return f"GPU {h}"

    def nvmlDeviceGetUtilizationRates(self, h: int) -> types.SimpleNamespace:
        self.sampled.append(h)
        return types.SimpleNamespace(gpu=50)

    def nvmlDeviceGetMemoryInfo(self, _h: int) -> types.SimpleNamespace:
        return types.SimpleNamespace(used=2**30)

    def nvmlDeviceGetPowerUsage(self, _h: int) -> int:
        return 100_000


def test_a_mig_instance_gets_no_nvml_match_instead_of_gpu_0(monkeypatch):
    fake = _FakeNvml()
    monkeypatch.setitem(sys.modules, "pynvml", fake)
    mig_uuid = "MIG-0badc0de-0000-1111-2222-333333333333"
    sampler = GpuSampler(hz=50, cuda_uuid=lambda: mig_uuid)
    assert sampler.available  # NVML itself answers
    with sampler:
        time.sleep(0.1)
    assert sampler.reason is not None and sampler.reason.startswith(
        f"no NVML match for CUDA device {mig_uuid} (MIG is enabled on NVML GPU 0")
    assert fake.sampled == [] and sampler.samples == []  # GPU 0 was never read
    assert sampler.status()["available"] is False
    # The GPU that does match is the one sampled.
    matched = GpuSampler(hz=50, cuda_uuid=lambda: GPU1.removeprefix("GPU-"))
    with matched:
        time.sleep(0.1)
    assert matched.reason is None and matched.device_name == "GPU 1"
    assert fake.sampled and set(fake.sampled) == {1}
