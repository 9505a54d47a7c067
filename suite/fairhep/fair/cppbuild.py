"""Building the compiled runtime: the C++ runner in ``fair/cpp`` with CMake, linked against
the onnxruntime wheel's library.

The wheel ships the library but no headers, and Debian 12 has no onnxruntime package; Debian
13 (trixie) has ``libonnxruntime-dev`` (the C and C++ API headers, 85 KB). The header is
fetched at build time, never committed: ``apt-get download`` with a temporary sources list
for trixie and its own apt state and cache (the system's apt state is not touched), then
``dpkg-deb -x`` into the build folder. Its runtime library package is not used (it needs a
newer glibc): the program links the wheel's ``libonnxruntime.so.1.NN.0`` through two links in
the build folder, found again at run time through the rpath. An API-21 header works with
newer libraries (``GetApi(21)`` is backward compatible).

Headers already on the machine are used first: ``$FAIRHEP_ORT_INCLUDE`` (a folder holding
``onnxruntime_cxx_api.h``), then the system's include folders. Builds are cached by the
sources, the library and the header, under ``<cache>/cpp-runner/``.
"""

from __future__ import annotations

import hashlib
import os
import re
import shutil
import subprocess
import tempfile
from collections.abc import Callable
from importlib import resources
from pathlib import Path

from fairhep.backends.ort_library import OrtLibrary, ort_library
from fairhep.errors import BackendUnavailable
from fairhep.writable import exclusive

HEADER = "onnxruntime_cxx_api.h"
DEB_PACKAGE = "libonnxruntime-dev"
DEB_SUITE = "trixie"
INCLUDE_ENV = "FAIRHEP_ORT_INCLUDE"
PROGRAM = "fairhep-ort-runner"
SOURCES = ("CMakeLists.txt", "fairhep_ort_runner.cpp")
SYSTEM_INCLUDES = ("/usr/include/onnxruntime", "/usr/local/include/onnxruntime",
                   "/usr/local/include", "/opt/onnxruntime/include")
DEFAULT_MIRROR = "http://deb.debian.org/debian"


class CompiledUnavailable(BackendUnavailable):
    """The compiled runtime cannot be built here; the message is the reason."""


def source_dir() -> Path:
    """The C++ runner's sources, shipped inside the package (also in an installed wheel)."""
    return Path(str(resources.files("fairhep.fair") / "cpp"))


def _tail(text: str, n: int = 2) -> str:
    lines = [ln.strip() for ln in text.strip().splitlines() if ln.strip()]
    return " | ".join(lines[-n:]) or "no output"


def _run(cmd: list[str], what: str, timeout: float, cwd: Path | None = None) -> str:
    try:
        out = subprocess.run(cmd, cwd=cwd, capture_output=True, text=True, timeout=timeout,
                             check=False)
    except FileNotFoundError:
        raise CompiledUnavailable(f"cpp: {cmd[0]} not found ({what})") from None
    except subprocess.TimeoutExpired:
        raise CompiledUnavailable(f"cpp: {what} took over {timeout:.0f} s") from None
    if out.returncode != 0:
        raise CompiledUnavailable(f"cpp: {what} failed ({_tail(out.stderr or out.stdout)})")
    return out.stdout


def debian_mirror() -> str:
    """The Debian mirror the machine's apt sources use (the trixie index comes from it)."""
    paths = [Path("/etc/apt/sources.list"), *sorted(Path("/etc/apt/sources.list.d").glob("*"))]
    texts = [p.read_text(errors="replace") for p in paths
             if p.suffix in ("", ".list", ".sources") and p.is_file()]
    found = re.findall(r"(https?://\S+/debian)/?(?:\s|$)", "\n".join(texts))
    return str(found[0]) if found else DEFAULT_MIRROR


def _installed_headers() -> Path | None:
    env = os.environ.get(INCLUDE_ENV)
    if env:
        if not (Path(env) / HEADER).is_file():
            raise CompiledUnavailable(f"cpp: ${INCLUDE_ENV}={env} has no {HEADER}; point it at "
                                      "the folder holding the ONNX Runtime C++ API headers")
        return Path(env)
    return next((Path(d) for d in SYSTEM_INCLUDES if (Path(d) / HEADER).is_file()), None)


