"""Building the compiled runtime: the C++ runner in ``fair/cpp`` with CMake, linked against
the onnxruntime wheel's library.

The wheel ships the library but no headers, and Debian 12 has no onnxruntime package; Debian
13 (trixie) has ``libonnxruntime-dev`` (the C and C++ API headers, 85 KB). The header is
fetched at build time, never committed: ``apt-get download`` with a temporary sources list
for trixie and its own apt state and cache (the system's apt state is not touched), then
``dpkg-deb -x`` into the build folder. Its runtime library package is not used (it needs a
newer glibc): the program links the wheel's ``libonnxruntime.so.1.NN.0``, which
``CMakeLists.txt`` links in the build folder under its SONAME (``libonnxruntime.so.1``) and
finds again at run time through the rpath. An API-21 header works with
newer libraries (``GetApi(21)`` is backward compatible).

The header source is pinned: ``libonnxruntime-dev`` :data:`DEB_VERSION` with its sha256
(:data:`DEB_SHA256`). Off-line, give that .deb as a file (``$FAIRHEP_ORT_HEADERS_DEB``): it is
checked and unpacked, nothing is fetched. Headers already on the machine are used first:
``$FAIRHEP_ORT_INCLUDE`` (a folder holding ``onnxruntime_cxx_api.h``), then the system's
include folders. The download is the fallback, and says what it fetches before it starts.
Builds are cached by the sources, the library and the header, under ``<cache>/cpp-runner/``.
"""

from __future__ import annotations

import hashlib
import os
import platform
import re
import shutil
import subprocess
import tempfile
from collections.abc import Callable
from importlib import resources
from pathlib import Path
from typing import Any

from fairhep.backends.ort_library import OrtLibrary, ort_library
from fairhep.errors import BackendUnavailable
from fairhep.writable import exclusive

HEADER = "onnxruntime_cxx_api.h"
DEB_PACKAGE = "libonnxruntime-dev"
DEB_SUITE = "trixie"
# The one header source fairhep fetches, pinned: Debian trixie's package (MIT, the headers of
# ONNX Runtime 1.21; API 21 works with newer libraries). What `--ort-headers FILE` accepts.
DEB_VERSION = "1.21.0+dfsg-1"
DEB_SHA256 = {
    "libonnxruntime-dev_1.21.0+dfsg-1_amd64.deb":
        "14f7d959d5deacbcf1504830d4189f91fc67382b399ed9ae9d3aa9c4050ced08",
}
DEB_ARCHES = {"x86_64": "amd64", "aarch64": "arm64", "ppc64le": "ppc64el"}
INCLUDE_ENV = "FAIRHEP_ORT_INCLUDE"
DEB_ENV = "FAIRHEP_ORT_HEADERS_DEB"  # the pinned .deb as a file: the off-line header source
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


def deb_name(arch: str | None = None) -> str:
    """The pinned .deb's file name for this machine's architecture."""
    arch = arch or DEB_ARCHES.get(platform.machine(), platform.machine())
    return f"{DEB_PACKAGE}_{DEB_VERSION.replace(':', '%3a')}_{arch}.deb"


def unpack_headers(deb: Path, into: Path, apt_checked: bool = False) -> Path:
    """Check ``deb`` against the pinned sha256 and unpack it into ``into``; return the folder
    with the headers. The off-line path: the .deb given as a file (``--ort-headers``). An
    architecture without a pinned sha256 is accepted only as apt downloaded it
    (``apt_checked``: apt verified it against Debian's signed index)."""
    if not deb.is_file():
        raise CompiledUnavailable(f"cpp: {deb}: no such file; give the {DEB_PACKAGE} "
                                  f"{DEB_VERSION} .deb ({deb_name()})")
    digest = hashlib.sha256(deb.read_bytes()).hexdigest()
    want = DEB_SHA256.get(deb.name)
    if (want is None and not apt_checked) or (want is not None and digest != want):
        pinned = ", ".join(f"{n} sha256 {h}" for n, h in DEB_SHA256.items())
        raise CompiledUnavailable(f"cpp: {deb}: sha256 {digest[:16]}... is not the pinned "
                                  f"{DEB_PACKAGE} {DEB_VERSION} ({pinned}); give that file")
    include = into / "usr" / "include" / "onnxruntime"
    if (include / HEADER).is_file() and (into / "deb.txt").read_text().strip() == deb.name:
        return include
    if shutil.which("dpkg-deb") is None:
        raise CompiledUnavailable(f"cpp: no dpkg-deb to unpack {deb.name}; unpack it by hand "
                                  f"(ar x, then tar xf data.tar.*) and set ${INCLUDE_ENV}")
    staging = into.with_name(into.name + ".tmp")
    shutil.rmtree(staging, ignore_errors=True)
    staging.parent.mkdir(parents=True, exist_ok=True)
    _run(["dpkg-deb", "-x", str(deb), str(staging)], f"dpkg-deb -x {deb.name}", 60)
    (staging / "deb.txt").write_text(deb.name + "\n")
    shutil.rmtree(into, ignore_errors=True)
    staging.replace(into)
    if not (include / HEADER).is_file():
        raise CompiledUnavailable(f"cpp: {deb.name} has no {HEADER}")
    return include


