"""Inputs of the FAIR-bundle tests, made once per session: a short real training on a small
synthetic (generated) dataset, its bundle, a foreign ONNX file written the FAIR export's way
and its bundle, the compiled runner, and a KServe v2 server on a free loopback port."""

from __future__ import annotations

import importlib.util
from collections.abc import Iterator
from pathlib import Path

import pytest

from fair_helpers import (
    FOREIGN_SAMPLE_JETS,
    RUN_SAMPLE_JETS,
    SMALL,
    Server,
    start_server,
    write_fair_export,
)
from fairhep.fair.bundle import Bundle, open_bundle
from fairhep.fair.card import CardOptions
from fairhep.fair.package import PackageOptions, package


@pytest.fixture(scope="session")
def fair_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("fair")


@pytest.fixture(scope="session")
def fair_data(fair_root: Path) -> Path:
    """Generated jets (fairhep data synth): 6 files of 40."""
    from fairhep.data.synth import synthesize

    synthesize(fair_root / "data", files=6, jets_per_file=40, seed=5)
    return fair_root / "data"


@pytest.fixture(scope="session")
def trained_run(fair_root: Path, fair_data: Path) -> Path:
    """A real (short) training of a small IN variant, with its train and evaluate records."""
    import torch

    from fairhep.evaluate import evaluate
    from fairhep.model import ModelConfig
    from fairhep.train import TrainConfig, train

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        train(TrainConfig(data=fair_data, out=fair_root / "run", seed=0, split="points",
                          epochs=2, lr=3e-3, batch_size=32, device="cpu",
                          model=ModelConfig(**SMALL), results=fair_root / "results",
                          progress=False))
        evaluate(fair_root / "run", fair_data, device="cpu", results=fair_root / "results")
    finally:
        torch.set_num_threads(threads)
    return fair_root / "run"


@pytest.fixture(scope="session")
def run_bundle(fair_root: Path, trained_run: Path) -> Bundle:
    package(PackageOptions(out=fair_root / "run-bundle", run=trained_run,
                           validation_jets=RUN_SAMPLE_JETS, progress=False,
                           card=CardOptions(authors=("Ada Lovelace",),
                                            results=(fair_root / "results",))))
    return open_bundle(fair_root / "run-bundle")


@pytest.fixture(scope="session")
def fair_onnx(fair_root: Path) -> Path:
    """A foreign file: the FAIR export's form, opset 11, batch_size axis, no metadata."""
    from run_helpers import make_run

    return write_fair_export(make_run(fair_root / "foreign-run", seed=3),
                             fair_root / "IN_fair.onnx")


@pytest.fixture(scope="session")
def foreign_bundle(fair_root: Path, fair_onnx: Path) -> Bundle:
    package(PackageOptions(out=fair_root / "foreign-bundle", onnx=fair_onnx,
                           validation_jets=FOREIGN_SAMPLE_JETS, seed=9, progress=False,
                           card=CardOptions(interface="fair-in")))
    return open_bundle(fair_root / "foreign-bundle")


@pytest.fixture(scope="session")
def cpp_cache() -> Path:
    """Where the C++ runner is built: the user's fairhep cache ($FAIRHEP_CACHE), so that the
    header download and the compile happen once per machine, not once per test run."""
    from fairhep.cache import default_cache_dir

    return default_cache_dir()


@pytest.fixture(scope="session")
def cpp_runner(cpp_cache: Path) -> Path:
    """The compiled runner, or a skip naming why it cannot be built here."""
    from fairhep.fair.cppbuild import CompiledUnavailable, build_runner, unavailable_reason

    reason = unavailable_reason()
    if reason:
        pytest.skip(reason)
    try:
        return build_runner(cpp_cache)
    except CompiledUnavailable as exc:
        pytest.skip(str(exc))


@pytest.fixture(scope="module")
def server(run_bundle: Bundle, fair_root: Path) -> Iterator[Server]:
    if importlib.util.find_spec("mlserver") is None:
        pytest.skip("mlserver not installed (pip install 'fairhep[serve]')")
    srv = start_server(run_bundle.root, fair_root / "serve.log")
    try:
        yield srv
    finally:
        if srv.process.poll() is None:  # never leave a server behind the tests
            srv.stop()
