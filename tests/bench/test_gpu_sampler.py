"""The NVML sampler: honest about being unavailable, and sampling at 10 Hz or more on a GPU."""

from __future__ import annotations

import time

import pytest

from fairhep.bench.gpu_sampler import GpuSampler
from fairhep.gpu import nvml_unavailable_reason


@pytest.mark.skipif(nvml_unavailable_reason() is None, reason="NVML works on this node")
def test_sampler_reports_nvml_unavailable_here():
    sampler = GpuSampler()
    assert sampler.available is False
    assert sampler.reason == nvml_unavailable_reason() and sampler.reason
    with sampler:
        t0 = time.perf_counter()
        time.sleep(0.05)
        window = sampler.window(t0, time.perf_counter())
    assert window == {"gpu_util_pct": None, "gpu_mem_mib": None, "gpu_power_w": None}
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
    assert 0 <= w["gpu_util_pct"] <= 100 and w["gpu_mem_mib"] > 0
