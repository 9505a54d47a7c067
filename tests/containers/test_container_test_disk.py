"""tools/container-test's disk check: a stack whose image build would not fit on the storage's
disk is skipped before it starts, with the need, the free space and the fix (on CI's shared disk
the x86_64-cuda commit once ran out of space 3 minutes in). The need is measured from the
stack's downloaded wheels (their unpacked sizes)."""

from __future__ import annotations

import importlib.machinery
import importlib.util
import shutil
import types
import zipfile
from pathlib import Path
from typing import Any

import pytest

TOOL = Path(__file__).resolve().parents[2] / "tools" / "container-test"


@pytest.fixture
def tool() -> Any:
    loader = importlib.machinery.SourceFileLoader("container_test_tool", str(TOOL))
    spec = importlib.util.spec_from_loader(loader.name, loader)
    assert spec is not None
    module = importlib.util.module_from_spec(spec)
    loader.exec_module(module)
    return module


def _wheel(folder: Path, name: str, members: dict[str, int]) -> None:
    with zipfile.ZipFile(folder / name, "w", zipfile.ZIP_DEFLATED) as z:
        for member, size in members.items():
            z.writestr(member, b"\0" * size)


def test_installed_bytes_are_the_unpacked_sizes_of_the_wheels(tool: Any, tmp_path: Path) -> None:
    _wheel(tmp_path, "a-1.0-py3-none-any.whl", {"a/x.so": 300_000, "a/y.py": 1_000})
    _wheel(tmp_path, "b-2.0-py3-none-any.whl", {"b/z.bin": 50_000})
    (tmp_path / "requirements.txt").write_text("a==1.0\n")  # not a wheel: not counted
    assert tool.installed_bytes(tmp_path) == 351_000
    assert sum(p.stat().st_size for p in tmp_path.glob("*.whl")) < 351_000  # compressed


def test_a_build_that_does_not_fit_is_skipped_with_its_figures(tool: Any, tmp_path: Path,
                                                               monkeypatch: Any) -> None:
    _wheel(tmp_path, "a-1.0-py3-none-any.whl", {"a/x.so": 1_000_000})
    stack = types.SimpleNamespace(id="x86_64-cuda")
    free = shutil.disk_usage(tmp_path).free
    monkeypatch.setattr(tool, "DISK_EXTRA", 0)
    monkeypatch.setattr(tool, "DISK_FACTOR", 2 * free / 1_000_000)  # twice the free space
    with pytest.raises(tool.StackSkipped) as err:
        tool.check_disk(stack, tmp_path, tmp_path)
    said = str(err.value)
    assert said.startswith("x86_64-cuda: not built")
    assert f"{2 * free / 1e9:.1f} GB free on the disk of {tmp_path}" in said
    assert "GB are free; free disk space there or point TMPDIR at a larger disk" in said
    monkeypatch.setattr(tool, "DISK_FACTOR", 4.3)
    monkeypatch.setattr(tool, "DISK_EXTRA", 2_000_000)
    assert tool.check_disk(stack, tmp_path, tmp_path) == 6_300_000
