"""What NVML says about the GPUs of this node (through nvidia-ml-py's ``pynvml``).

Absent NVML (no driver, no GPU, CPU-only node) is a normal state, reported with a reason,
never an error.
"""

from __future__ import annotations

from collections.abc import Sequence
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


def match_nvml_index(cuda_uuid: str | None, nvml_uuids: Sequence[str],
                     mig_enabled: Sequence[bool] = ()) -> int | str:
    """The NVML index of the GPU whose UUID is ``cuda_uuid`` (what torch computes on), or why
    there is none. NVML and CUDA may number GPUs differently (CUDA_VISIBLE_DEVICES renumbers
    CUDA's), so only a UUID says which is which. Under MIG, CUDA reports the MIG instance's
    UUID, which matches no whole GPU, and NVML gives no utilisation for a MIG instance: that
    is "no NVML match", never another GPU's readings."""
    if cuda_uuid is None:
        if len(nvml_uuids) == 1:
            return 0  # one GPU: nothing to confuse it with
        return (f"no NVML match: {len(nvml_uuids)} GPUs and no CUDA device UUID to tell which "
                "one computes (torch without CUDA)")
    wanted = cuda_uuid.lower().removeprefix("gpu-")
    for i, uuid in enumerate(nvml_uuids):
        if uuid.lower().removeprefix("gpu-") == wanted:
            return i
    mig = [i for i, on in enumerate(mig_enabled) if on]
    why = (f" (MIG is enabled on NVML GPU {', '.join(map(str, mig))}: a MIG instance has no "
           "utilisation counter)" if mig else "")
    return (f"no NVML match for CUDA device {cuda_uuid}{why}; NVML sees "
            f"{', '.join(nvml_uuids) or 'no GPU'}")
