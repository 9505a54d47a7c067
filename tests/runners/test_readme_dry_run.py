"""The `--dry-run` output quoted in the docs (the clusters guide, which holds what README.md
quoted) and runners/README.md is what `--dry-run` prints:
every quoted section (`# ---- <file> ----`, `# ---- submission ... ----`) equals the same
section of a fresh dry run of that site and campaign."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from fairhep.campaign import load_campaign
from fairhep.runners import submit
from fairhep.sites import load_site
from fairhep.tasks import TaskContext

REPO = Path(__file__).resolve().parents[2]
READMES = ("README.md", "docs/guides/clusters.md", "runners/README.md")
BLOCK = re.compile(r"```bash\n(# ---- .*?)```", re.DOTALL)


def sections(text: str) -> dict[str, str]:
    out: dict[str, list[str]] = {}
    header = None
    for line in text.splitlines():
        if line.startswith("# ---- ") and line.endswith(" ----"):
            header = line
            out[header] = []
        elif header is not None:
            out[header].append(line)
    return {h: "\n".join(lines).rstrip("\n") for h, lines in out.items()}


def quoted_blocks() -> list[tuple[str, str]]:
    return [(readme, block) for readme in READMES
            for block in BLOCK.findall((REPO / readme).read_text())]


def test_the_readmes_quote_dry_runs() -> None:
    assert len([r for r, _ in quoted_blocks() if r == "runners/README.md"]) >= 3
    assert len([r for r, _ in quoted_blocks() if r == "docs/guides/clusters.md"]) >= 3


@pytest.mark.parametrize(("readme", "block"), quoted_blocks())
def test_quoted_dry_run_equals_a_fresh_one(readme: str, block: str) -> None:
    quoted = sections(block)
    first = Path(next(iter(quoted)).removeprefix("# ---- ").removesuffix(" ----"))
    site, campaign = first.parts[-4], first.parts[-3]  # RESULTS/SITE/CAMPAIGN/jobs/KIND.sbatch
    lines: list[str] = []
    submit(TaskContext.create(load_site(site), load_campaign(campaign)), dry_run=True,
           array_size=1001, echo=lines.append)
    fresh = sections("\n".join(lines))
    for header, text in quoted.items():
        assert header in fresh, f"{readme}: {header} is not in the dry run of {site}"
        assert text == fresh[header], f"{readme}: {header} differs from a fresh dry run"
