"""The reference pages are generated from the code and data files: whatever a site file,
campaign file, stack, record or published table holds, the generated Markdown names it, and
the build configuration (make docs, Read the Docs) is one."""

from __future__ import annotations

import dataclasses
import importlib.util
import re
import sys
from pathlib import Path
from types import ModuleType

import pytest
import yaml

from fairhep import campaign, published, sites
from fairhep.cli import build_parser
from fairhep.configfile import read_toml
from fairhep.containers.stacks import STACKS_FILE, load_stacks
from fairhep.results.record import RECORD_JSON_SCHEMA

REPO = Path(__file__).resolve().parents[2]
DOCS = REPO / "docs"


@pytest.fixture(scope="module")
def ref() -> ModuleType:
    spec = importlib.util.spec_from_file_location("fairhep_reference",
                                                  DOCS / "_ext" / "fairhep_reference.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules.setdefault("fairhep_reference", module)
    spec.loader.exec_module(module)
    return module


def _leaf_keys(cls: type, prefix: str = "") -> set[str]:
    keys = set()
    for f in dataclasses.fields(cls):
        if not f.init:
            continue
        default = f.default_factory() if f.default_factory is not dataclasses.MISSING else None
        if dataclasses.is_dataclass(default):
            keys |= _leaf_keys(type(default), f"{prefix}{f.name}.")
        else:
            keys.add(f"{prefix}{f.name}")
    return keys


def test_site_reference_names_every_key(ref: ModuleType) -> None:
    text = ref.site_keys()
    assert {k for k in _leaf_keys(sites.Site) if f"`{k}`" not in text} == set()
    # The source comments are quoted, and the allowed values come from the code.
    assert "array throttle %N" in text and "One of: slurm, local" in text


def test_campaign_reference_names_every_section_and_key(ref: ModuleType) -> None:
    text = ref.campaign_sections()
    for kind in campaign.KINDS:
        assert f"## `[{kind}]`" in text
    missing = {k for k in _leaf_keys(campaign.Campaign) if f"`{k}`" not in text}
    assert missing == set()
    assert "`ablate.variants[].hidden`" in text  # the array of tables, with its keys


def test_stacks_reference_names_every_stack_and_pin(ref: ModuleType) -> None:
    text = ref.stacks()
    loaded = load_stacks(REPO / STACKS_FILE)
    for stack in loaded.stacks.values():
        assert f"## `{stack.id}`" in text and stack.torch in text
        assert all(f"`{pin}`" in text for pin in stack.pip)
    assert all(f"`{pin}`" in text for pin in loaded.common_pip)


def test_record_reference_is_the_schema(ref: ModuleType) -> None:
    text = ref.record_schema()
    assert all(f"`{name}`" in text for name in RECORD_JSON_SCHEMA["properties"])
    assert "`bench.frameworks`" in text and "`xai.mask`" in text


def test_published_reference_shows_every_table_as_printed(ref: ModuleType) -> None:
    text = ref.published()
    for name in published.TABLES:
        data = published.load(name)
        head = data.get("table") or data["figure"]
        assert f"## {head['title']}" in text
        for caveat in head.get("caveats", []):
            assert f"- {caveat}" in text
    assert "| 0.11757 |" in text  # Table 5's val_loss, the digits the paper printed


def test_commands_overview_is_the_parser(ref: ModuleType) -> None:
    text = ref.commands()
    sub = next(a for a in build_parser()._actions if a.dest == "command")
    assert sub.choices is not None
    assert all(f"`fairhep {name}`" in text for name in sub.choices)
    assert "`fairhep containers build`" in text and "`fairhep xai mask`" in text


def test_measurements_say_how_where_and_when(ref: ModuleType, tmp_path: Path) -> None:
    entries = ref.measurements()
    assert {"make_run", "make_test", "tests_collected"} <= set(entries)
    assert "(`time make run`, " in ref.measured("make_run")
    bad = tmp_path / "measured.toml"
    bad.write_text('[x]\nvalue = "3 s"\nwhat = "a run"\ncommand = "time x"\n')
    with pytest.raises(ValueError, match=r"\[x\] lacks date, machine"):
        ref.measurements(bad)


def test_every_page_cited_measurement_exists(ref: ModuleType) -> None:
    cited = {m for page in DOCS.rglob("*.md") for m in
             re.findall(r"\{measured\}`([^`]+)`", page.read_text())}
    assert cited and cited <= set(ref.measurements())


def test_cli_reference_is_read_from_the_parser() -> None:
    page = (DOCS / "reference" / "cli.md").read_text()
    assert "```{argparse}" in page and ":func: cli_parser" in page
    assert not re.search(r"^\s*--[a-z]", page, re.M)  # no option typed by hand


def test_read_the_docs_builds_what_make_docs_builds() -> None:
    config = yaml.safe_load((REPO / ".readthedocs.yaml").read_text())
    assert config["sphinx"] == {"configuration": "docs/conf.py", "builder": "html",
                                "fail_on_warning": True}
    (install,) = config["python"]["install"]
    assert "docs" in install["extra_requirements"]
    pyproject = read_toml(REPO / "pyproject.toml")
    assert pyproject["project"]["optional-dependencies"]["docs"]
    makefile = (REPO / "Makefile").read_text()
    assert re.search(r"^docs: .*\n\t.*sphinx-build .*-W .*docs ", makefile, re.M)


def test_every_page_is_in_a_toctree() -> None:
    # Sphinx warns (an error under -W) about an orphan; this says which, without a build.
    index = (DOCS / "index.md").read_text() + (DOCS / "reference" / "index.md").read_text()
    pages = {p.relative_to(DOCS).with_suffix("").as_posix() for p in DOCS.rglob("*.md")
             if "_build" not in p.parts} - {"index"}
    listed = {line.strip() for line in index.splitlines()}
    orphans = {p for p in pages
               if p not in listed and p.removeprefix("reference/") not in listed}
    assert orphans == set()


def test_readme_is_a_landing_page() -> None:
    readme = (REPO / "README.md").read_text()
    assert len(readme.encode()) < 8 * 1024
    quick = readme.split("## Quick start", 1)[1].split("\n## ", 1)[0]
    assert re.findall(r"^make (\w+)", quick, re.M) == ["run", "test"]
    links = re.findall(r"\]\(([^)#]+)\)", readme)
    assert any(link.startswith("docs/tutorials/") for link in links)
    assert [link for link in links if not (REPO / link).exists()] == []
