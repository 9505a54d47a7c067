"""A model bundle on disk: where each file lies, its persistent identifier, its checksums.

Layout of a bundle (``fairhep package`` writes it, ``fairhep validate`` and ``fairhep serve``
read it)::

    model.onnx                      the model (graph + parameters), as exported or as given
    model-fast.onnx                 the same weights as the fast graph (``export --engine
                                    fast``; packaged runs only: a foreign ONNX has no weights)
    model_card.md, model_card.json  one card, several renderings:
    README.md                       ... the Markdown with Hugging Face front matter
    CITATION.cff                    how to cite the model
    weights/model.json, best.pth    the PyTorch weights (packaged runs only): the torch runtime
    validation/newdata_0.h5         the validation jets, in the suite's HDF5 layout
    validation/manifest.json        ... with their origin (data file hashes, or the seed)
    validation/expected_scores.npy  (N, 2) float32 scores of the reference engine
    validation/validation.json      reference engine, tolerance, batch size, source, the
                                    sample's selection and its measured sensitivity
    validation/tracks.npy, svs.npy  the validation jets' inputs as float32 .npy (C++ reads them)
    cpp/                            the C++ runner: source, CMakeLists.txt, README.md (the
                                    recipe), include/ (ONNX Runtime headers, when at hand)
    triton/<model id>/config.pbtxt, triton/<model id>/1/model.onnx   a Triton model repository
                                    (the model with the card in its ONNX metadata_props;
                                    version 2: the fast graph, when the bundle has one)
    SHA256SUMS                      sha256 of every other file (``sha256sum -c`` reads it)

Every file is a regular file inside the bundle folder: no symbolic links, no names that
leave it, so what is checked is what the readers open (:func:`verify_sums`).

The persistent identifier is the sha256 of ``model.onnx``: the AI model in the paper's sense
(graph and parameters) as the paper published it, the dense graph, and nothing else (the fast
graph, derived from the same weights, is listed in ``SHA256SUMS`` and the card), so
re-packaging the same model with another card or sample keeps its identity. The model id,
``hbb-in-`` and the first 16 hex digits, names the model wherever the bundle names it (card,
citation, Triton, the server, validate records).
"""

from __future__ import annotations

import json
import os
import stat
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from fairhep.data.manifest import sha256_file
from fairhep.errors import FairhepError

MODEL = "model.onnx"
FAST_MODEL = "model-fast.onnx"
FAST_ABSENT = ("no fast graph: the model came as an ONNX file without fairhep weights, and the "
               "fast graph is built from the weights; going on with the dense model.onnx only")
CARD_MD = "model_card.md"
CARD_JSON = "model_card.json"
CITATION = "CITATION.cff"
SUMS = "SHA256SUMS"
WEIGHTS_DIR = "weights"
VALIDATION_DIR = "validation"
EXPECTED = "expected_scores.npy"
VALIDATION_META = "validation.json"
TRITON_DIR = "triton"
ID_PREFIX = "hbb-in-"


class BundleError(FairhepError):
    """A bundle that is incomplete, changed after packaging, or not a bundle at all."""


def identifier(onnx_path: Path) -> str:
    """The persistent identifier: ``sha256:`` and the hex digest of the model file."""
    return "sha256:" + sha256_file(onnx_path)


def model_id_of(ident: str) -> str:
    """The short model id of an identifier (a name for directories, servers and records)."""
    return ID_PREFIX + ident.removeprefix("sha256:")[:16]


TRITON_DENSE_VERSION, TRITON_FAST_VERSION = 1, 2


def triton_model_path(bundle: Path, model_id: str, version: int = TRITON_DENSE_VERSION) -> Path:
    return bundle / TRITON_DIR / model_id / str(version) / MODEL


def fast_version(ident: str) -> str:
    """The served version of the fast graph: the bundle's identifier (the dense graph it
    computes) with ``-fast``. A version that extends another sorts after it, so a server that
    serves the newest version by default (MLServer, as Triton its highest number) serves the
    fast one to a request that names none."""
    return f"{ident}-fast"


def write_sums(bundle: Path) -> Path:
    """``SHA256SUMS`` over every file of the bundle but itself, sorted, ``sha256sum`` style."""
    lines = [f"{sha256_file(bundle / name)}  {name}" for name in sorted(_contents(bundle))]
    path = bundle / SUMS
    path.write_text("\n".join(lines) + "\n")
    return path


def _contents(bundle: Path) -> set[str]:
    """The bundle's files (POSIX paths relative to it, ``SHA256SUMS`` aside). A bundle holds
    its files itself: a symbolic link (whatever it points at: ``weights/best.pth`` to a file
    elsewhere, ``triton/`` to another folder) or a file that is not a regular file (a FIFO, a
    device) is refused, so no reader ever opens something outside the bundle."""
    found: set[str] = set()
    # os.walk does not follow links to folders; each entry is looked at without following.
    for folder, dirs, files in os.walk(bundle):
        for name in (*dirs, *files):
            path = Path(folder, name)
            mode = path.lstat().st_mode
            if stat.S_ISLNK(mode):
                raise BundleError(f"{path}: a symbolic link (to {os.readlink(path)}); a bundle "
                                  "holds only its own regular files: restore it from the "
                                  "published bundle or package again")
            if name in files and not stat.S_ISREG(mode):
                raise BundleError(f"{path}: not a regular file; a bundle holds only regular "
                                  "files: remove it or package again")
            if name in files:
                found.add(path.relative_to(bundle).as_posix())
    found.discard(SUMS)
    return found


