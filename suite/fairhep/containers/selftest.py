"""Inside a built image: verify the installed versions against ``pins.json``, that ONNX
Runtime has the execution providers the stack needs, and run a tiny forward pass of the
interaction network.

Light imports on purpose: this runs in images with few packages (and Python 3.10, without
tomllib), as the last step of every image build. Outside an image (no ``pins.json`` given or
at :data:`IMAGE_PINS`, no ``FAIRHEP_STACK``) it says so and checks only the forward pass.
"""

from __future__ import annotations

import json
import os
import platform
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from fairhep.errors import ConfigError

# Where every image keeps its pins (fairhep.containers.render copies pins.json there).
IMAGE_PINS = "/opt/fairhep/pins.json"


@dataclass
class SelftestResult:
    stack: str | None
    python: str
    mismatches: list[str]
    absent: dict[str, str]
    forward: dict[str, Any]
    pins: str | None = None  # the pins file checked (None: outside an image)
    overridden: list[str] = field(default_factory=list)  # what the build changed
    providers: list[str] = field(default_factory=list)  # ONNX Runtime's, checked and present
    # CUDA's user-space libraries as loaded into this process (name -> path; None: not found).
    cuda_libraries: dict[str, str | None] = field(default_factory=dict)

    @property
    def in_image(self) -> bool:
        return self.pins is not None

    @property
    def ok(self) -> bool:
        return not self.mismatches and bool(self.forward.get("ok"))

    def to_dict(self) -> dict[str, Any]:
        return {"ok": self.ok, "in_image": self.in_image, "pins": self.pins,
                "stack": self.stack, "python": self.python, "mismatches": self.mismatches,
                "absent": self.absent, "build_overrides": self.overridden,
                "onnxruntime_providers": self.providers,
                "cuda_libraries": self.cuda_libraries, "forward": self.forward}


def version_matches(installed: str, pinned: str) -> bool:
    """PEP 440 ``==``: a pin without a local label (``2.13.0``) also matches a build with one
    (``2.13.0+cpu``), as pip accepted when it installed it."""
    if installed == pinned:
        return True
    return "+" not in pinned and installed.split("+", 1)[0] == pinned


def verify_pins(expected: Mapping[str, Any],
                installed: Callable[[str], str | None] | None = None) -> list[str]:
    """Every way the running environment differs from ``pins.json`` (empty when it matches)."""
    from importlib.metadata import PackageNotFoundError, version

    def _installed(name: str) -> str | None:
        try:
            return version(name)
        except PackageNotFoundError:
            return None

    get = installed or _installed
    problems = []
    py = platform.python_version()
    want_py = str(expected.get("python", ""))
    if want_py and not (py == want_py or py.startswith(want_py + ".")):
        problems.append(f"python {py} (pinned {want_py})")
    arch = expected.get("arch")
    if arch and platform.machine() != arch:
        problems.append(f"architecture {platform.machine()} (pinned {arch})")
    for name, want in expected.get("packages", {}).items():
        got = get(name)
        if got is None:
            problems.append(f"{name} not installed (pinned {want})")
        elif not version_matches(got, want):
            problems.append(f"{name} {got} (pinned {want})")
    return problems


def verify_providers(wanted: list[str]) -> tuple[list[str], list[str]]:
    """(the wanted ONNX Runtime execution providers this build has, one problem per one it
    lacks). Compiled-in providers are listed without a GPU, so this holds on build hosts;
    whether one can start here (a GPU, TensorRT's libraries) is the backends' own check."""
    from fairhep.backends.onnxruntime_backend import (
        compiled_providers,
        onnxruntime_unavailable_reason,
    )

    built = compiled_providers()
    have = [p for p in wanted if p in built]
    missing = onnxruntime_unavailable_reason() or f"onnxruntime has {', '.join(built)}"
    return have, [f"onnxruntime: {p} not in this build ({missing}); the stack needs {p}"
                  for p in wanted if p not in built]


