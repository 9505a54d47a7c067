"""What NVML says about the GPUs of this node (through nvidia-ml-py's ``pynvml``).

Absent NVML (no driver, no GPU, CPU-only node) is a normal state, reported with a reason,
never an error.
"""

from __future__ import annotations

from typing import Literal, TypedDict


class GpuDevice(TypedDict):
    index: int
    name: str
    uuid: str
    memory_total_mib: int


class GpusFound(TypedDict):
    available: Literal[True]
    driver: str
    cuda_driver: str  # e.g. "12.4"
    devices: list[GpuDevice]


class NoGpu(TypedDict):
    available: Literal[False]
    reason: str


def nvml_unavailable_reason() -> str | None:
    """None when NVML can be initialised, else why not."""
    try:
        import pynvml
    except ImportError:
        return "nvidia-ml-py is not installed"
    try:
        pynvml.nvmlInit()
    except Exception as exc:  # pynvml raises NVMLError subclasses of many kinds
        return f"NVML unavailable: {exc}"
    try:
        if pynvml.nvmlDeviceGetCount() == 0:
            return "NVML found no GPU"
    finally:
        pynvml.nvmlShutdown()
    return None


def _text(value: object) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


def gpu_info() -> GpusFound | NoGpu:
    """Driver, CUDA driver version and one entry per GPU; ``{"available": False, ...}`` if none."""
    reason = nvml_unavailable_reason()
    if reason is not None:
        return {"available": False, "reason": reason}
    import pynvml

    pynvml.nvmlInit()
    try:
        cuda = pynvml.nvmlSystemGetCudaDriverVersion()
        devices: list[GpuDevice] = []
        for i in range(pynvml.nvmlDeviceGetCount()):
            h = pynvml.nvmlDeviceGetHandleByIndex(i)
            mem = pynvml.nvmlDeviceGetMemoryInfo(h)
            devices.append(
                {
                    "index": i,
                    "name": _text(pynvml.nvmlDeviceGetName(h)),
                    "uuid": _text(pynvml.nvmlDeviceGetUUID(h)),
                    "memory_total_mib": int(mem.total) // 2**20,
                }
            )
        return {
            "available": True,
            "driver": _text(pynvml.nvmlSystemGetDriverVersion()),
            "cuda_driver": f"{cuda // 1000}.{(cuda % 1000) // 10}",
            "devices": devices,
        }
    finally:
        pynvml.nvmlShutdown()
