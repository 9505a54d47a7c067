"""Running Slurm's client commands (sbatch, squeue, scontrol, scancel) without a shell, and
retrying the failures a busy controller gives.

A loaded slurmctld now and then answers with "Socket timed out on send/recv operation" or
"Unable to contact slurm controller" (exit 1), or not within the timeout. Such an answer must
not end ``fairhep status`` or ``submit --resume`` with an error: like submitit, which asks
the queue again later when a query fails, queries are retried a few times with a doubling
pause (1, 2, 4 s). Submitting is not idempotent: a timed-out sbatch may have queued its job,
so sbatch is retried only when the controller was never reached (nothing was submitted).
"""

from __future__ import annotations

import re
import subprocess
from collections.abc import Mapping, Sequence
from time import sleep
from typing import Literal

from fairhep.errors import FairhepError

ATTEMPTS = 4
BACKOFF_S = 1.0  # the first pause; each next one doubles
# Said when the request never reached slurmctld: retrying cannot submit anything twice.
UNREACHED = re.compile(r"unable to contact slurm controller|connect(ion)? (failure|refused)",
                       re.IGNORECASE)

Retry = Literal["query", "submit"]


class SlurmError(FairhepError):
    """sbatch/squeue/scontrol/scancel failed or is missing."""


def run_slurm(argv: Sequence[str], retry: Retry, *, hint: str = "", timeout: float = 60,
              answer: re.Pattern[str] | None = None, env: Mapping[str, str] | None = None
              ) -> subprocess.CompletedProcess[str]:
    """``argv``'s completed process; :class:`SlurmError` (naming the command, the attempts and
    Slurm's last line, then ``hint``) once it failed ``ATTEMPTS`` times or in a way that is
    not retried. A non-zero exit whose stderr matches ``answer`` is an answer, not a failure
    (``scontrol show job`` of a job Slurm has forgotten)."""
    attempt = 0
    while True:
        attempt += 1
        try:
            proc = subprocess.run(list(argv), capture_output=True, text=True, timeout=timeout,
                                  env=None if env is None else dict(env), check=False)
        except FileNotFoundError:
            raise SlurmError(f"{argv[0]} not found on PATH: run this on a Slurm login node"
                             ) from None
        except subprocess.TimeoutExpired:
            message, again = f"no answer within {timeout:g} s", retry == "query"
        else:
            if proc.returncode == 0 or (answer is not None and answer.search(proc.stderr)):
                return proc
            message = (proc.stderr.strip().splitlines() or [f"exit {proc.returncode}"])[-1]
            again = retry == "query" or bool(UNREACHED.search(proc.stderr))
        if not again or attempt == ATTEMPTS:
            tries = f" {attempt} times" if attempt > 1 else ""
            raise SlurmError(f"{argv[0]} failed{tries} ({message}){hint}")
        sleep(BACKOFF_S * 2 ** (attempt - 1))
