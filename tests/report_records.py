"""The recorded result records the report tests read, and how their platforms are labelled."""

from __future__ import annotations

from pathlib import Path

from fairhep.report import GENERATED

RECORDS = Path(__file__).resolve().parent / "fixtures" / "records"
SITES = ("hal", "dgx", "thetagpu")  # the generated fixtures' sites, in the paper's order


def generated(site: str) -> str:
    """How a generated fixture's platform reads in every table and figure."""
    return f"{site} ({GENERATED})"
