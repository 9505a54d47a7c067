"""Provenance: everything needed to say where and with what a number was measured.

fairhep version and git state, host, OS, architecture, Python and library versions, CPU,
GPU/driver/CUDA through NVML, container stack/image/digest, Slurm job ids, site, and the
dataset manifest's hash. Nothing here imports a backend: versions come from package metadata.
"""

from __future__ import annotations

import functools
import getpass
import json
import os
import platform
import socket
import subprocess
import sys
from importlib.metadata import PackageNotFoundError, distributions, version
from pathlib import Path
from typing import Any, TypedDict

from fairhep import __version__
from fairhep.data.manifest import sha256_file
from fairhep.data.verify import verify_dataset
from fairhep.errors import DataError

# Library versions worth knowing when comparing two sites.
TRACKED_PACKAGES = (
    "torch", "numpy", "h5py", "onnx", "onnxruntime", "onnxruntime-gpu", "tensorrt",
    "scikit-learn", "scipy", "uproot", "awkward", "nvidia-ml-py",
)
# Families recorded by every distribution present: `tensorrt` is a metapackage, the images
# install tensorrt-cu12 (+ -libs, -bindings), older ones tensorrt_libs / nvidia-tensorrt.
TRACKED_PREFIXES = ("tensorrt", "nvidia-tensorrt")


def _git(args: list[str], cwd: Path) -> str | None:
    try:
        out = subprocess.run(
            ["git", *args], cwd=cwd, capture_output=True, text=True, timeout=5, check=True
        )
    except (OSError, subprocess.SubprocessError):
        return None
    return out.stdout.strip()


class GitState(TypedDict):
    sha: str | None
    dirty: bool | None
    source: str  # "git", "environment" (baked into a container) or "unknown"


class ContainerInfo(TypedDict):
    runtime: str
    stack: str | None
    image: str | None
    image_digest: str | None
    base_image: str | None
    build_overrides: list[str]  # what the image's build changed from its pinned stack


def git_state() -> GitState:
    """Commit and dirty flag of the fairhep source; containers bake them into the environment."""
    if os.environ.get("FAIRHEP_GIT_SHA"):
        return {"sha": os.environ["FAIRHEP_GIT_SHA"], "dirty": False, "source": "environment"}
    src = Path(__file__).resolve().parent
    sha = _git(["rev-parse", "HEAD"], src)
    if not sha:
        return {"sha": None, "dirty": None, "source": "unknown"}
    status = _git(["status", "--porcelain", "--untracked-files=no"], src)
    return {"sha": sha, "dirty": bool(status), "source": "git"}


# aarch64 kernels name no model in /proc/cpuinfo, only the MIDR fields: (implementer, part)
# -> name, for the server cores fairhep may meet (Arm's TRMs; lscpu's table).
ARM_IMPLEMENTERS = {0x41: "ARM", 0x46: "Fujitsu", 0x4E: "NVIDIA", 0x51: "Qualcomm",
                    0x61: "Apple", 0xC0: "Ampere"}
ARM_PARTS = {
    (0x41, 0xD03): "Cortex-A53", (0x41, 0xD07): "Cortex-A57", (0x41, 0xD08): "Cortex-A72",
    (0x41, 0xD0B): "Cortex-A76", (0x41, 0xD0C): "Neoverse-N1", (0x41, 0xD40): "Neoverse-V1",
    (0x41, 0xD49): "Neoverse-N2", (0x41, 0xD4F): "Neoverse-V2", (0x41, 0xD84): "Neoverse-V3",
    (0x41, 0xD8E): "Neoverse-N3", (0x46, 0x001): "A64FX", (0x4E, 0x004): "Carmel",
    (0xC0, 0xAC3): "AmpereOne",
}


def _first_values(text: str) -> dict[str, str]:
    """``key: value`` pairs of a /proc/cpuinfo text, the first occurrence of each key: the
    first processor's block, then the lines after the blocks (ppc64le's machine model)."""
    fields: dict[str, str] = {}
    for line in text.splitlines():
        key, sep, value = line.partition(":")
        if sep:
            fields.setdefault(key.strip().lower(), value.strip())
    return fields


def cpu_model_from_cpuinfo(text: str) -> str | None:
    """The CPU model a /proc/cpuinfo text names: x86_64 "model name", ppc64le "cpu" (with
    the machine model), aarch64 from "CPU implementer" / "CPU part"."""
    f = _first_values(text)
    if f.get("model name"):
        return f["model name"]
    if f.get("cpu"):  # ppc64le: "POWER9, altivec supported"; "model" is the machine type
        machine = f.get("model")
        return f["cpu"] + (f" ({machine})" if machine and machine.strip("0") else "")
    try:
        implementer, part = int(f["cpu implementer"], 16), int(f["cpu part"], 16)
    except (KeyError, ValueError):
        return f.get("hardware") or None
    vendor = ARM_IMPLEMENTERS.get(implementer, f"implementer {implementer:#x}")
    core = ARM_PARTS.get((implementer, part), f"part {part:#05x}")
    return f"{vendor} {core}"


