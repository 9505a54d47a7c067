"""The records a report reads: which directories, which records count, and why others do not."""

from __future__ import annotations

from pathlib import Path

from fairhep.report import GENERATED, RecordSet, load_record_set, platform_label
from fairhep.report.recordset import read_record
from fairhep.results import ResultRecord, kinds, write_record
from report_records import SITES, generated

PROVENANCE = {
    "fairhep_version": "0.1.0",
    "host": "node7",
    "os": "Linux",
    "arch": "x86_64",
    "python": "3.11",
    "packages": {},
}


def test_the_three_sites_by_kind(site_records: RecordSet, fixture_records) -> None:
    counts = site_records.counts()
    assert list(counts) == sorted(kinds.REPORTED)  # every kind a report reads, even at 0
    for kind in kinds.REPORTED:
        assert counts[kind] == len(fixture_records(kind)) == len(site_records.of(kind))
    assert site_records.problems == ()
    assert {r.platform for r in site_records.all()} == {generated(s) for s in SITES}
    assert all(r.generated and r.generated.startswith("fixture: ") for r in site_records.all())
    sweep = next(
        r for r in site_records.of(kinds.BENCH_SWEEP) if r.platform == generated("thetagpu")
    )
    assert sweep.gpu == "NVIDIA A100-SXM4-40GB"
    assert sweep.file.startswith("records/bench.sweep/") and sweep.file.endswith(".json")


def test_platform_is_the_site_of_its_scheduler_jobs_else_the_gpu_else_the_host() -> None:
    gpu = {"available": True, "devices": [{"name": "NVIDIA H100"}]}
    slurm = {"job_id": "81001"}
    in_a_job = {**PROVENANCE, "site": "hal", "slurm": slurm}
    assert platform_label(ResultRecord("train", provenance=in_a_job)) == "hal"
    assert platform_label(ResultRecord("train", provenance={**PROVENANCE, "gpu": gpu})) == (
        "NVIDIA H100"
    )
    assert platform_label(ResultRecord("train", provenance=PROVENANCE)) == "node7"
    # The local site is this machine: its campaign's records are named like ad-hoc runs.
    local = {**PROVENANCE, "site": "local", "slurm": None}
    assert platform_label(ResultRecord("train", provenance=local)) == "node7"
    made_up = {**in_a_job, "generated": "fixture: drawn by a script"}
    assert platform_label(ResultRecord("train", provenance=made_up)) == f"hal ({GENERATED})"


def test_records_that_do_not_count_say_why(tmp_path: Path) -> None:
    failed = ResultRecord("evaluate", status="failed", provenance=PROVENANCE)
    failed.skip("evaluation", "data file missing")
    lacking = ResultRecord("train", metrics={"val_accuracy": 0.95}, provenance=PROVENANCE)
    frameworks = ResultRecord("bench.frameworks", status="skipped", provenance=PROVENANCE)
    paths = [write_record(tmp_path, r) for r in (failed, lacking, frameworks)]
    got = [read_record(p, tmp_path) for p in paths]
    assert got[0] == (
        f"{paths[0]}: evaluate record (node7) has status failed "
        "(evaluation: data file missing) — not counted"
    )
    assert got[1] == f"{paths[1]}: train record (node7) without numeric metrics val_auc — skipped"
    # Frameworks and sweeps list their skipped backends themselves.
    assert not isinstance(got[2], str) and got[2].gpu == "no GPU"
    rs = load_record_set([tmp_path])
    assert rs.dirs == (tmp_path,)
    assert rs.problems == tuple(got[:2])
    assert rs.counts()["bench.frameworks"] == 1 and rs.counts()["train"] == 0


def test_the_local_campaigns_below_the_results_folder_are_read_with_its_own_records(
        tmp_path: Path) -> None:
    """./results holds ad-hoc records in records/ and the campaigns of the local site in
    <site>/<campaign>/records/: a report over ./results reads both."""
    import shutil

    from report_records import RECORDS

    results = tmp_path / "results"
    shutil.copytree(RECORDS / "real" / "bench-local", results)
    shutil.copytree(RECORDS / "real" / "smoke-local", results / "local" / "smoke")
    (results / "reports" / "bench-20261123-151831").mkdir(parents=True)  # no records there
    got = load_record_set([results])
    assert got.dirs == (results, results / "local" / "smoke")
    assert len(got.of(kinds.CAMPAIGN_TASK)) == 11 and len(got.of(kinds.BENCH_DEFAULT)) == 1
    assert got.problems == ()
    # One machine: the campaign of its `local` site and its ad-hoc bench are one platform.
    assert {r.platform for r in got.all()} == {"vm"}
