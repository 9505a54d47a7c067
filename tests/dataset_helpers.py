"""Datasets a test changes on purpose (a NaN, a dtype, one class): the readers refuse files
that differ from their manifest (:mod:`fairhep.data.verify`), so the test says that the
change is the dataset now, as a converter writing such values would."""

from __future__ import annotations

from pathlib import Path

from fairhep.data.manifest import Manifest, sha256_file


def refresh_manifest(directory: Path) -> None:
    """The manifest of ``directory`` lists the sha256 its files have now."""
    manifest = Manifest.read(directory)
    for entry in manifest.files:
        entry.sha256 = sha256_file(directory / entry.name)
    manifest.write(directory)
