"""`fairhep report` end to end: what it writes (Markdown, self-contained HTML, CSVs), how the
renderers print "not run here" lines, notices and problems, which records it refuses, and
the command line. The numbers inside the tables are held by test_sections.py on the Section
objects; here only the renderer's own text is read.
"""

from __future__ import annotations

import json
import re
import shutil
import statistics
from pathlib import Path
from typing import Any

import pytest
from markupsafe import escape

from fairhep.cli import main
from fairhep.report import (
    Context,
    build_report,
    build_sections,
    load_record_set,
    notices,
    results_dirs,
)
from fairhep.results import RecordError, ResultRecord, read_record, write_record
from report_records import RECORDS, SITES, generated

PROVENANCE = {
    "fairhep_version": "0.1.0",
    "host": "vm",
    "os": "Linux",
    "arch": "x86_64",
    "python": "3.11",
    "packages": {},
}


def problems_of(md: str) -> str:
    return md.split("## Problems")[1].split("\n## ")[0]


@pytest.fixture(scope="module")
def replay(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str]:
    """The report of the three generated sites: its HTML path and its Markdown."""
    out = tmp_path_factory.mktemp("report")
    html = build_report([RECORDS / s for s in SITES], out)
    return html, (out / "report.md").read_text()


def test_html_is_self_contained(replay: tuple[Path, str]) -> None:
    html_path, md = replay
    html = html_path.read_text()
    srcs = re.findall(r'\bsrc="([^"]*)"', html)
    hrefs = re.findall(r'\bhref="([^"]*)"', html)
    assert srcs and all(s.startswith("data:image/png;base64,") for s in srcs)
    assert all(h.startswith("#") for h in hrefs)
    assert "<link" not in html and "<script" not in html and "@import" not in html
    n_figures = len(list((html_path.parent / "figures").glob("*.png")))
    assert len(srcs) == n_figures == md.count("](figures/") // 2
    for tid in ("table4", "table57", "table8", "figure4", "evaluate", "provenance"):
        assert f'id="t-{tid}"' in html
    assert "0.9545 ± 0.0005" in html
    tables = sorted(p.stem for p in (html_path.parent / "tables").glob("*.csv"))
    assert "table4" in tables and "table57_spread" in tables and "table8_skipped" not in tables


def test_generated_records_are_announced_and_marked_in_both_renderings(
    replay: tuple[Path, str],
) -> None:
    html_path, md = replay
    (notice,) = notices(load_record_set([RECORDS / s for s in SITES]))
    n = sum(1 for s in SITES for _ in (RECORDS / s).glob("records/*/*.json"))
    assert notice.startswith(f"{n} of {n} records are generated test fixtures, not measurements")
    html = html_path.read_text()
    assert f'<p class="notice">{escape(notice)}</p>' in html
    assert f"> **{notice}**" in md
    assert html.count('class="v-generated"') >= 30  # every platform cell of theirs
    assert f"| {generated('hal')} | fixture | 10 |" in md


def test_a_folder_without_records_is_nothing_to_report(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "empty" / "records" / "train").mkdir(parents=True)
    (tmp_path / "empty" / "local" / "smoke").mkdir(parents=True)
    assert main(["report", "--results", str(tmp_path / "empty"), "--out", str(tmp_path / "o")]) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "no result records here or below; nothing to report" in err
    assert not (tmp_path / "o").exists()


