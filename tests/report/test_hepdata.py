"""`fairhep publish` and `fairhep report --published SUBMISSION`: a report's tables as a
HEPData submission that hepdata-validator accepts, read back (folder, .tar.gz, the .zip HEPData
serves) with the same values, and the cross-platform summary over local and published
platforms. Records: the real smoke-campaign records and the generated dgx fixture site."""

from __future__ import annotations

import math
import shutil
import zipfile
from pathlib import Path

import pytest
import yaml

from fairhep.cli import main
from fairhep.report import Context, Section, Table, build_sections, load_record_set
from fairhep.report.hepdata.cells import parse, same
from fairhep.report.hepdata.read import read_submission
from fairhep.report.hepdata.write import PublishError, validate_folder, write_submission
from fairhep.report.sections import cross_platform
from report_records import RECORDS

# The `publish` extra: a stack's image need not carry it (publishing is done off the GPU nodes).
for _module in ("hepdata_lib", "hepdata_validator"):
    pytest.importorskip(_module, reason=f"{_module} not installed: pip install 'fairhep[publish]'")

REAL = RECORDS / "real"
QUALIFIERS = ("Platform", "GPU", "Stack", "Image digest", "fairhep", "git", "Records")


@pytest.fixture(scope="module")
def published(
    tmp_path_factory: pytest.TempPathFactory,
) -> tuple[Path, dict[str, Table], list[Section]]:
    """A submission written by the command from the smoke campaign's records, and the
    sections it was written from."""
    tmp = tmp_path_factory.mktemp("publish")
    bundle = tmp / "bundle"
    bundle.mkdir()
    (bundle / "model_card.json").write_text("{}\n")
    assert main(["publish", "--results", str(REAL), "--out", str(tmp / "sub"),
                 "--bundle", str(bundle)]) == 0
    sections = build_sections(Context(load_record_set([REAL]), tmp / "figures"))
    return tmp / "sub", {t.name: t for s in sections for t in s.tables}, sections


def test_submission_is_valid_hepdata_with_units_qualifiers_and_bundle(published) -> None:
    sub = published[0]
    assert validate_folder(sub) == []
    docs = [d for d in yaml.safe_load_all((sub / "submission.yaml").read_text()) if d]
    resources = docs[0]["additional_resources"]
    assert any(r["location"] == "bundle.tar.gz" for r in resources)
    assert (sub / "bundle.tar.gz").is_file() and sub.with_name("sub.tar.gz").is_file()
    names = {d["name"] for d in docs[1:]}
    # Tables 4, 5/7, 8, Figure 4 (table and curves), 9, 10 of the report
    for want in ("table4 vm", "table57 vm", "table8 vm", "figure4 vm", "table9", "table10"):
        assert want in names
    assert any(n.startswith("figure4 curve") for n in names)
    t8 = yaml.safe_load((sub / "table8_vm.yaml").read_text())
    t1 = next(v for v in t8["dependent_variables"] if v["header"]["name"] == "Time/batch 1")
    assert t1["header"]["units"] == "ms"
    quals = {q["name"]: q["value"] for q in t1["qualifiers"]}
    assert set(QUALIFIERS) <= set(quals) and quals["Platform"] == "vm"
    assert isinstance(t1["values"][0]["value"], float)


def test_round_trip_gives_the_same_table_values(published, tmp_path: Path) -> None:
    sub, local, _ = published
    # HEPData serves a zip with the submission one folder down
    served = tmp_path / "HEPData-ins0-v1-yaml.zip"
    with zipfile.ZipFile(served, "w") as zf:
        for f in sub.glob("*.yaml"):
            zf.write(f, f"HEPData-ins0-v1-yaml/{f.name}")
    for source in (sub, sub.with_name("sub.tar.gz"), served):
        back = read_submission(source)
        compared = 0
        for pt in back.tables:
            if pt.name not in local:
                assert pt.name == "figure4 curve"
                continue
            mine = local[pt.name]
            assert pt.table.headers == mine.headers
            rows = [r for r in mine.rows if not pt.platform or r["Platform"] == pt.platform]
            assert len(rows) == len(pt.table.rows)
            for a, b in zip(rows, pt.table.rows, strict=True):
                for h in mine.headers:
                    assert same(a[h], b[h]), (pt.name, h, a[h], b[h])
                    compared += 1
        assert compared > 200