# CUDA's runtime, cuBLAS and cuDNN: what torch's CUDA build and ONNX Runtime's CUDA provider
# load. In the pip stacks they come from the nvidia-*-cu12 packages, in conda stacks from the
# environment; only the driver (libcuda) comes from the host at run time.
CUDA_LIBRARIES = ("libcudart.so", "libcublas.so", "libcudnn.so")


def cuda_libraries() -> dict[str, str | None]:
    """Where this process loaded each of :data:`CUDA_LIBRARIES` from, after ``import torch``
    and ONNX Runtime's preload (no GPU or driver is needed to load them)."""
    from fairhep.backends.onnxruntime_backend import (
        onnxruntime_unavailable_reason,
        preload_cuda_libraries,
    )

    if onnxruntime_unavailable_reason() is None:
        preload_cuda_libraries()
    maps = Path("/proc/self/maps")
    loaded = {line.split()[-1] for line in maps.read_text().splitlines()
              if "/" in line} if maps.is_file() else set()
    found: dict[str, str | None] = {}
    for name in CUDA_LIBRARIES:
        paths = sorted(p for p in loaded if Path(p).name.startswith(name))
        found[name] = paths[0] if paths else None
    return found


def _tiny_forward() -> dict[str, Any]:
    import torch

    from fairhep import schema
    from fairhep.devices import resolve_device
    from fairhep.model import InteractionNetwork

    device = resolve_device("auto")
    torch.manual_seed(0)
    net = InteractionNetwork().to(device).eval()
    tracks = torch.randn(4, *schema.TRACK_SHAPE, device=device)
    svs = torch.randn(4, *schema.SV_SHAPE, device=device)
    with torch.no_grad():
        out = net(tracks, svs)
    ok = tuple(out.shape) == (4, len(schema.CLASSES)) and bool(torch.isfinite(out).all())
    return {"ok": ok, "device": str(device), "shape": list(out.shape),
            "torch": torch.__version__, "torch_cuda": torch.version.cuda}


def default_pins() -> Path | None:
    """The image's own pins file, when this runs in a fairhep image."""
    path = Path(IMAGE_PINS)
    return path if path.is_file() else None


def selftest(pins_path: Path | None) -> SelftestResult:
    """Pins and providers (when given, or found in the image) and a forward pass here."""
    pins_path = pins_path or default_pins()
    expected: dict[str, Any] = {}
    if pins_path is not None:
        try:
            expected = json.loads(Path(pins_path).read_text())
        except (OSError, json.JSONDecodeError) as exc:
            raise ConfigError(f"{pins_path}: not a readable pins file ({exc})") from None
    mismatches = verify_pins(expected) if expected else []
    providers: list[str] = []
    if expected.get("onnxruntime_providers"):
        providers, missing = verify_providers(list(expected["onnxruntime_providers"]))
        mismatches += missing
    forward = _tiny_forward()
    want_cuda = expected.get("torch_cuda", "unset")
    if want_cuda != "unset":
        got = forward.get("torch_cuda")
        wrong_kind = (want_cuda is None) != (got is None)
        if wrong_kind or (want_cuda and not str(got).startswith(want_cuda)):
            mismatches.append(f"torch built for CUDA {got} (pinned {want_cuda})")
    libraries: dict[str, str | None] = {}
    if want_cuda not in ("unset", None):
        libraries = cuda_libraries()
        mismatches += [f"CUDA library {name}* not found in this process after import torch "
                       "and ONNX Runtime's preload" for name, path in libraries.items()
                       if path is None]
    return SelftestResult(
        stack=expected.get("stack") or os.environ.get("FAIRHEP_STACK"),
        python=platform.python_version(), mismatches=mismatches,
        absent=dict(expected.get("absent", {})), forward=forward,
        pins=str(pins_path) if pins_path is not None else None,
        overridden=list(expected.get("build_overrides", [])), providers=providers,
        cuda_libraries=libraries,
    )
