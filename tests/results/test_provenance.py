"""Provenance: the container a record was measured in, from the environment it set."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest

from fairhep import results


def test_container_provenance_from_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("APPTAINER_CONTAINER", "/images/fairhep.sif")
    monkeypatch.setenv("FAIRHEP_STACK", "x86_64-cuda")
    monkeypatch.setenv("FAIRHEP_IMAGE_DIGEST", "sha256:" + "a" * 64)
    info = results.container_info()
    assert info == {
        "runtime": "apptainer", "stack": "x86_64-cuda", "image": "/images/fairhep.sif",
        "image_digest": "sha256:" + "a" * 64, "base_image": None, "build_overrides": [],
    }


def test_apptainer_image_digest_is_computed_from_the_sif(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    sif = tmp_path / "fairhep.sif"
    sif.write_bytes(b"SIF image bytes" * 1000)
    monkeypatch.setenv("APPTAINER_CONTAINER", str(sif))
    monkeypatch.delenv("FAIRHEP_IMAGE_DIGEST", raising=False)
    info = results.container_info()
    assert info is not None
    assert info["image"] == str(sif)
    assert info["image_digest"] == "sha256:" + hashlib.sha256(sif.read_bytes()).hexdigest()
