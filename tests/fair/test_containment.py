"""A bundle names only regular files inside itself (issue 21, item 3): a ``SHA256SUMS`` entry
that leaves the bundle, or a symbolic link to a file or folder elsewhere, is refused in one
line by every reader (``validate`` and ``serve`` open bundles the same way), even when the
file outside has the listed sha256."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

from fairhep.cli import main
from fairhep.data.manifest import sha256_file
from fairhep.fair.bundle import SUMS, BundleError, open_bundle, write_sums
from fairhep.results import kinds, load_records


def _copy(bundle, tmp_path: Path) -> Path:
    return Path(shutil.copytree(bundle.root, tmp_path / "bundle"))


def _validate(root: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> str:
    """``fairhep validate`` refuses the bundle: its one line (and the refusal on record)."""
    results = tmp_path / "results"
    assert main(["validate", str(root), "--runtimes", "onnxruntime", "--results",
                 str(results)]) == 1
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1, err
    (record,) = load_records(results, kinds.VALIDATE)
    assert record.status == "failed"
    return err


def _list(root: Path, name: str, digest: str) -> None:
    with open(root / SUMS, "a") as fh:
        fh.write(f"{digest}  {name}\n")


def test_an_entry_above_the_bundle_is_refused(run_bundle, tmp_path, capsys):
    root = _copy(run_bundle, tmp_path)
    victim = tmp_path / "victim.txt"
    victim.write_text("not part of any bundle\n")
    _list(root, "../victim.txt", sha256_file(victim))  # the sum is right: only the name is not
    err = _validate(root, tmp_path, capsys)
    assert f"{root / SUMS}: line" in err and "names '../victim.txt'" in err
    assert "not a file inside the bundle" in err


def test_an_absolute_entry_is_refused(run_bundle, tmp_path):
    root = _copy(run_bundle, tmp_path)
    outside = Path("/etc/hostname") if Path("/etc/hostname").is_file() else Path(__file__)
    _list(root, str(outside), sha256_file(outside))
    with pytest.raises(BundleError, match=f"names '{outside}', which is not a file inside"):
        open_bundle(root)  # what `fairhep serve` opens it with


@pytest.mark.parametrize("name", ["./model.onnx", "weights//best.pth", "validation/../model.onnx"])
def test_a_name_that_is_not_written_as_packaged_is_refused(run_bundle, tmp_path, name):
    root = _copy(run_bundle, tmp_path)
    _list(root, name, sha256_file(root / "model.onnx"))
    with pytest.raises(BundleError, match="not a file inside the bundle"):
        open_bundle(root)


def test_weights_linked_from_elsewhere_are_refused(run_bundle, tmp_path, capsys):
    root = _copy(run_bundle, tmp_path)
    elsewhere = tmp_path / "elsewhere.pth"
    shutil.move(root / "weights" / "best.pth", elsewhere)  # same bytes, same sha256
    os.symlink(elsewhere, root / "weights" / "best.pth")
    err = _validate(root, tmp_path, capsys)
    assert f"{root / 'weights' / 'best.pth'}: a symbolic link (to {elsewhere})" in err


def test_a_folder_linked_from_elsewhere_is_refused(run_bundle, tmp_path):
    root = _copy(run_bundle, tmp_path)
    elsewhere = tmp_path / "triton-elsewhere"
    shutil.move(root / "triton", elsewhere)
    os.symlink(elsewhere, root / "triton", target_is_directory=True)
    with pytest.raises(BundleError, match=r"triton: a symbolic link \(to "):
        open_bundle(root)


def test_a_link_inside_the_bundle_is_refused_too(run_bundle, tmp_path):
    # A bundle is copied and published as files; a link inside it is not one of them.
    root = _copy(run_bundle, tmp_path)
    (root / "CITATION.cff").unlink()
    os.symlink("model_card.md", root / "CITATION.cff")
    with pytest.raises(BundleError, match=r"CITATION\.cff: a symbolic link"):
        open_bundle(root)


def test_packaging_sums_only_regular_files(run_bundle, tmp_path):
    root = _copy(run_bundle, tmp_path)
    assert open_bundle(root).files_checked == len((root / SUMS).read_text().splitlines())
    os.symlink("/etc", root / "validation" / "etc")
    with pytest.raises(BundleError, match="a symbolic link"):
        write_sums(root)