def _listed(sums: Path) -> dict[str, str]:
    """``SHA256SUMS``'s names and digests. A name is a path inside the bundle, as
    :func:`write_sums` writes it: relative, without ``..``, ``.`` or empty parts, listed once
    (``../victim.txt`` or ``/etc/hostname`` would have a file outside the bundle checked and
    counted as part of it)."""
    listed: dict[str, str] = {}
    for n, line in enumerate(sums.read_text().splitlines(), 1):
        digest, sep, name = line.partition("  ")
        if not sep or len(digest) != 64 or not name:
            raise BundleError(f"{sums}: line {n} is not '<sha256>  <file>'; package the bundle "
                              "again")
        if any(part in ("", ".", "..") for part in name.split("/")):
            raise BundleError(f"{sums}: line {n} names {name!r}, which is not a file inside "
                              "the bundle (a relative path without '..'); package it again")
        if name in listed:
            raise BundleError(f"{sums}: line {n} lists {name} a second time; package the "
                              "bundle again")
        listed[name] = digest
    return listed


def verify_sums(bundle: Path) -> int:
    """Check every file against ``SHA256SUMS``; the first difference is a one-line error
    naming the file. Only regular files inside the bundle count (:func:`_contents`,
    :func:`_listed`). Returns the number of files checked."""
    bundle = Path(bundle)
    sums = bundle / SUMS
    if not bundle.is_dir():
        raise BundleError(f"{bundle}: no such bundle directory; make one with `fairhep package`")
    present = _contents(bundle)  # first: SHA256SUMS itself may be a link
    if not sums.is_file():
        raise BundleError(f"{sums}: missing; not a fairhep bundle, or an unfinished one "
                          "(package it again with `fairhep package`)")
    listed = _listed(sums)
    for name, digest in sorted(listed.items()):
        path = bundle / name
        if name not in present:
            raise BundleError(f"{path}: listed in {SUMS} but missing; restore it from the "
                              "published bundle")
        if sha256_file(path) != digest:
            raise BundleError(f"{path}: sha256 differs from {SUMS}: the file changed after "
                              "packaging; restore it from the published bundle or package again")
    extra = sorted(present - set(listed))
    if extra:
        raise BundleError(f"{bundle / extra[0]}: not in {SUMS} (added after packaging); remove "
                          "it or package again")
    return len(listed)


@dataclass(frozen=True)
class Bundle:
    """A packaged model as the readers see it: paths and the card's facts they need."""

    root: Path
    card: dict[str, Any]
    validation: dict[str, Any]
    files_checked: int  # files that matched SHA256SUMS when it was opened

    @property
    def model_id(self) -> str:
        return str(self.card["model_id"])

    @property
    def identifier(self) -> str:
        return str(self.card["identifier"])

    @property
    def onnx(self) -> Path:
        return self.root / MODEL

    @property
    def fast_onnx(self) -> Path | None:
        """The fast graph, when the bundle has one (checked against SHA256SUMS on opening)."""
        path = self.root / FAST_MODEL
        return path if path.is_file() else None

    @property
    def weights(self) -> Path | None:
        """The run directory of the PyTorch weights, when the bundle has them."""
        path = self.root / WEIGHTS_DIR
        return path if (path / "model.json").is_file() else None

    @property
    def validation_dir(self) -> Path:
        return self.root / VALIDATION_DIR


def open_bundle(root: Path) -> Bundle:
    """Check a bundle (:func:`verify_sums`: its own regular files, each as packaged), then
    read its card and validation description: the one way readers (validate, serve) open
    one."""
    root = Path(root)
    files = verify_sums(root)
    out = []
    for path in (root / CARD_JSON, root / VALIDATION_DIR / VALIDATION_META):
        try:
            data = json.loads(path.read_text())
        except (OSError, ValueError) as exc:
            raise BundleError(f"{path}: unreadable ({exc}); package the bundle again") from None
        if not isinstance(data, dict):
            raise BundleError(f"{path}: not a JSON object; package the bundle again")
        out.append(data)
    card, validation = out
    for key in ("model_id", "identifier", "inputs", "outputs"):
        if key not in card:
            raise BundleError(f"{root / CARD_JSON}: no {key!r}; package the bundle again")
    if identifier(root / MODEL) != card["identifier"]:
        raise BundleError(f"{root / MODEL}: its sha256 is not the card's identifier "
                          f"{card['identifier']}; the bundle mixes two models, package it again")
    return Bundle(root, card, validation, files)
