"""What every section of a report is built from."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from fairhep import published
from fairhep.report.grouping import Setup, setup_labels
from fairhep.report.hepdata.read import SubmissionTables
from fairhep.report.recordset import RecordSet


@dataclass(frozen=True)
class Context:
    """The records, where figures go, the p-value method of Table 4 and where the paper's
    values are (None: the default places, see :mod:`fairhep.published`); ``submissions``:
    HEPData submissions read back (``report --published SUBMISSION``) to set beside ours."""

    records: RecordSet
    fig_dir: Path
    p_method: str = "normal"
    published_dir: Path | None = None
    submissions: tuple[SubmissionTables, ...] = ()

    def published(self, name: str) -> dict[str, Any]:
        """One of the paper's tables (``"table4"`` ... ``"figure4"``, ``"paper"``)."""
        return published.load(name, self.published_dir)

    def setup_labels(self) -> dict[Setup, str]:
        return setup_labels(self.records)
