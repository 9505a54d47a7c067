"""Finding TensorRT's shared libraries, whatever was imported first.

The pip wheels (``tensorrt-cu12`` → ``tensorrt-cu12-libs``) keep ``libnvinfer.so.10`` inside
site-packages (the ``tensorrt_libs`` package), where the system loader never looks: ``import
tensorrt`` loads them by full path, and ONNX Runtime's TensorRT provider library then finds
them already loaded. Without that import first, the provider library cannot be loaded and the
session silently falls back to CUDA (onnxruntime#18597, #13501). :func:`load_tensorrt_libraries`
does what ``import tensorrt`` does, without importing it: first the system loader
(``LD_LIBRARY_PATH``, the ldconfig cache), then the wheel's directory, loading the libraries
globally so that later ``dlopen`` calls resolve them by soname. When both fail it keeps the
loader's own message, which is what a user needs to fix it.
"""

from __future__ import annotations

import contextlib
import ctypes
import functools
import importlib.util
import os
import re
from dataclasses import dataclass
from pathlib import Path

SONAMES = ("libnvinfer.so.10", "libnvinfer.so.8")
# Where the pip wheels put the libraries: tensorrt_libs (TensorRT >= 8.6), tensorrt (older).
LIB_PACKAGES = ("tensorrt_libs", "tensorrt")
# Loaded after libnvinfer (they depend on it), as `import tensorrt` loads them.
COMPANIONS = ("libnvinfer_plugin.so.*", "libnvonnxparser.so.*")
_MAIN = re.compile(r"^libnvinfer\.so\.\d+$")
# What an image's build changed (fairhep.containers.render sets it; "; "-separated lines).
BUILD_OVERRIDES_ENV = "FAIRHEP_BUILD_OVERRIDES"


def left_out_of_image() -> str | None:
    """Why TensorRT is missing when this image was built without it on purpose
    (``--build-arg tensorrt-cu12=none`` where NVIDIA's index could not be reached)."""
    for line in os.environ.get(BUILD_OVERRIDES_ENV, "").split("; "):
        if line.startswith("tensorrt") and "left out by override" in line:
            return f"TensorRT: left out by override of this image's build ({line})"
    return None


@dataclass(frozen=True)
class TensorRTLibraries:
    """Where libnvinfer was loaded from and its version, or why it could not be loaded."""

    path: str | None = None  # a soname when the system loader found it, else the full path
    version: str | None = None
    error: str | None = None

    def as_dict(self) -> dict[str, str | None]:
        return {"path": self.path, "version": self.version, "error": self.error}


def decode_version(value: int) -> str:
    """``getInferLibVersion()``: (MAJOR*100 + MINOR)*100 + PATCH from TensorRT 10 on,
    MAJOR*1000 + MINOR*100 + PATCH before."""
    if value >= 100_000:
        return f"{value // 10_000}.{value // 100 % 100}.{value % 100}"
    return f"{value // 1000}.{value // 100 % 10}.{value % 100}"


def _version(lib: ctypes.CDLL) -> str | None:
    try:
        fn = lib.getInferLibVersion
    except AttributeError:
        return None
    fn.restype = ctypes.c_int32
    return decode_version(int(fn()))


def package_lib_dirs() -> list[Path]:
    """The wheels' library directories, found without importing (or running) the packages."""
    dirs: list[Path] = []
    for name in LIB_PACKAGES:
        try:
            spec = importlib.util.find_spec(name)
        except (ImportError, ValueError):
            continue
        locations = (spec.submodule_search_locations or []) if spec else []
        dirs += [Path(p) for p in locations if Path(p).is_dir()]
    return dirs


@functools.cache
def load_tensorrt_libraries() -> TensorRTLibraries:
    """Load libnvinfer (and its plugin and parser libraries) globally, once per process."""
    errors: list[str] = []
    for soname in SONAMES:
        try:
            lib = ctypes.CDLL(soname, mode=ctypes.RTLD_GLOBAL)
        except OSError as exc:
            errors.append(str(exc))
            continue
        return TensorRTLibraries(soname, _version(lib))
    searched = package_lib_dirs()
    for directory in searched:
        for path in sorted(p for p in directory.iterdir() if _MAIN.match(p.name)):
            try:
                lib = ctypes.CDLL(str(path), mode=ctypes.RTLD_GLOBAL)
            except OSError as exc:
                errors.append(str(exc))
                continue
            for pattern in COMPANIONS:
                for companion in sorted(directory.glob(pattern)):
                    # One that does not load is named by ONNX Runtime's own error, which
                    # the session (no fallback) raises and the row records.
                    with contextlib.suppress(OSError):
                        ctypes.CDLL(str(companion), mode=ctypes.RTLD_GLOBAL)
            return TensorRTLibraries(str(path), _version(lib))
    where = ", ".join(str(d) for d in searched) or f"no {'/'.join(LIB_PACKAGES)} package"
    return TensorRTLibraries(error=f"{'; '.join(dict.fromkeys(errors))} (searched the system "
                             f"loader path and {where}; install tensorrt-cu12-libs or put "
                             "its directory on LD_LIBRARY_PATH)")
