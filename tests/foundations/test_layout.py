"""The package's layout says what it holds: no exported name hides a submodule or renames a
function on export, and docs/architecture.md names every module."""

from __future__ import annotations

import fnmatch
import importlib
import inspect
import pkgutil
import re
import types
from collections.abc import Iterator
from pathlib import Path

import pytest

import fairhep
from fairhep.configfile import read_toml

PACKAGE = Path(fairhep.__file__).parent


def _packages() -> Iterator[types.ModuleType]:
    yield fairhep
    for info in pkgutil.walk_packages(fairhep.__path__, "fairhep."):
        if info.ispkg:
            yield importlib.import_module(info.name)


def test_no_name_shadows_a_submodule() -> None:
    # `from .study import lrp` in a package that has a module `lrp` rebinds the attribute:
    # `import fairhep.xai.lrp as m` then gives the function.
    shadowed = []
    for pkg in _packages():
        for sub in pkgutil.iter_modules(pkg.__path__):
            if sub.name == "__main__":
                continue  # running it is the CLI; nothing imports it
            try:
                importlib.import_module(f"{pkg.__name__}.{sub.name}")
            except ModuleNotFoundError as exc:
                if (exc.name or "").split(".")[0] == "fairhep":
                    raise
                continue  # an optional dependency a stack leaves out (mlserver on ppc64le)
            except TypeError as exc:
                # MLServer and tritonclient.grpc register the same protobuf package: one
                # process holds one of them (see fair/serve.py), and an earlier test loaded the
                # other.
                if "duplicate symbol" not in str(exc):
                    raise
                continue
            if not isinstance(getattr(pkg, sub.name), types.ModuleType):
                shadowed.append(f"{pkg.__name__}.{sub.name}")
    assert shadowed == []


def test_exported_functions_keep_their_names() -> None:
    # `from .study import rna as rna_study` hides that two functions share a name.
    renamed = []
    for pkg in _packages():
        for name in getattr(pkg, "__all__", ()):
            obj = getattr(pkg, name)
            if (inspect.isfunction(obj) or inspect.isclass(obj)) and obj.__name__ != name:
                renamed.append(f"{pkg.__name__}.{name} is {obj.__module__}.{obj.__name__}")
    assert renamed == []


def test_xai_submodules_are_modules() -> None:
    import fairhep.xai.lrp as lrp_module

    assert isinstance(lrp_module, types.ModuleType)
    assert hasattr(lrp_module, "lrp_study")


@pytest.mark.parametrize("name", ["run_mask", "run_lrp", "run_rna", "run_ablation"])
def test_xai_studies_are_exported_once(name: str) -> None:
    from fairhep import xai
    from fairhep.xai import study

    assert getattr(xai, name) is getattr(study, name)


ARCHITECTURE = Path(__file__).parents[2] / "docs" / "architecture.md"
PYPROJECT = Path(__file__).parents[2] / "pyproject.toml"


def _section(heading: str) -> str:
    text = ARCHITECTURE.read_text()
    start = text.index(f"\n## {heading}\n")
    end = text.find("\n## ", start + 1)
    return text[start:end if end != -1 else None]


def test_module_map_names_every_module() -> None:
    named = set(re.findall(r"`([\w/]+\.py)`", _section("Module map")))
    modules = {p.relative_to(PACKAGE).as_posix() for p in PACKAGE.rglob("*.py")}
    assert sorted(modules - named) == [], (
        f"{ARCHITECTURE}: add these modules to the module map (path relative to suite/fairhep)")
    assert sorted(named - modules) == [], f"{ARCHITECTURE}: the module map names no such module"


def test_layer_table_is_the_import_contract() -> None:
    # The doc once said train and evaluate were independent while train imported evaluate:
    # its rows are the import-linter layers (which lint-imports checks), row for row.
    contracts = read_toml(PYPROJECT)["tool"]["importlinter"]["contracts"]
    (layers,) = [c["layers"] for c in contracts if c["type"] == "layers"]
    contract = [{name.strip() for name in row.split("|")} for row in layers]
    rows = [line.split("|")[2] for line in _section("Import layers").splitlines()
            if line.startswith("| ") and not line.startswith("| layer ")]
    documented = [set(re.findall(r"`(\w+)`", cell)) for cell in rows]
    assert documented == contract


def test_every_tool_script_is_linted_and_type_checked() -> None:
    # The scripts have no .py suffix: `ruff check tools` and mypy once found no file there.
    tools = PYPROJECT.parent / "tools"
    scripts = sorted(p.name for p in tools.iterdir()
                     if p.is_file() and "python" in p.read_text().partition("\n")[0])
    assert scripts
    config = read_toml(PYPROJECT)["tool"]
    included = config["ruff"]["extend-include"]
    assert all(any(fnmatch.fnmatch(f"tools/{s}", g) for g in included) for s in scripts)
    mypy = config["mypy"]
    assert sorted(f for f in mypy["files"] if f.startswith("tools/")) == [
        f"tools/{s}" for s in scripts]
    (strict,) = [o for o in mypy["overrides"] if "fairhep.*" in o["module"]]
    assert set(scripts) <= set(strict["module"]) and strict["disallow_untyped_defs"] is True
    assert "tests" in mypy["files"]
