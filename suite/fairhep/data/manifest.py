"""The dataset manifest: what a directory of HDF5 files holds and how to check it is intact."""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from fairhep import schema
from fairhep.errors import DataError


@dataclass
class FileEntry:
    name: str
    jets: int
    sha256: str
    source: str | None = None  # the ROOT file it came from, for converted data


@dataclass
class Manifest:
    origin: str  # "cms-open-data" or "synthetic"
    files: list[FileEntry] = field(default_factory=list)
    dataset_doi: str = schema.DATASET_DOI
    schema_version: str = schema.SCHEMA_VERSION
    generator: dict[str, Any] = field(default_factory=dict)  # seed, difficulty, converter args

    @property
    def n_jets(self) -> int:
        return sum(f.jets for f in self.files)

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["n_jets"] = self.n_jets
        d["schema"] = schema.describe()
        return d

    def write(self, directory: Path) -> Path:
        path = directory / schema.MANIFEST_NAME
        tmp = path.with_suffix(".json.tmp")
        tmp.write_text(json.dumps(self.to_dict(), indent=2) + "\n")
        os.replace(tmp, path)
        return path

    @classmethod
    def read(cls, directory: Path) -> Manifest:
        path = directory / schema.MANIFEST_NAME
        try:
            d = json.loads(path.read_text())
            files = [FileEntry(**f) for f in d["files"]]
            return cls(
                origin=d["origin"],
                files=files,
                dataset_doi=d.get("dataset_doi", schema.DATASET_DOI),
                schema_version=d["schema_version"],
                generator=d.get("generator", {}),
            )
        except FileNotFoundError:
            raise DataError(
                f"{path}: missing manifest; regenerate the dataset with `fairhep data convert` "
                "or `fairhep data synth`"
            ) from None
        except (OSError, ValueError, KeyError, TypeError) as exc:
            raise DataError(f"{path}: malformed manifest ({exc}); regenerate the dataset") from None


def sha256_file(path: Path, chunk: int = 1 << 20) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        while block := fh.read(chunk):
            h.update(block)
    return h.hexdigest()


def manifest_path(data_dir: Path) -> Path | None:
    """The dataset's manifest, where it has one (provenance records its hash)."""
    path = Path(data_dir) / schema.MANIFEST_NAME
    return path if path.is_file() else None
