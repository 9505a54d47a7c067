"""Inputs of the report tests: the recorded three-site records and the sections built from them."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest

from fairhep.report import Context, RecordSet, Section, build_sections, load_record_set

RECORDS = Path(__file__).resolve().parents[1] / "fixtures" / "records"
SITES = ("hal", "dgx", "thetagpu")


@pytest.fixture(scope="session")
def fixture_records() -> Callable[[str], list[dict]]:
    """The raw JSON of every three-site fixture record of one kind."""

    def of(kind: str) -> list[dict]:
        return [json.loads(p.read_text()) for p in sorted(RECORDS.glob(f"*/records/{kind}/*.json"))]

    return of


@pytest.fixture(scope="session")
def site_records() -> RecordSet:
    return load_record_set([RECORDS / s for s in SITES])


@pytest.fixture(scope="module")
def site_sections(
    site_records: RecordSet, tmp_path_factory: pytest.TempPathFactory
) -> dict[str, Section]:
    """Every section built from the three sites, by section id (figures in a temporary dir)."""
    ctx = Context(site_records, tmp_path_factory.mktemp("figures"))
    return {s.id: s for s in build_sections(ctx)}