def download_deb(into: Path) -> Path:
    """``apt-get download`` the pinned .deb from Debian trixie into ``into`` (the machine's
    apt state untouched); its sha256 is checked by :func:`unpack_headers`."""
    if shutil.which("apt-get") is None:
        raise CompiledUnavailable(f"cpp: no {HEADER} on this machine and no apt-get to fetch "
                                  f"{deb_name()}; give the file with --ort-headers or set "
                                  f"${INCLUDE_ENV} to a folder holding the header")
    into.mkdir(parents=True, exist_ok=True)
    if (into / deb_name()).is_file():
        return into / deb_name()
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
        _run([*apt, "download", f"{DEB_PACKAGE}={DEB_VERSION}"],
             f"apt-get download {DEB_PACKAGE}={DEB_VERSION}", 300, cwd=state)
        debs = sorted(state.glob(f"{DEB_PACKAGE}_*.deb"))
        if not debs:
            raise CompiledUnavailable(f"cpp: apt-get download {DEB_PACKAGE} left no .deb")
        shutil.move(str(debs[-1]), into / debs[-1].name)
        return into / debs[-1].name


def fetch_headers(into: Path, deb: Path | None = None) -> Path:
    """The headers of the pinned ``libonnxruntime-dev``, unpacked into ``into``: from ``deb``
    (a file path: off-line) or, without one, downloaded from Debian trixie (already there:
    nothing is downloaded)."""
    include = into / "usr" / "include" / "onnxruntime"
    if deb is None and (include / HEADER).is_file():
        return include
    if deb is not None:
        return unpack_headers(deb, into)
    return unpack_headers(download_deb(into.parent / "debs"), into, apt_checked=True)


def local_headers(cache_dir: Path | None = None) -> Path | None:
    """A folder with the header already on this machine (``$FAIRHEP_ORT_INCLUDE``, the
    system's, or an earlier fetch under ``cache_dir``), or None; never downloads."""
    found = _installed_headers()
    if found is None and cache_dir is not None:
        cached = Path(cache_dir) / "cpp-runner" / "ort-headers" / "usr" / "include" / "onnxruntime"
        found = cached if (cached / HEADER).is_file() else None
    return found


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
    deb = os.environ.get(DEB_ENV)
    if include is None and deb:
        include = fetch_headers(root / "ort-headers", Path(deb))
    elif include is None:
        if not (root / "ort-headers" / "deb.txt").is_file():
            pin = DEB_SHA256.get(deb_name())
            say(f"cpp: fetching the ONNX Runtime C++ header: {DEB_PACKAGE} {DEB_VERSION} "
                f"({deb_name()}, sha256 {pin or 'checked by apt'}) from Debian {DEB_SUITE} at "
                f"{debian_mirror()} into {root / 'ort-headers'}; off-line, set ${DEB_ENV} to "
                "that file")
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
    # The wheel's libonnxruntime.so.1.NN.0 as it is: CMakeLists.txt links it under its SONAME.
    _run(["cmake", "-S", str(src), "-B", str(build / "cmake"), "-DCMAKE_BUILD_TYPE=Release",
          f"-DORT_INCLUDE_DIR={include}", f"-DORT_LIBRARY={lib.path}"],
         "cmake configure", 300)
    _run(["cmake", "--build", str(build / "cmake"), "--parallel", "2"], "cmake --build", 600)
    built = build / "cmake" / PROGRAM
    if not built.is_file():
        raise CompiledUnavailable(f"cpp: cmake --build made no {PROGRAM} in {build / 'cmake'}")
    shutil.copy2(built, program.with_name(PROGRAM + ".tmp"))
    program.with_name(PROGRAM + ".tmp").replace(program)
    return program


BUNDLE_CPP = "cpp"
BUNDLE_INCLUDE = "include"


def write_bundle_sources(into: Path, cache_dir: Path | None = None) -> dict[str, Any]:
    """The runner's sources and CMake file into a bundle's ``cpp/`` folder, with the ONNX
    Runtime headers in ``cpp/include/`` when this machine already has them (never fetched
    for this; the .deb's copyright file travels with them). Returns what was written."""
    into.mkdir(parents=True)
    for name in SOURCES:
        shutil.copyfile(source_dir() / name, into / name)
    headers = local_headers(cache_dir)
    shipped: dict[str, Any] = {"sources": list(SOURCES), "headers": None}
    if headers is not None:
        shutil.copytree(headers, into / BUNDLE_INCLUDE)
        copyright_file = headers.parents[1] / "share" / "doc" / DEB_PACKAGE / "copyright"
        if copyright_file.is_file():
            shutil.copyfile(copyright_file, into / BUNDLE_INCLUDE / "COPYRIGHT")
        deb = headers.parents[2] / "deb.txt"
        shipped["headers"] = (deb.read_text().strip() if deb.is_file()
                              else f"the headers of {headers}")
    shipped["deb"] = {"package": DEB_PACKAGE, "version": DEB_VERSION, "suite": DEB_SUITE,
                      "file": deb_name(), "sha256": DEB_SHA256.get(deb_name())}
    return shipped
