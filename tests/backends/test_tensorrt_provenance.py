"""TensorRT in provenance: the distributions actually installed (tensorrt is a metapackage;
the images install tensorrt-cu12 with its -libs and -bindings), read from package metadata
without importing tensorrt."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from fairhep.results.provenance import collect_provenance, package_versions

WHEELS = {  # what `pip install tensorrt-cu12==10.9.0.34` leaves in site-packages
    "tensorrt_cu12": "10.9.0.34",
    "tensorrt_cu12_libs": "10.9.0.34",
    "tensorrt_cu12_bindings": "10.9.0.34",
}


@pytest.fixture
def tensorrt_wheels_installed(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A site directory holding the wheels' dist-info metadata (no code: nothing to import)."""
    for name, version in WHEELS.items():
        info = tmp_path / f"{name}-{version}.dist-info"
        info.mkdir()
        (info / "METADATA").write_text(
            f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    return tmp_path


def test_records_name_every_tensorrt_distribution_present(tensorrt_wheels_installed):
    found = package_versions()
    for name, version in WHEELS.items():
        assert found[name] == version
    assert "tensorrt" not in sys.modules  # read from metadata, never imported
    assert {k: v for k, v in collect_provenance()["packages"].items()
            if k.startswith("tensorrt")} == WHEELS
