"""The sections of a report, one module per table or figure of the paper, in report order.

Each module has ``ID`` (the section's anchor) and ``build(ctx) -> Section``. A new section is a
new module and one line in :data:`SECTIONS`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from fairhep.errors import ConfigError
from fairhep.report.context import Context
from fairhep.report.section import Section
from fairhep.report.sections import (
    bench_default,
    campaign,
    evaluation,
    figure4,
    latency,
    provenance,
    scaling,
    table4,
    table8,
    table57,
    xai,
    xai_figures,
)


@dataclass(frozen=True)
class SectionSpec:
    id: str
    build: Callable[[Context], Section]


SECTIONS: tuple[SectionSpec, ...] = (
    SectionSpec(table4.ID, table4.build),
    SectionSpec(table57.ID, table57.build),
    SectionSpec(table8.ID, table8.build),
    SectionSpec(figure4.ID, figure4.build),
    SectionSpec(latency.ID, latency.build),
    SectionSpec(scaling.ID, scaling.build),
    SectionSpec(evaluation.ID, evaluation.build),
    SectionSpec(bench_default.ID, bench_default.build),
    SectionSpec(campaign.ID, campaign.build),
    SectionSpec(provenance.ID, provenance.build),
    SectionSpec(xai_figures.ID, xai_figures.build),
    SectionSpec(xai.ID, xai.build),
)


def build_sections(ctx: Context, specs: tuple[SectionSpec, ...] = SECTIONS) -> list[Section]:
    """Every section; one that fails says so in its place and under Problems, and costs the
    others nothing."""
    sections = []
    for spec in specs:
        try:
            sections.append(spec.build(ctx))
        except ConfigError:
            raise  # the published values themselves are broken: nothing to compare with
        except Exception as exc:  # one odd record must not cost the other sections
            why = f"{type(exc).__name__}: {exc}"
            sections.append(
                Section(
                    spec.id,
                    f"{spec.id} — not built",
                    f"missing: this section failed ({why}); see Problems.",
                    problems=(f"section {spec.id} could not be built: {why}",),
                )
            )
    return sections
