"""TF32: whether an fp32 GPU row really ran in fp32.

On Ampere and newer GPUs cuBLAS, cuDNN and TensorRT may round fp32 matmul inputs to TF32
(10 mantissa bits), which moves softmax scores by ~1e-4, beyond the fp32 parity tolerance.
torch (``allow_tf32``), the ONNX Runtime CUDA EP (``use_tf32``) and native TensorRT (clearing
``BuilderFlag.TF32``) can be told per session; the ONNX Runtime TensorRT EP cannot: TensorRT
enables TF32 by default and the EP has no option for it (onnxruntime#26029, #21457). The only
control is the process environment, ``NVIDIA_TF32_OVERRIDE=0``, which NVIDIA's libraries read
when they initialise (later changes are not seen: onnxruntime#26029).

So the bench sets ``NVIDIA_TF32_OVERRIDE=0`` at its start, before any CUDA library is used,
unless the user chose a value; each row then says which it got (:func:`tf32_state`): forced
fp32 with how, or TF32, labelled as such with its own tolerance.
"""

from __future__ import annotations

import os
import sys
from typing import Any

ENV = "NVIDIA_TF32_OVERRIDE"
_set_here: dict[str, bool] = {}  # "late": CUDA was in use already when we set it


def _cuda_in_use() -> bool:
    """Whether torch has created a CUDA context in this process already (without importing
    torch when nothing imported it: then nothing used CUDA through it)."""
    torch = sys.modules.get("torch")
    if torch is None:
        return False
    try:
        return bool(torch.cuda.is_initialized())
    except Exception:  # a torch without CUDA support: nothing can have used CUDA through it
        return False


def disable_tf32_for_this_process() -> None:
    """Set ``NVIDIA_TF32_OVERRIDE=0`` unless the user set the variable (their choice wins and
    is recorded); remembers whether CUDA was already in use, when it may come too late."""
    if ENV in os.environ or _set_here:
        return
    _set_here["late"] = _cuda_in_use()
    os.environ[ENV] = "0"


def tf32_forced_off() -> bool:
    """True when every NVIDIA library of this process runs fp32 matmuls in full fp32."""
    return os.environ.get(ENV) == "0" and not _set_here.get("late", False)


def tf32_state() -> dict[str, Any]:
    """The record's ``tf32`` block: whether TF32 may be used and how that was decided."""
    value = os.environ.get(ENV)
    if tf32_forced_off():
        how = (f"{ENV}=0 set by fairhep bench before any CUDA library was used"
               if _set_here else f"{ENV}=0 set in the environment")
        return {"enabled": False, ENV: value, "how": how}
    if _set_here.get("late"):
        why = f"{ENV}=0 was set after CUDA was first used, too late to take effect"
    elif value is None:
        why = f"{ENV} is not set (TensorRT uses TF32 by default)"
    else:
        why = f"{ENV}={value} in the environment (only 0 disables TF32)"
    return {"enabled": True, ENV: value, "how": why}
