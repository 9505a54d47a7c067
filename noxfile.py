"""One test session per container stack, from ``containers/stacks.toml`` alone.

    nox -s "stack(x86_64-cuda)"     # or: make stack-test STACK=x86_64-cuda
    nox -s "stack(ppc64le-cuda)"
    nox -s "stack(x86_64-cpu)"
    nox -l                          # every stack session

Each session builds a virtual environment with the stack's Python minor version and installs
what the image installs, in the same steps (the rendered ``containers/<stack>/requirements.txt``
that ``fairhep containers check`` keeps equal to ``stacks.toml``; fairhep itself with
``--no-deps``; ``pip check`` where the stack runs it), verifies every installed version against
the stack's ``pins.json``, adds the test tools without moving any pin, and runs the test suite
(GPU- and Slurm-marked tests skip as in ``make test``). Arguments after ``--`` go to pytest.

What a session here cannot install is left out and said, never replaced:
- the TensorRT pin: its wheels come only from NVIDIA's index, which these machines cannot
  reach (PyPI lists stub source packages that fetch from there);
- an extra index that does not answer (``--extra-index-url`` lines): the same versions come
  from PyPI or local disk, or the install fails;
- a conda stack's compiler toolchain: its pins are installed as the same versions' PyPI wheels
  for this machine's architecture (the ppc64le stack's Python-level code is what HAL runs).
"""

from __future__ import annotations

import json
import sys
import tempfile
import urllib.error
import urllib.request
from pathlib import Path

import nox

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - nox runs on the developers' 3.11
    import tomli as tomllib

ROOT = Path(__file__).resolve().parent
STACKS = tomllib.loads((ROOT / "containers" / "stacks.toml").read_text())["stacks"]
PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())
# Test tools only: never a package a stack pins (the constraints below keep those fixed).
EXTRAS = PYPROJECT["project"]["optional-dependencies"]
# fairhep's features a stack carries or not (its tests then skip, naming the extra): what the
# `test` extra lists of them is not a test tool; nor is nox itself.
STACK_DECIDES = ("publish", "serve", "loadgen")


def _name(req: str) -> str:
    return req.split(";")[0].split("[")[0].split(">")[0].split("=")[0].split("<")[0].strip()


_FEATURES = {_name(req) for extra in STACK_DECIDES for req in EXTRAS.get(extra, [])}
TEST_TOOLS = [t for t in EXTRAS["test"] if _name(t) not in _FEATURES | {"nox"}]

nox.options.default_venv_backend = "venv"
nox.options.error_on_missing_interpreters = True


def _scratch(session: nox.Session) -> Path:
    """A folder for the session's own files, outside the work tree. (nox's create_tmp would
    also point TMPDIR into .nox/, and the tests' temporary folders with it.)"""
    path = Path(tempfile.gettempdir()) / f"fairhep-nox-{session.name}"
    path.mkdir(exist_ok=True)
    return path


def _python_minor(stack: dict[str, object]) -> str:
    return ".".join(str(stack["python"]).split(".")[:2])


def _reachable(url: str) -> bool:
    try:
        with urllib.request.urlopen(url.rstrip("/") + "/", timeout=10):
            return True
    except urllib.error.HTTPError:
        return True  # it answered
    except (urllib.error.URLError, OSError):
        return False


def _requirements(session: nox.Session, sid: str, stack: dict[str, object],
                  pins: dict[str, object]) -> tuple[list[str], list[str]]:
    """(pip install arguments, what was left out and why) for one stack."""
    left_out: list[str] = []
    trt = f"{stack.get('tensorrt_package', 'tensorrt')}=={stack['tensorrt']}"
    if stack["installer"] == "conda":
        # The conda pins as the same versions' wheels; fairhep's absent extras stay absent.
        packages = dict(pins["packages"])  # type: ignore[call-overload]
        specs = [f"{name}=={ver}" for name, ver in sorted(packages.items())]
        left_out.append(f"conda: the pins are installed from PyPI wheels for this machine "
                        f"(the image takes them from {', '.join(stack['conda']['channels'])})")  # type: ignore[index]
        return specs, left_out
    lines = (ROOT / "containers" / sid / "requirements.txt").read_text().splitlines()
    kept: list[str] = []
    for line in lines:
        if not line.strip() or line.startswith("#"):
            continue
        if line.startswith("--extra-index-url"):
            url = line.split(None, 1)[1]
            if not _reachable(url):
                left_out.append(f"extra index {url}: does not answer here")
                continue
        elif line == trt:
            left_out.append(f"{trt}: TensorRT's wheels come only from NVIDIA's index "
                            "(PyPI has stubs that fetch from there), unreachable here")
            continue
        kept.append(line)
    req = _scratch(session) / "requirements.txt"
    req.write_text("\n".join(kept) + "\n")
    return ["-r", str(req)], left_out


VERIFY = ("import json, sys; from fairhep.containers.selftest import verify_pins; "
          "bad = verify_pins(json.load(open(sys.argv[1]))); "
          "print(*(f'pin mismatch: {b}' for b in bad), sep='\\n') if bad else "
          "print('pins: every version as pinned'); sys.exit(1 if bad else 0)")


def _verify(session: nox.Session, pins: dict[str, object], leave: set[str]) -> None:
    """Every pinned version installed, as ``containers selftest`` checks in the image
    (its architecture and CUDA checks belong to the image, not to this machine)."""
    packages = {k: v for k, v in pins["packages"].items()  # type: ignore[attr-defined]
                if k not in leave}
    expected = _scratch(session) / "expected-pins.json"
    # The Python minor version: wheels are built per minor (the image's patch release may
    # differ from this machine's).
    minor = ".".join(str(pins["python"]).split(".")[:2])
    expected.write_text(json.dumps({"python": minor, "packages": packages}))
    session.run("python", "-c", VERIFY, str(expected))


def _stack_session(sid: str, stack: dict[str, object]) -> None:
    @nox.session(name=f"stack({sid})", python=_python_minor(stack))
    def session(session: nox.Session) -> None:
        pins = json.loads((ROOT / "containers" / sid / "pins.json").read_text())
        args, left_out = _requirements(session, sid, stack, pins)
        for why in left_out:
            session.log(f"left out: {why}")
        session.install("--upgrade", "pip")
        session.install(*args)
        session.install("--no-deps", str(ROOT))
        if stack.get("pip_check", True):
            session.run("python", "-m", "pip", "check")
        leave = {str(stack.get("tensorrt_package", "tensorrt"))}
        _verify(session, pins, leave)
        # The test tools, with every installed version held where the stack put it.
        frozen = _scratch(session) / "installed.txt"
        freeze = session.run("python", "-m", "pip", "freeze", "--exclude", "fairhep",
                             silent=True)
        frozen.write_text(str(freeze))
        session.install("-c", str(frozen), *TEST_TOOLS)
        _verify(session, pins, leave)
        session.run("python", "-c", "import sys, torch, numpy; "
                    "print(f'stack {sys.argv[1]}: python', sys.version.split()[0], "
                    "'torch', torch.__version__, 'numpy', numpy.__version__)", sid)
        session.run("python", "-m", "pytest", "-p", "no:cacheprovider", *session.posargs,
                    env={"FAIRHEP_TEST_STACK": sid})


for _sid, _stack in STACKS.items():
    _stack_session(_sid, _stack)
