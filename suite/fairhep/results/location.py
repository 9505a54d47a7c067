"""Where result records go when no ``--results`` is given, and where reports of them go.

``$FAIRHEP_RESULTS`` overrides ``./results`` for every command at once: the test suite points
it at a temporary folder, so that a test that forgets ``--results`` cannot write into the
user's records. Reports are written inside the results folder they were built from
(``<results>/reports/<name>-<UTC time>/``): one place, whichever command wrote them.
"""

from __future__ import annotations

import os
from datetime import datetime, timezone
from pathlib import Path

RESULTS_ENV = "FAIRHEP_RESULTS"
DEFAULT_RESULTS = Path("results")
REPORTS_DIR = "reports"


def default_results_dir() -> Path:
    """``$FAIRHEP_RESULTS``, else ``./results``."""
    return Path(os.environ.get(RESULTS_ENV) or DEFAULT_RESULTS)


def new_report_dir(results: Path, name: str) -> Path:
    """``<results>/reports/<name>-<UTC time>``: a new folder for each report (records are
    never touched)."""
    stamp = datetime.now(timezone.utc).strftime("%Y%m%d-%H%M%S")
    return Path(results) / REPORTS_DIR / f"{name}-{stamp}"
