"""Shared pytest set-up: markers that skip slow and GPU tests on CI, small thread counts, and
the inputs several test folders share (bench, backends, export, benchmarks).

Nothing a test does may change the working tree: ``$FAIRHEP_RESULTS`` (the results folder of a
command run without ``--results``) points at a temporary folder for the whole session, and the
session fails when the checkout's files (``git status``, and the ignored ``results/`` and
``reports/``) differ at its end from its start (:mod:`tree_guard`; ``FAIRHEP_TREE_GUARD=0``
turns the comparison off while you edit files during a run).

The portability inputs are made once per pytest process (session scope): one tiny synthetic
test set, one untrained baseline IN run directory, one cache directory and the run's ONNX
export in that cache (the dynamo export takes seconds: once). Parity and timing need real
jets and real weights, not trained ones.
"""

from __future__ import annotations

import os
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
import torch

import tree_guard
from fairhep.results.location import RESULTS_ENV
from run_helpers import make_run

# Two cores in CI: more torch threads only contend.
torch.set_num_threads(min(2, os.cpu_count() or 1))

TINY_TEST_JETS = 96
REPO = Path(__file__).resolve().parents[1]
_TREE_BEFORE = pytest.StashKey[tree_guard.Snapshot]()
_TREE_CHANGES = pytest.StashKey[list[str]]()


def _guard_tree() -> bool:
    # Regenerating recorded files writes into the tree on purpose.
    return os.environ.get("FAIRHEP_TREE_GUARD", "1") != "0" and not any(
        k.startswith("FAIRHEP_REGENERATE") and v == "1" for k, v in os.environ.items())


def pytest_sessionstart(session: pytest.Session) -> None:
    before = tree_guard.snapshot(REPO) if _guard_tree() else None
    if before is not None:
        session.config.stash[_TREE_BEFORE] = before


@pytest.hookimpl(tryfirst=True)
def pytest_sessionfinish(session: pytest.Session) -> None:
    before = session.config.stash.get(_TREE_BEFORE, None)
    after = tree_guard.snapshot(REPO) if before is not None else None
    changed = tree_guard.changes(before, after) if before is not None and after else []
    if changed:
        session.config.stash[_TREE_CHANGES] = changed
        session.exitstatus = pytest.ExitCode.TESTS_FAILED


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter,
                            config: pytest.Config) -> None:
    changed = config.stash.get(_TREE_CHANGES, [])
    if changed:
        terminalreporter.write_sep("=", "the tests changed the working tree", red=True)
        for line in changed[:50]:
            terminalreporter.write_line(line)
        if len(changed) > 50:
            terminalreporter.write_line(f"... and {len(changed) - 50} more")
        terminalreporter.write_line(
            "Either a test wrote outside its tmp_path (give its command --results, --out or "
            "--cache-dir in tmp_path), or these files were edited during the session "
            "(FAIRHEP_TREE_GUARD=0 skips this check while you edit).")


@pytest.fixture(scope="session", autouse=True)
def default_results(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """What a command run without --results writes into in the tests: a temporary folder,
    never the user's ./results."""
    folder = tmp_path_factory.mktemp("default-results")
    patch = pytest.MonkeyPatch()
    patch.setenv(RESULTS_ENV, str(folder))
    yield folder
    patch.undo()


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    run_slow = os.environ.get("FAIRHEP_SLOW") == "1"
    has_gpu = torch.cuda.is_available()
    for item in items:
        if "slow" in item.keywords and not run_slow:
            item.add_marker(pytest.mark.skip(reason="slow test: set FAIRHEP_SLOW=1 to run it"))
        if "gpu" in item.keywords and not has_gpu:
            item.add_marker(pytest.mark.skip(reason="needs a CUDA GPU: torch sees none"))


@pytest.fixture(scope="module")
def one_torch_thread() -> Iterator[None]:
    """One intra-op thread for a module of small trainings: on a busy 2-core box, OpenMP's
    spinning threads made a tiny IN ~30x slower than one thread (same results)."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture(scope="session")
def portability_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("portability")


@pytest.fixture(scope="session")
def tiny_test_set(portability_root: Path) -> Path:
    """A synthetic test set of TINY_TEST_JETS jets in one HDF5 file (with its manifest)."""
    from fairhep.data.synth import synthesize

    data = portability_root / "data"
    synthesize(data, files=1, jets_per_file=TINY_TEST_JETS, seed=7, split="test")
    return data


@pytest.fixture(scope="session")
def untrained_run(portability_root: Path) -> Path:
    """An untrained baseline IN saved as a run directory (model.json + best.pth)."""
    run = portability_root / "run"
    make_run(run)
    return run


@pytest.fixture(scope="session")
def bench_cache(portability_root: Path) -> Path:
    """The cache directory the bench modes share (``--cache-dir``): ONNX exports, engines."""
    return portability_root / "cache"


@pytest.fixture(scope="session")
def onnx_export(untrained_run: Path, bench_cache: Path) -> Path:
    """The untrained run's ONNX export, where the bench modes look for it in bench_cache."""
    from fairhep.export import cached_onnx

    return cached_onnx(untrained_run, bench_cache / "onnx")


@pytest.fixture
def read_only_dir(tmp_path: Path) -> Iterator[Path]:
    """A directory nothing can write into, for the "check outputs first" tests: a real
    read-only bind mount as root (root ignores permission bits), mode 0500 otherwise."""
    target = tmp_path / "read-only"
    target.mkdir()
    if os.geteuid() != 0:
        target.chmod(0o500)
        yield target
        target.chmod(0o700)
        return
    mounted = subprocess.run(["mount", "--bind", str(target), str(target)],
                             capture_output=True, check=False).returncode == 0
    if mounted:
        mounted = subprocess.run(["mount", "-o", "remount,bind,ro", str(target)],
                                 capture_output=True, check=False).returncode == 0
        if not mounted:
            subprocess.run(["umount", str(target)], check=False)
    if not mounted:
        pytest.skip("root without mount permission: no way to make a read-only folder here")
    try:
        yield target
    finally:
        subprocess.run(["umount", str(target)], check=False)
