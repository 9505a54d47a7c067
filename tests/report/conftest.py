"""Inputs of the report tests: the recorded records (three generated sites, and the real
records of a `fairhep bench` and a smoke campaign) and the sections built from them."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from fairhep.report import Context, RecordSet, Section, build_sections, load_record_set
from report_records import RECORDS, SITES


@pytest.fixture(scope="session")
def fixture_records() -> Callable[[str], list[dict[str, Any]]]:
    """The raw JSON of every three-site fixture record of one kind."""

    def of(kind: str) -> list[dict[str, Any]]:
        return [
            json.loads(p.read_text())
            for s in SITES
            for p in sorted((RECORDS / s).glob(f"records/{kind}/*.json"))
        ]

    return of


@pytest.fixture(scope="session")
def site_records() -> RecordSet:
    return load_record_set([RECORDS / s for s in SITES])


def _sections(records: RecordSet, fig_dir: Path) -> dict[str, Section]:
    return {s.id: s for s in build_sections(Context(records, fig_dir))}


@pytest.fixture(scope="session")
def site_sections(
    site_records: RecordSet, tmp_path_factory: pytest.TempPathFactory
) -> dict[str, Section]:
    """Every section built from the three sites, by section id (figures in a temporary dir)."""
    return _sections(site_records, tmp_path_factory.mktemp("figures"))


@pytest.fixture(scope="session")
def make_run_sections(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Section]:
    """The sections of what `make run` leaves: one bench.default and one train record, real."""
    records = load_record_set([RECORDS / "real" / "bench-local"])
    return _sections(records, tmp_path_factory.mktemp("figures"))


@pytest.fixture(scope="session")
def real_sections(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Section]:
    """The sections of the real records: `fairhep bench` and a smoke campaign on a CPU VM."""
    records = load_record_set([RECORDS / "real"])
    return _sections(records, tmp_path_factory.mktemp("figures"))