def cpu_model() -> str:
    try:
        found = cpu_model_from_cpuinfo(Path("/proc/cpuinfo").read_text())
    except OSError:
        found = None
    return found or platform.processor() or platform.machine()


def package_versions() -> dict[str, str]:
    found = {}
    for name in TRACKED_PACKAGES:
        try:
            found[name] = version(name)
        except PackageNotFoundError:
            continue
    for dist in distributions():
        name = str(dist.metadata["Name"] or "")
        if name.lower().replace("_", "-").startswith(TRACKED_PREFIXES):
            found.setdefault(name, dist.version)
    return found


def container_info() -> ContainerInfo | None:
    """Apptainer/Singularity or Docker, with the stack and image the container recorded."""
    env = os.environ
    runtime = None
    if env.get("APPTAINER_CONTAINER") or env.get("SINGULARITY_CONTAINER"):
        runtime = "apptainer"
    elif Path("/run/.containerenv").exists():  # Podman marks its containers so
        runtime = "podman"
    elif Path("/.dockerenv").exists() or env.get("FAIRHEP_CONTAINER_RUNTIME") == "docker":
        runtime = "docker"
    if runtime is None and not env.get("FAIRHEP_STACK"):
        return None
    image = (env.get("FAIRHEP_IMAGE") or env.get("APPTAINER_CONTAINER")
             or env.get("SINGULARITY_CONTAINER"))
    digest = env.get("FAIRHEP_IMAGE_DIGEST") or None  # "": the engine could not say
    if digest is None and runtime == "apptainer" and image and Path(image).is_file():
        # Apptainer names the .sif it runs; where that file is visible inside the container,
        # its digest identifies the image even when the job did not pass one.
        digest = _file_digest(image)
    return {
        "runtime": runtime or env.get("FAIRHEP_CONTAINER_RUNTIME", "unknown"),
        "stack": env.get("FAIRHEP_STACK"),
        "image": image,
        "image_digest": digest,
        "base_image": env.get("FAIRHEP_BASE_IMAGE"),
        # Images say "none"; a derived build lists its changes, "; "-separated.
        "build_overrides": [part for part in env.get("FAIRHEP_BUILD_OVERRIDES", "").split("; ")
                            if part and part != "none"],
    }


@functools.lru_cache(maxsize=4)
def _file_digest(path: str) -> str | None:
    try:
        return f"sha256:{sha256_file(Path(path))}"
    except OSError:
        return None


SLURM_VARIABLES = (
    "SLURM_JOB_ID", "SLURM_ARRAY_JOB_ID", "SLURM_ARRAY_TASK_ID", "SLURM_CLUSTER_NAME",
    "SLURM_JOB_PARTITION", "SLURM_JOB_NAME", "SLURM_JOB_NODELIST",
)


def slurm_info() -> dict[str, str] | None:
    found = {k.removeprefix("SLURM_").lower(): os.environ[k]
             for k in SLURM_VARIABLES if k in os.environ}
    return found or None


def collect_provenance(dataset_manifest: Path | None = None) -> dict[str, Any]:
    """Everything needed to say where and with what a number was measured."""
    from fairhep.gpu import gpu_info

    prov: dict[str, Any] = {
        "fairhep_version": __version__,
        "git": git_state(),
        "host": socket.gethostname(),
        "user": _user(),
        "os": platform.platform(),
        "arch": platform.machine(),
        "python": sys.version.split()[0],
        "packages": package_versions(),
        "cpu": cpu_model(),
        "cpu_count": os.cpu_count(),
        "gpu": gpu_info(),
        "container": container_info(),
        "slurm": slurm_info(),
        # Set by the runners from the site configuration; None for ad-hoc runs.
        "site": os.environ.get("FAIRHEP_SITE"),
    }
    if dataset_manifest is not None and dataset_manifest.is_file():
        prov["dataset_manifest"] = str(dataset_manifest)
        try:  # checked by the readers before the work; the data may have changed since
            verify_dataset(dataset_manifest.parent)
        except DataError as exc:  # never name a manifest the data do not match
            prov["dataset_manifest_sha256"] = None
            prov["dataset_mismatch"] = str(exc)
        else:
            prov["dataset_manifest_sha256"] = sha256_file(dataset_manifest)
        generator = dataset_generator(dataset_manifest)
        if generator is not None:
            prov["dataset_generator"] = generator
    return prov


def dataset_generator(manifest: Path) -> dict[str, str] | None:
    """Which generator (and byte version) made a generated dataset; None for real data.
    Manifests written before there were two generators name only the module: that was v1."""
    try:
        raw = json.loads(Path(manifest).read_text())
    except (OSError, ValueError):
        return None
    gen = raw.get("generator") if isinstance(raw, dict) else None
    if not isinstance(gen, dict) or raw.get("origin") != "synthetic":
        return None
    name = gen.get("generator") or ("v1" if gen.get("module") == "fairhep.data.synth" else None)
    if name is None:
        return None
    return {"generator": str(name), "version": str(gen.get("version"))}


def _user() -> str | None:
    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return None


