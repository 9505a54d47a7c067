"""Where the installed onnxruntime wheel keeps its C library, for the compiled runtime.

The PyPI wheels (``onnxruntime`` and ``onnxruntime-gpu``) ship
``onnxruntime/capi/libonnxruntime.so.1.NN.0`` (SONAME ``libonnxruntime.so.1``) but no headers
and no ``.so`` link: ``fairhep.fair.cppbuild`` links the C++ runner against this file, so the
compiled program and the Python runtimes run the same ONNX Runtime build.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from fairhep.backends.onnxruntime_backend import _ort, onnxruntime_unavailable_reason


@dataclass(frozen=True)
class OrtLibrary:
    path: Path  # libonnxruntime.so.1.NN.0 (or .dylib / .dll where the wheel has one)
    version: str  # onnxruntime.__version__


def ort_library() -> OrtLibrary | str:
    """The wheel's shared library, or the reason there is none."""
    reason = onnxruntime_unavailable_reason()
    if reason:
        return reason
    ort = _ort()
    capi = Path(ort.__file__).parent / "capi"
    found = sorted(p for pattern in ("libonnxruntime.so*", "libonnxruntime*.dylib",
                                     "onnxruntime.dll")
                   for p in capi.glob(pattern) if "providers" not in p.name)
    if not found:
        return f"onnxruntime: no libonnxruntime shared library in {capi}"
    return OrtLibrary(found[-1], str(ort.__version__))