def test_a_report_goes_into_the_results_folder_it_reads(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """One place for reports, whichever command writes them: RESULTS/reports/ (as `fairhep
    bench` does), never ./reports of wherever the command was started."""
    results = Path(shutil.copytree(RECORDS / "hal", tmp_path / "hal"))
    assert main(["report", "--results", str(results)]) == 0
    (out,) = (results / "reports").iterdir()
    assert out.name.startswith("report-") and (out / "report.md").is_file()
    assert f"report: {out / 'report.md'}" in capsys.readouterr().out


def test_not_run_lines_are_printed_under_their_table(tmp_path: Path) -> None:
    # One record of a kind no table shows: every table of the report is "not run here".
    write_record(tmp_path / "empty", ResultRecord("other.kind", provenance=PROVENANCE))
    assert main(["report", "--results", str(tmp_path / "empty"), "--out", str(tmp_path / "o")]) == 0
    md = (tmp_path / "o" / "report.md").read_text()
    html = (tmp_path / "o" / "report.html").read_text()
    ctx = Context(load_record_set([tmp_path / "empty"]), tmp_path / "figs")
    lines = [(t.name, t.not_run) for s in build_sections(ctx) for t in s.tables if t.not_run]
    assert len(lines) >= 8
    for name, line in lines:
        assert f"*Not run here:* {line}\n" in md
        assert f'<p class="not-run" id="n-{name}">Not run here: {escape(line)}</p>' in html
    # A table with no rows prints no header row: only its line.
    assert "| Platform | GPU | Backend |" not in md and 'id="t-figure4"' not in html
    assert "missing" not in problems_of(md) and "None: every record was read." in md


def test_records_that_cannot_be_used_are_named_and_not_counted(tmp_path: Path) -> None:
    site = tmp_path / "hal"
    # Train records only: enough for the tables under test, and fewer figures to draw.
    shutil.copytree(RECORDS / "hal" / "records" / "train", site / "records" / "train")
    train_dir = site / "records" / "train"
    (train_dir / "broken_truncated.json").write_text('{"kind": "train", "metrics": {')
    good = json.loads(next(train_dir.glob("*.json")).read_text())
    del good["provenance"]
    (train_dir / "broken_schema.json").write_text(json.dumps(good))
    # Schema-valid but without the metrics a train row needs.
    rec = ResultRecord(kind="train", config={"seed": 99, "split": "kfold"},
                       metrics={"epochs": 3}, provenance={**PROVENANCE, "site": "hal"})
    empty_metrics = write_record(site, rec)
    failed = ResultRecord(kind="train", status="failed", config={"seed": 98, "split": "kfold"},
                          provenance=rec.provenance)
    failed.skip("training", "CUDA error: out of memory")
    failed_path = write_record(site, failed)
    records = load_record_set([site])
    assert len(records.problems) == 4
    n_good = len(list(train_dir.glob("*.json"))) - 4
    assert records.counts()["train"] == n_good
    out = build_report([site], tmp_path / "out")
    md = (tmp_path / "out" / "report.md").read_text()
    problems = problems_of(md)
    assert "broken_truncated.json" in problems and "not a readable JSON" in problems
    assert "broken_schema.json" in problems and "provenance" in problems
    assert empty_metrics.name in problems and "val_accuracy" in problems
    assert failed_path.name in problems and "status failed (training: CUDA error" in problems
    assert "every record was read" not in md
    read = (f"bench.concurrency 0, bench.default 0, bench.frameworks 0, bench.loadgen 0, "
            f"bench.sweep 0, evaluate 0, train {n_good}.")
    assert f"Records read: {read}" in md
    assert "Not counted: 4 record files that could not be read or used" in md
    assert "broken_schema.json" in out.read_text()
    # The good records still make the table.
    ctx = Context(records, tmp_path / "figs")
    t4 = next(s for s in build_sections(ctx) if s.id == "table4").table("table4")
    recs = [json.loads(p.read_text()) for p in (RECORDS / "hal/records/train").glob("*.json")]
    acc = [r["metrics"]["val_accuracy"] for r in recs if r["config"]["split"] == "kfold"]
    assert t4.one(Source="fixture").values["accuracy_mean"] == pytest.approx(
        statistics.mean(acc), abs=1e-12
    )


def test_a_record_of_a_newer_schema_is_refused_by_file_name(tmp_path: Path) -> None:
    """Issue 11 item 5: a record this reader's schema does not know (a newer schema_version,
    an unknown field) is listed under Problems and not counted."""
    site = tmp_path / "local"
    src = next((RECORDS / "real" / "bench-local" / "records" / "train").glob("*.json"))
    newer = json.loads(src.read_text())
    newer |= {"schema_version": "9.0", "calibration": {"temperature": 1.3}}
    newer["record_id"] = "newer0000001"
    path = site / "records" / "train" / "20991231T000000000000Z_vm_newer0000001.json"
    path.parent.mkdir(parents=True)
    path.write_text(json.dumps(newer))
    shutil.copy(src, path.parent / src.name)
    try:
        read_record(path)
    except RecordError:
        pass
    else:
        pytest.skip("this reader accepts schema_version 9.0 (the records store's check of "
                    "schema versions, issue 11 item 5, is not in this tree)")
    records = load_record_set([site])
    assert records.counts()["train"] == 1 and [r.file for r in records.of("train")] == [
        f"records/train/{src.name}"
    ]
    (problem,) = records.problems
    assert path.name in problem
    build_report([site], tmp_path / "out")
    md = (tmp_path / "out" / "report.md").read_text()
    assert path.name in problems_of(md) and "every record was read" not in md
    assert "Not counted: 1 record file that could not be read or used" in md


def test_report_checks_its_output_location_first(
    read_only_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Issue 11 item 6: an unwritable --out is one line naming it and the fix, before any
    record is read; nothing is written."""
    out = read_only_dir / "report"
    rc = main(["report", "--results", str(RECORDS / "hal"), "--out", str(out)])
    err = capsys.readouterr().err
    assert rc == 1 and err.count("\n") == 1 and "Traceback" not in err
    assert err.startswith(f"fairhep report: error: {out}: report directory is not writable (")
    assert err.rstrip().endswith("choose another with --out")
    assert not out.exists()


def test_campaign_directory_and_bad_arguments(
    replay: tuple[Path, str], tmp_path: Path, capsys: pytest.CaptureFixture[str], fixture_records
) -> None:
    # A campaign directory holding one results directory per site is searched below.
    assert results_dirs([RECORDS]) == sorted(
        [RECORDS / s for s in SITES]
        + [RECORDS / "real" / "bench-local", RECORDS / "real" / "smoke-local"]
    )
    assert results_dirs([RECORDS / "hal", RECORDS / "hal"]) == [RECORDS / "hal"]
    counts = {
        k: len(fixture_records(k))
        for k in ("bench.concurrency", "bench.default", "bench.frameworks", "bench.loadgen",
                  "bench.sweep", "evaluate", "train")
    }
    assert ("Records read: " + ", ".join(f"{k} {n}" for k, n in counts.items())) in replay[1]
    assert "Not counted" not in replay[1]
    assert main(["report", "--results", str(tmp_path / "nope"), "--out", str(tmp_path / "o")]) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "nope: results directory does not exist" in err


def toy_train(
    site: str, acc: float, auc: float, model: tuple[int, int, int] = (8, 4, 4), n: int = 300,
    run: str = "runs/toy"
) -> ResultRecord:
    return ResultRecord(
        kind="train",
        config={
            "seed": 0,
            "split": "kfold",
            "fold": 0,
            "run": run,
            "model": dict(zip(("hidden", "de", "do"), model, strict=True)),
            "split_detail": {"method": "kfold", "n_train": n, "n_valid": 100},
        },
        metrics={"val_accuracy": acc, "val_auc": auc, "val_loss": 0.5, "epochs": 4},
        timings={"train_s_per_epoch": 6.3, "valid_s_per_epoch": 0.5},
        # Measured in a Slurm job of the site: the site names the platform.
        provenance={**PROVENANCE, "site": site, "slurm": {"job_id": "1"}},
    )


def test_toy_runs_do_not_borrow_the_papers_seed_spread(tmp_path: Path) -> None:
    # One toy-size run per platform: no seed spread of its own, and the paper's 0.0005 is for
    # the baseline IN on 5.2 M jets, so no verdict against the paper; identical runs on two
    # platforms are consistent with each other whatever the spread.
    for site in ("hal", "dgx"):
        write_record(tmp_path / site, toy_train(site, 0.84, 0.8556))
    # Same platform and seed, another setup (the bench default): a separate row, not a re-run.
    write_record(
        tmp_path / "hal", toy_train("hal", 0.935, 0.9598, (60, 20, 24), 8000, "runs/bench")
    )
    ctx = Context(load_record_set([tmp_path / "hal", tmp_path / "dgx"]), tmp_path / "figs")
    secs = {s.id: s for s in build_sections(ctx)}
    t4 = secs["table4"].table("table4").where(Source="ours")
    assert sorted(
        (r["Platform"], r["Model h/D_E/D_O, train jets"], r["Val. accuracy"]) for r in t4
    ) == [
        ("dgx", "8/4/4, 300 jets", "0.8400"),
        ("hal", "60/20/24, 8000 jets", "0.9350"),
        ("hal", "8/4/4, 300 jets", "0.8400"),
    ]
    main_t, spread = secs["table57"].table("table57"), secs["table57"].table("table57_spread")
    hal = main_t.where(Split="kfold", Platform="hal", Source="ours")
    assert [r["Model h/D_E/D_O, train jets"] for r in hal] == [
        "60/20/24, 8000 jets",
        "8/4/4, 300 jets",
    ]
    assert all(r["Verdict"].startswith("undetermined: one run") for r in hal)
    ours = spread.one(Source="ours [8/4/4, 300 jets]", Quantity="accuracy")
    assert ours["Method"] == "identical group means" and ours.verdict == "consistent"


def test_real_records_replay(real_sections: dict[str, Any]) -> None:
    """Records written by the real bench and smoke campaign on a CPU-only VM."""
    real = RECORDS / "real"
    records = load_record_set([real])
    assert records.problems == () and notices(records) == []
    t4 = real_sections["table4"].table("table4")
    bench = json.loads(next(real.glob("bench-local/records/train/*.json")).read_text())
    (row,) = [
        r for r in t4.where(Source="ours")
        if r["Model h/D_E/D_O, train jets"].startswith("60/20/24")
    ]
    assert row["Val. accuracy"] == f"{bench['metrics']['val_accuracy']:.4f}"
    assert row["Verdict"] == "undetermined (needs ≥ 2 seeds)"
    campaign = real_sections["campaign"].table("campaign")
    n_tasks = len(list(real.glob("*/records/campaign.task/*.json")))
    assert sum(int(r["Done"]) for r in campaign.rows) == n_tasks
