"""The ``--results`` option every recording command shares (one default, one help text)."""

from __future__ import annotations

import argparse
from pathlib import Path

from fairhep.results.location import RESULTS_ENV, default_results_dir


def add_results_option(p: argparse.ArgumentParser, what: str) -> None:
    """``--results DIR``: where ``what`` goes; default ``$FAIRHEP_RESULTS`` or ./results
    (read when the parser is built, i.e. at each command)."""
    p.add_argument("--results", type=Path, default=default_results_dir(),
                   help=f"where {what} goes (default: ${RESULTS_ENV} or ./results)")