def fetch_headers(into: Path) -> Path:
    """Download and unpack Debian trixie's ``libonnxruntime-dev`` into ``into``; return the
    folder with the headers (already there: nothing is downloaded)."""
    include = into / "usr" / "include" / "onnxruntime"
    if (include / HEADER).is_file():
        return include
    if shutil.which("apt-get") is None or shutil.which("dpkg-deb") is None:
        raise CompiledUnavailable(f"cpp: no {HEADER} on this machine and no apt-get/dpkg-deb "
                                  f"to fetch it; set ${INCLUDE_ENV} to a folder holding it")
    with tempfile.TemporaryDirectory(prefix="fairhep-ort-headers-") as tmp:
        state = Path(tmp)
        for sub in ("lists/partial", "cache/archives/partial", "sources"):
            (state / sub).mkdir(parents=True)
        (state / "sources" / f"{DEB_SUITE}.sources").write_text(
            f"Types: deb\nURIs: {debian_mirror()}\nSuites: {DEB_SUITE}\nComponents: main\n"
            "Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg\n")
        apt = ["apt-get", "-q", "-o", "Dir::Etc::SourceList=/dev/null",
               "-o", f"Dir::Etc::SourceParts={state / 'sources'}",
               "-o", f"Dir::State::Lists={state / 'lists'}",
               "-o", f"Dir::Cache={state / 'cache'}", "-o", "Debug::NoLocking=1",
               "-o", "APT::Sandbox::User=root" if os.geteuid() == 0 else "Quiet=1"]
        _run([*apt, "update"], f"apt-get update of Debian {DEB_SUITE}'s index", 600)
        _run([*apt, "download", DEB_PACKAGE], f"apt-get download {DEB_PACKAGE}", 300, cwd=state)
        debs = sorted(state.glob(f"{DEB_PACKAGE}_*.deb"))
        if not debs:
            raise CompiledUnavailable(f"cpp: apt-get download {DEB_PACKAGE} left no .deb")
        staging = into.with_name(into.name + ".tmp")
        shutil.rmtree(staging, ignore_errors=True)
        staging.parent.mkdir(parents=True, exist_ok=True)
        _run(["dpkg-deb", "-x", str(debs[-1]), str(staging)], f"dpkg-deb -x {debs[-1].name}", 60)
        (staging / "deb.txt").write_text(debs[-1].name + "\n")
        shutil.rmtree(into, ignore_errors=True)
        staging.replace(into)
    if not (include / HEADER).is_file():
        raise CompiledUnavailable(f"cpp: {DEB_PACKAGE} from {DEB_SUITE} has no {HEADER}")
    return include


def _library() -> OrtLibrary:
    lib = ort_library()
    if isinstance(lib, str):
        raise CompiledUnavailable(f"cpp: needs the onnxruntime library ({lib})")
    return lib


def unavailable_reason() -> str | None:
    """Why the runner cannot be built here, cheaply (no download, no compiler run)."""
    for tool in ("cmake", "c++"):
        if shutil.which(tool) is None:
            return f"cpp: no {tool} on this machine (install cmake and a C++ compiler)"
    lib = ort_library()
    return f"cpp: needs the onnxruntime library ({lib})" if isinstance(lib, str) else None


def build_runner(cache_dir: Path, log: Callable[[str], None] | None = None) -> Path:
    """The runner's executable, configured and built with CMake on first use; returns its
    path. Raises :class:`CompiledUnavailable` with the reason when it cannot be built.
    ``log`` hears what takes time (the header download, the compile) before it starts."""
    say = log or (lambda _: None)
    reason = unavailable_reason()
    if reason:
        raise CompiledUnavailable(reason)
    lib = _library()
    root = Path(cache_dir) / "cpp-runner"
    root.mkdir(parents=True, exist_ok=True)
    # Two validations at once share the header staging and the build folder: one builds, the
    # other waits and finds the program.
    with exclusive(root / "build.lock", "C++ runner build", "", wait=True):
        return _build(root, lib, say)


def _build(root: Path, lib: OrtLibrary, say: Callable[[str], None]) -> Path:
    include = _installed_headers()
    if include is None:
        if not (root / "ort-headers" / "deb.txt").is_file():
            say(f"cpp: fetching the ONNX Runtime C++ header ({DEB_PACKAGE}, Debian {DEB_SUITE})"
                f" into {root / 'ort-headers'}")
        include = fetch_headers(root / "ort-headers")
    src = source_dir()
    key = hashlib.sha256()
    for name in SOURCES:
        key.update((src / name).read_bytes())
    key.update(f"{lib.path}\0{lib.version}\0{include}".encode())
    build = root / f"build-{key.hexdigest()[:16]}"
    program = build / PROGRAM
    if program.is_file():
        return program
    say(f"cpp: building {PROGRAM} with CMake in {build} (first use)")
    libdir = build / "lib"
    libdir.mkdir(parents=True, exist_ok=True)
    for link in ("libonnxruntime.so", "libonnxruntime.so.1"):
        (libdir / link).unlink(missing_ok=True)
        (libdir / link).symlink_to(lib.path)
    _run(["cmake", "-S", str(src), "-B", str(build / "cmake"), "-DCMAKE_BUILD_TYPE=Release",
          f"-DORT_INCLUDE_DIR={include}", f"-DORT_LIBRARY={libdir / 'libonnxruntime.so'}"],
         "cmake configure", 300)
    _run(["cmake", "--build", str(build / "cmake"), "--parallel", "2"], "cmake --build", 600)
    built = build / "cmake" / PROGRAM
    if not built.is_file():
        raise CompiledUnavailable(f"cpp: cmake --build made no {PROGRAM} in {build / 'cmake'}")
    shutil.copy2(built, program.with_name(PROGRAM + ".tmp"))
    program.with_name(PROGRAM + ".tmp").replace(program)
    return program
