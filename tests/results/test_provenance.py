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


def test_a_docker_job_names_its_image_and_an_unknown_id_is_null(
        monkeypatch: pytest.MonkeyPatch) -> None:
    """What a Slurm job's `docker run --env FAIRHEP_IMAGE=... --env FAIRHEP_IMAGE_DIGEST=$(...)`
    gives the records inside, also when `docker image inspect` could not say."""
    for name in ("APPTAINER_CONTAINER", "SINGULARITY_CONTAINER", "FAIRHEP_STACK"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("FAIRHEP_CONTAINER_RUNTIME", "docker")
    monkeypatch.setenv("FAIRHEP_IMAGE", "registry.example/fairhep:cuda")
    monkeypatch.setenv("FAIRHEP_IMAGE_DIGEST", "sha256:" + "b" * 64)
    info = results.container_info()
    assert info is not None and info["image"] == "registry.example/fairhep:cuda"
    assert info["image_digest"] == "sha256:" + "b" * 64
    monkeypatch.setenv("FAIRHEP_IMAGE_DIGEST", "")
    info = results.container_info()
    assert info is not None and info["image_digest"] is None  # never an empty string


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


CPUINFO = Path(__file__).parent / "cpuinfo"


@pytest.mark.parametrize(("name", "model"), [
    ("x86_64-amd-epyc.txt", "AMD EPYC"),
    ("ppc64le-power9.txt", "POWER9, altivec supported (8335-GTH)"),
    ("aarch64-neoverse-n1.txt", "ARM Neoverse-N1"),
])
def test_cpu_model_is_read_from_recorded_cpuinfo_texts(name: str, model: str) -> None:
    text = (CPUINFO / name).read_text()
    assert results.provenance.cpu_model_from_cpuinfo(text) == model
    # Not the "cpu family" number that the first "cpu ..." line of an AMD box holds.
    assert not model.isdigit()


def test_unknown_arm_parts_are_named_by_their_codes() -> None:
    text = "processor\t: 0\nCPU implementer\t: 0x41\nCPU part\t: 0xfff\n"
    assert results.provenance.cpu_model_from_cpuinfo(text) == "ARM part 0xfff"
