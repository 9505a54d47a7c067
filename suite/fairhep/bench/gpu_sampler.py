"""Sampling GPU utilisation, memory and power through NVML in a background thread.

The paper read GPU utilisation off ``nvidia-smi`` by hand (Figure 4); here a thread polls
NVML (``nvidia-ml-py``) at :data:`DEFAULT_HZ` while the work runs, and each measured interval
gets the mean of the samples taken inside it. NVML's utilisation counter is itself the share
of the last driver sample period (1/6 s to 1 s, GPU dependent) in which a kernel ran, so
intervals much shorter than that inherit their neighbours' value.

Where NVML cannot start (no driver, no GPU, CPU-only node) the sampler does nothing and
says why in :attr:`GpuSampler.reason`; the modes record that reason, never zeros. The GPU
sampled is the one torch computes on, matched by UUID; when none matches (a MIG instance,
several GPUs and no CUDA in torch) the reason is "no NVML match", never another GPU's numbers.
Each window says how many samples fell inside it (``nvml_samples``).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from types import TracebackType
from typing import Any

from fairhep.gpu import match_nvml_index, nvml_unavailable_reason

DEFAULT_HZ = 20.0


@dataclass(frozen=True)
class GpuSample:
    t: float  # time.perf_counter() of the sample
    util_pct: float
    mem_mib: float
    power_w: float | None  # some GPUs (and MIG slices) do not report power


def torch_cuda_uuid() -> str | None:
    """The UUID of the CUDA device torch computes on; None without CUDA."""
    import torch

    if not torch.cuda.is_available():
        return None
    return str(torch.cuda.get_device_properties(torch.cuda.current_device()).uuid)


class GpuSampler:
    """``with GpuSampler() as s: ...; s.window(t0, t1)`` -> mean utilisation, memory, power."""

    def __init__(self, index: int | None = None, hz: float = DEFAULT_HZ,
                 cuda_uuid: Callable[[], str | None] = torch_cuda_uuid) -> None:
        if hz <= 0:
            raise ValueError("sampling rate must be positive")
        self.interval_s = 1.0 / hz
        self.index = index
        self._cuda_uuid = cuda_uuid
        self.reason: str | None = nvml_unavailable_reason()
        self.samples: list[GpuSample] = []
        self.device_name: str | None = None
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()

    @property
    def available(self) -> bool:
        return self.reason is None

    def status(self) -> dict[str, Any]:
        """The record's ``metrics.nvml`` block."""
        return {"available": self.available, "reason": self.reason,
                "hz": 1.0 / self.interval_s, "device": self.device_name,
                "n_samples": len(self.samples)}

    def __enter__(self) -> GpuSampler:
        self.start()
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.stop()

    def start(self) -> None:
        if not self.available or self._thread is not None:
            return
        import pynvml

        pynvml.nvmlInit()
        index = self._resolve_index(pynvml)
        if isinstance(index, str):
            self.reason = index
            pynvml.nvmlShutdown()
            return
        handle = pynvml.nvmlDeviceGetHandleByIndex(index)
        name = pynvml.nvmlDeviceGetName(handle)
        self.device_name = name.decode() if isinstance(name, bytes) else str(name)
        self._stop.clear()
        self._thread = threading.Thread(target=self._run, args=(pynvml, handle),
                                        name="fairhep-nvml", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        if self._thread is None:
            return
        self._stop.set()
        self._thread.join()
        self._thread = None
        import pynvml

        pynvml.nvmlShutdown()

    def _resolve_index(self, pynvml: Any) -> int | str:
        """The NVML index of the GPU torch computes on, or why there is none."""
        if self.index is not None:
            return self.index
        uuids, mig = [], []
        for i in range(pynvml.nvmlDeviceGetCount()):
            handle = pynvml.nvmlDeviceGetHandleByIndex(i)
            uuid = pynvml.nvmlDeviceGetUUID(handle)
            uuids.append(uuid.decode() if isinstance(uuid, bytes) else str(uuid))
            try:
                mig.append(bool(pynvml.nvmlDeviceGetMigMode(handle)[0]))
            except pynvml.NVMLError:  # GPUs without MIG support
                mig.append(False)
        try:
            cuda_uuid = self._cuda_uuid()
        except Exception as exc:  # an older torch without device UUIDs
            return f"no NVML match: the CUDA device's UUID is unknown ({exc})"
        return match_nvml_index(cuda_uuid, uuids, mig)

    def _run(self, pynvml: Any, handle: Any) -> None:
        while not self._stop.is_set():
            t = time.perf_counter()
            try:
                util = pynvml.nvmlDeviceGetUtilizationRates(handle).gpu
                mem = pynvml.nvmlDeviceGetMemoryInfo(handle).used / 2**20
                try:
                    power: float | None = pynvml.nvmlDeviceGetPowerUsage(handle) / 1000.0
                except pynvml.NVMLError:
                    power = None
            except pynvml.NVMLError as exc:
                self.reason = f"NVML stopped answering: {exc}"
                return
            with self._lock:
                self.samples.append(GpuSample(t, float(util), float(mem), power))
            self._stop.wait(max(0.0, self.interval_s - (time.perf_counter() - t)))

    def window(self, t0: float, t1: float) -> dict[str, float | None]:
        """Mean utilisation (%), memory used (MiB) and power (W) of the samples taken in
        [t0, t1] (perf_counter times), and how many there were; the nearest sample when none
        fell inside; None values when NVML is unavailable."""
        keys = ("gpu_util_pct", "gpu_mem_mib", "gpu_power_w")
        with self._lock:
            samples = list(self.samples)
        if not samples:
            return {**dict.fromkeys(keys), "nvml_samples": 0}
        inside = [s for s in samples if t0 <= s.t <= t1]
        n_inside = len(inside)
        if not inside:
            mid = 0.5 * (t0 + t1)
            inside = [min(samples, key=lambda s: abs(s.t - mid))]
        powers = [s.power_w for s in inside if s.power_w is not None]
        return {
            "gpu_util_pct": sum(s.util_pct for s in inside) / len(inside),
            "gpu_mem_mib": sum(s.mem_mib for s in inside) / len(inside),
            "gpu_power_w": sum(powers) / len(powers) if powers else None,
            "nvml_samples": n_inside,  # 0: the nearest sample stood in for the window
        }
