"""A dataset that differs from its manifest is refused by every reader before any work, and
no record names a manifest the data do not match (issue 21, item 2); each file is hashed
once, then known by what ``stat`` says of it."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import h5py
import pytest

from fairhep import schema
from fairhep.cli import main
from fairhep.data import load, manifest, verify
from fairhep.data.synth import synthesize
from fairhep.errors import DataError
from fairhep.results import ResultRecord, read_record, write_record
from run_helpers import make_run

SPECTATORS = schema.H5_SPECTATORS


@pytest.fixture(autouse=True)
def cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The verification cache of these tests: in tmp_path, never the user's."""
    monkeypatch.setenv("FAIRHEP_CACHE", str(tmp_path / "cache"))
    return tmp_path / "cache"


@pytest.fixture(scope="module")
def clean(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("verify") / "test"
    synthesize(out, files=2, jets_per_file=48, seed=5, split="test")
    return out


def _changed(clean: Path, tmp_path: Path) -> tuple[Path, Path]:
    """A copy of ``clean`` with one spectator value changed (what no value check sees)."""
    data = Path(shutil.copytree(clean, tmp_path / "data"))
    victim = data / "newdata_1.h5"
    with h5py.File(victim, "r+") as h5:
        h5[SPECTATORS][0, 0, 0] += 1.0
    return data, victim


def test_evaluate_train_and_the_bench_reader_refuse_a_changed_file_in_one_line(
        clean, tmp_path, capsys):
    data, victim = _changed(clean, tmp_path)
    run = tmp_path / "run"
    make_run(run)
    results = tmp_path / "results"
    for argv in (["evaluate", "--run", str(run), "--data", str(data), "--device", "cpu",
                  "--results", str(results)],
                 ["train", "--data", str(data), "--out", str(tmp_path / "out"), "--split",
                  "points", "--epochs", "1", "--device", "cpu", "--no-progress",
                  "--results", str(results)]):
        assert main(argv) == 1
        err = capsys.readouterr().err.strip()
        assert len(err.splitlines()) == 1, err
        assert f"{victim}: sha256 " in err and f"in {data / 'manifest.json'}" in err
        assert f"`fairhep data check {data}`" in err and "changed or is corrupt" in err
    with pytest.raises(DataError, match="changed or is corrupt"):
        load.load_dataset(data)  # what bench --frameworks and --batch-sweep read through
    assert not list(results.rglob("*.json")) and not (tmp_path / "out").exists()


def test_unlisted_and_missing_files_are_refused(clean, tmp_path):
    data = Path(shutil.copytree(clean, tmp_path / "data"))
    shutil.copy(data / "newdata_1.h5", data / "newdata_2.h5")
    with pytest.raises(DataError, match=r"newdata_2.h5: not listed in .*manifest.json"):
        load.list_files(data)
    (data / "newdata_2.h5").unlink()
    (data / "newdata_1.h5").unlink()
    with pytest.raises(DataError, match=r"newdata_1.h5: listed in .*manifest.json but missing"):
        load.list_files(data)


def test_a_file_is_hashed_once_until_it_changes(clean, tmp_path, cache, monkeypatch):
    data = Path(shutil.copytree(clean, tmp_path / "data"))
    hashed: list[str] = []
    real = manifest.sha256_file

    def counting(path: Path) -> str:
        hashed.append(Path(path).name)
        return real(path)

    monkeypatch.setattr("fairhep.data.verify.sha256_file", counting)
    assert load.list_files(data) and sorted(hashed) == ["newdata_0.h5", "newdata_1.h5"]
    verify._memo.clear()  # a later process: what it knows comes from the cache file
    assert load.list_files(data) and len(hashed) == 2
    assert (cache / verify.VERIFIED_FILE).is_file()
    # Rewritten in place with its size and mtime put back: the ctime still tells.
    victim = data / "newdata_1.h5"
    st = victim.stat()
    with h5py.File(victim, "r+") as h5:
        h5[SPECTATORS][0, 0, 0] += 1.0
    os.utime(victim, ns=(st.st_atime_ns, st.st_mtime_ns))
    assert victim.stat().st_size == st.st_size
    with pytest.raises(DataError, match="changed or is corrupt"):
        load.list_files(data)
    assert hashed[2:] == ["newdata_1.h5"]


def test_a_record_never_names_a_manifest_the_data_do_not_match(clean, tmp_path):
    data = Path(shutil.copytree(clean, tmp_path / "data"))
    load.list_files(data)  # read (and verified) at the start of the work ...
    with h5py.File(data / "newdata_0.h5", "r+") as h5:  # ... changed before the record
        h5[SPECTATORS][1, 0, 0] += 1.0
    prov = read_record(write_record(tmp_path / "results", ResultRecord(kind="evaluate"),
                                    data / "manifest.json")).provenance
    assert prov["dataset_manifest_sha256"] is None
    assert "newdata_0.h5: sha256" in prov["dataset_mismatch"]
    intact = read_record(write_record(tmp_path / "results", ResultRecord(kind="evaluate"),
                                      clean / "manifest.json")).provenance
    assert intact["dataset_manifest_sha256"] and "dataset_mismatch" not in intact


def test_a_dataset_without_a_manifest_is_read_as_it_is(clean, tmp_path):
    data, _ = _changed(clean, tmp_path)
    (data / "manifest.json").unlink()  # the fix the refusal offers for data changed on purpose
    assert len(load.load_dataset(data)) == 96