def test_cells_keep_numbers_and_uncertainties() -> None:
    assert parse("0.9545 ± 0.0005").value == 0.9545 and parse("0.9545 ± 0.0005").error == 5e-4
    assert parse("509 (128)").value == "509 (128)"
    assert same("0.9350", "0.935") and not same("0.9350", "0.9351")


def test_invalid_submission_is_refused_and_nothing_written(published, tmp_path: Path,
                                                          monkeypatch) -> None:
    sub = published[0]
    broken = tmp_path / "broken"
    shutil.copytree(sub, broken)
    data = yaml.safe_load((broken / "table9.yaml").read_text())
    del data["dependent_variables"][0]["values"]
    (broken / "table9.yaml").write_text(yaml.safe_dump(data))
    assert validate_folder(broken)
    # the writer validates before anything appears at --out
    from fairhep.report.hepdata import write

    monkeypatch.setattr(write, "validate_folder", lambda _folder: ["table9.yaml: broken"])
    with pytest.raises(PublishError, match="nothing was written"):
        write_submission(published[2], tmp_path / "out")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["broken"]


def test_report_published_shows_the_cross_platform_summary(published, tmp_path: Path) -> None:
    sub = published[0]
    out = tmp_path / "report"
    assert main(["report", "--results", str(RECORDS / "dgx"), "--published", str(sub),
                 "--out", str(out)]) == 0
    text = (out / "report.md").read_text()
    assert text.index("## Cross-platform summary") < text.index("## Table 4")
    assert "## Published results beside local ones" in text
    records = load_record_set([RECORDS / "dgx"])
    ctx = Context(records, tmp_path / "figs", submissions=(read_submission(sub),))
    summary = cross_platform.build(ctx, build_sections(ctx))
    table = summary.tables[0]
    paper = table.rows[0]
    assert paper.verdict == "reference" and paper.values["geomean"] == pytest.approx(1.0)
    vm = table.one(Platform="vm")
    assert vm["Source"] == str(sub)
    # vm's Figure 4 peak: 509 jets/s against the paper's 35000
    assert vm.values["ratio_peak"] == pytest.approx(509 / 35000)
    ratios = [v for k, v in vm.values.items() if k.startswith("ratio_")]
    assert vm.values["geomean"] == pytest.approx(math.prod(ratios) ** (1 / len(ratios)))
    assert len(table.where(Source="local records")) == 1


def test_bad_submission_and_reference_are_one_line_errors(tmp_path: Path, capsys) -> None:
    (tmp_path / "empty").mkdir()
    assert main(["report", "--results", str(RECORDS / "dgx"), "--published",
                 str(tmp_path / "empty"), "--out", str(tmp_path / "r")]) != 0
    err = capsys.readouterr().err.strip()
    assert "no submission.yaml" in err and len(err.splitlines()) == 1
    assert not (tmp_path / "r").exists()


def test_scaling_and_latency_sections_are_published_where_present() -> None:
    from fairhep.report.hepdata.write import hepdata_tables
    from fairhep.report.section import Section, Table, row

    headers = ("Platform", "Scenario", "p99 [ms]")
    latency = Section("latency", "Latency", tables=(Table("latency", headers, (
        row(headers, ["vm", "SingleStream", "1.25"]), row(headers, ["dgx", "Server", "0.5"]),
    )),))
    other = Section("campaign", "Campaign tasks", tables=(Table("campaign", headers, (
        row(headers, ["vm", "x", "1"]),)),))
    tables = hepdata_tables([latency, other])
    assert sorted(t.name for t in tables) == ["latency dgx", "latency vm"]
    p99 = next(v for v in tables[0].variables if v.name == "p99")
    assert p99.units == "ms" and p99.values == [1.25]


def test_a_relative_out_is_written_where_it_says(published, tmp_path: Path,
                                                 monkeypatch) -> None:
    # As a reader types it: `fairhep publish --out submission` in the working directory
    # (hepdata_lib is run from inside the staging folder, so a relative stage went astray).
    monkeypatch.chdir(tmp_path)
    done = write_submission(published[2], Path("submission"))
    assert validate_folder(tmp_path / "submission") == []
    assert (tmp_path / "submission.tar.gz").is_file()
    assert done.folder.resolve() == tmp_path / "submission"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["submission", "submission.tar.gz"]
