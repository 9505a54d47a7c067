"""A real single-node Slurm for the tests: started with tools/single-node-slurm.sh on free
ports, state under a temporary directory, stopped (and its job steps ended) at the end."""

from __future__ import annotations

import contextlib
import os
import shutil
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
SCRIPT = REPO / "tools" / "single-node-slurm.sh"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


@contextlib.contextmanager
def single_node_slurm(root: Path, **settings: str) -> Iterator[dict[str, str]]:
    """A Slurm of its own under ``root`` (skips where none can be started); stopped at the
    end, which also ends the slurmstepd of its jobs that scancel could not reach (a failed
    run, a loaded controller): none may outlive the test."""
    if sys.platform != "linux":
        pytest.skip("single-node Slurm: Linux only")
    have = all(shutil.which(p) for p in ("slurmctld", "slurmd", "sbatch", "munged"))
    if not have and (os.geteuid() != 0 or not shutil.which("apt-get")):
        pytest.skip("Slurm is not installed and cannot be installed here (needs root and "
                    "apt-get: apt-get install slurmctld slurmd slurm-client munge)")
    env = {**os.environ, "SLURM_ROOT": str(root), "SLURMCTLD_PORT": str(_free_port()),
           "SLURMD_PORT": str(_free_port()), **settings}
    proc = subprocess.run(["bash", str(SCRIPT), "start"], env=env, capture_output=True,
                          text=True, timeout=600, check=False)
    try:
        if proc.returncode != 0:
            pytest.skip(f"single-node Slurm could not be started (exit {proc.returncode}): "
                        f"{(proc.stderr.strip().splitlines() or ['no message'])[-1]}")
        env["SLURM_CONF"] = str(root / "etc" / "slurm.conf")
        # Jobs inherit the submitter's environment: put this venv's `fairhep` on PATH.
        env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env['PATH']}"
        yield env
    finally:
        stop = subprocess.run(["bash", str(SCRIPT), "stop"], env=env, capture_output=True,
                              text=True, timeout=120, check=False)
        assert stop.returncode == 0, f"single-node Slurm did not stop cleanly: {stop.stderr}"


def _torch_release() -> tuple[int, int]:
    import torch

    major, minor = torch.__version__.split(".")[:2]
    return int(major), int("".join(ch for ch in minor if ch.isdigit()) or 0)


# Known and not yet understood: under torch 2.1 (the ppc64le stack's session) an `srun -n 2`
# gloo training hung here in 2 of 4 runs, past its --dist-timeout, until the test's 300 s
# limit; torch 2.8 and 2.13 never did. Skipped there, by name, until it is found.
SRUN_GLOO_SKIP = pytest.mark.skipif(
    _torch_release() < (2, 2),
    reason="torch < 2.2: srun-launched gloo training hangs intermittently here (ppc64le "
           "stack session, 2 of 4 runs); see the issue note")
