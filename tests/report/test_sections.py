"""Report sections as objects: rows, cells, verdicts, "not run here" lines and the numbers
behind them, built from the recorded records (tests/fixtures/records) without rendering.

Expected numbers are recomputed here from the fixture JSON (statistics module, the normal tail
written out with math.erfc), independently of fairhep.stats.
"""

from __future__ import annotations

import csv
import math
import statistics
from pathlib import Path
from typing import Any

import pytest

from fairhep import plots
from fairhep.errors import ConfigError
from fairhep.report import (
    SECTIONS,
    Context,
    RecordSet,
    Section,
    build_sections,
    load_record_set,
)
from fairhep.report.section import Table, row
from fairhep.report.sections import SectionSpec
from fairhep.results import ResultRecord, write_record
from report_records import SITES, generated

VERDICTS = {"consistent", "tension", "inconsistent", "undetermined"}


def normal_sf(z: float) -> float:
    return 0.5 * math.erfc(z / math.sqrt(2))


def verdict_of(p: float) -> str:
    return "consistent" if p >= 0.05 else "tension" if p >= 0.01 else "inconsistent"


def mean_std(xs: list[float], digits: int = 4) -> str:
    return f"{statistics.mean(xs):.{digits}f} ± {statistics.stdev(xs):.{digits}f}"


def site_of(rec: dict[str, Any]) -> str:
    return generated(rec["provenance"]["site"])


def test_sections_are_listed_once_in_report_order(site_sections: dict[str, Section]) -> None:
    ids = [s.id for s in SECTIONS]
    assert ids == [
        "table4", "table57", "table8", "figure4", "latency", "scaling", "evaluate",
        "bench_default", "campaign", "provenance", "xai_figures", "xai",
    ]
    assert list(site_sections) == ids


def test_table4_rows_values_and_verdicts(
    site_sections: dict[str, Section], fixture_records
) -> None:
    sec = site_sections["table4"]
    t4 = sec.table("table4")
    paper = t4.one(Source="paper (this work)")
    assert paper["Val. accuracy"] == "0.9545 ± 0.0005" and paper.verdict is None
    assert paper["p (accuracy ≥ 0.9550)"] == "12.69%"
    for site in SITES:
        recs = [
            r for r in fixture_records("train")
            if r["provenance"]["site"] == site and r["config"]["split"] == "kfold"
        ]
        acc = [r["metrics"]["val_accuracy"] for r in recs]
        auc = [r["metrics"]["val_auc"] for r in recs]
        ours = t4.one(Platform=generated(site), Source="fixture")
        assert ours.values["n"] == len(recs) and ours["Seeds"] == str(len(recs))
        assert ours.values["accuracy_mean"] == pytest.approx(statistics.mean(acc), abs=1e-12)
        assert ours.values["accuracy_std"] == pytest.approx(statistics.stdev(acc), rel=1e-9)
        assert ours["Val. accuracy"] == mean_std(acc) and ours["AUC"] == mean_std(auc)
        p_acc = normal_sf((0.9550 - statistics.mean(acc)) / statistics.stdev(acc))
        p_auc = normal_sf((0.9900 - statistics.mean(auc)) / statistics.stdev(auc))
        assert ours.values["p_accuracy"] == pytest.approx(p_acc, rel=1e-9)
        assert ours.values["p_auc"] == pytest.approx(p_auc, rel=1e-9)
        assert ours["p (accuracy ≥ 0.9550)"] == f"{100 * p_acc:.2f}%"
        assert ours.verdict == verdict_of(min(p_acc, p_auc)) == ours["Verdict"]
    assert t4.not_run == ""
    # The candidate p-value methods on the paper's own numbers (stats module docstring).
    methods = sec.table("table4_p_methods")
    assert {r["Method"]: r.verdict for r in methods.rows} == {
        "normal": "compatible", "student": "compatible", "prediction": "incompatible",
    }
    assert [f.png.name for f in sec.figures] == ["table4_accuracy.png", "table4_auc.png"]
    assert all(f.png.is_file() and f.csv.is_file() for f in sec.figures)


def test_table57_cells_not_run_line_and_spread(
    site_sections: dict[str, Section], fixture_records
) -> None:
    sec = site_sections["table57"]
    main, spread = sec.table("table57"), sec.table("table57_spread")
    # The fixtures' deliberate gap is one line, not a grey row.
    assert main.not_run == "points on thetagpu (no train records with that split there)"
    assert all(r.verdict != "missing" for r in main.rows)
    assert not main.where(Split="files", Platform="dgx")  # neither published nor measured
    published = {(r["Split"], r["Platform"]): r for r in main.where(Source="paper")}
    assert published[("points", "thetagpu")]["Train (valid) time/epoch [s]"] == "233.97 (10.8)"
    assert published[("files", "hal")]["Val. loss"] == "0.11757"
    measured = main.where(Source="fixture")
    assert len(measured) == 6 and all(r.verdict in VERDICTS for r in measured)
    for r in measured:
        site = r["Platform"].split(" ")[0]
        recs = [
            x for x in fixture_records("train")
            if x["provenance"]["site"] == site and x["config"]["split"] == r["Split"]
        ]
        acc = [x["metrics"]["val_accuracy"] for x in recs]
        auc = [x["metrics"]["val_auc"] for x in recs]
        assert r.values["runs"] == len(recs) and r["Runs"] == str(len(recs))
        assert r["Val. loss"] == mean_std([x["metrics"]["val_loss"] for x in recs])
        tt = statistics.mean(x["timings"]["train_s_per_epoch"] for x in recs)
        tv = statistics.mean(x["timings"]["valid_s_per_epoch"] for x in recs)
        assert r["Train (valid) time/epoch [s]"] == f"{tt:.1f} ({tv:.1f})"
        assert r["Epochs"] == f"{statistics.mean(x['metrics']['epochs'] for x in recs):.1f}"
        pub = published[(r["Split"], site)]
        ps = []
        for vals, key, col in ((acc, "p_accuracy", "Val. accuracy"), (auc, "p_auc", "AUC")):
            z = (statistics.mean(vals) - float(pub[col])) / (
                statistics.stdev(vals) * math.sqrt(1 + 1 / len(vals))
            )
            ps.append(2 * normal_sf(abs(z)))
            assert r.values[key] == pytest.approx(ps[-1], rel=1e-6, abs=1e-15)
        assert r.verdict == verdict_of(min(ps))
        assert r["Verdict"].startswith(f"{r.verdict} (p_acc ")
    # The paper's own Method 1 accuracies against Table 4's seed spread: chi2 = 9.92, 2 dof.
    paper_kfold = spread.one(
        Source="paper (Table 7)", Within="kfold", Quantity="accuracy", Comparison="across platforms"
    )
    assert paper_kfold.values["statistic"] == pytest.approx(9.92, abs=0.005)
    assert paper_kfold["Statistic"] == "9.92"
    assert paper_kfold.values["p"] == pytest.approx(math.exp(-9.92 / 2), rel=1e-3)
    assert paper_kfold.verdict == "inconsistent"
    ours = spread.one(
        Source="fixture", Within="kfold", Quantity="accuracy", Comparison="across platforms"
    )
    assert ours["Groups"] == ", ".join(generated(s) for s in SITES)
    assert ours["Method"].startswith("one-way ANOVA") and ours.values["dof"] == 2
    assert spread.not_run == ""


def test_table8_parity_timings_and_what_did_not_run(
    site_sections: dict[str, Section], fixture_records
) -> None:
    sec = site_sections["table8"]
    ours = sec.table("table8")
    for rec in fixture_records("bench.frameworks"):
        shown = ours.where(
            Platform=site_of(rec), Backend=rec["config"]["backend"], Device=rec["config"]["device"]
        )
        if rec["status"] != "ok":
            assert not shown
            continue
        (r,) = shown
        m = rec["metrics"]
        assert r.values["time_per_batch_128_s"] == m["time_per_batch"]["128"]["median_s"]
        assert r["Time/batch 128 [ms]"] == f"{1e3 * m['time_per_batch']['128']['median_s']:.3f}"
        assert r.values["accuracy"] == m["accuracy"] and r["Accuracy"] == f"{m['accuracy']:.5f}"
    assert ours.one(Platform=generated("thetagpu"), Backend="torch", Device="cpu").verdict == (
        "reference"
    )
    assert ours.one(Platform=generated("thetagpu"), Backend="tensorrt").verdict == "parity"
    # The backend hal could not run: one line with the run's reason, no grey row.
    assert ours.not_run == (
        f"tensorrt on {generated('hal')} (TensorRT is not installed in the cuda11-ppc64le "
        "stack (NVIDIA ships no ppc64le wheel))"
    )
    assert [t.name for t in sec.tables] == ["table8_published", "table8"]
    apptainer = sec.table("table8_published").where(**{"Test data": "apptainer"})
    assert [r.verdict for r in apptainer] == [
        "reference", "accuracy differs; AUC differs", "accuracy differs; AUC differs",
    ]
    (fig,) = sec.figures
    assert fig.png.name == "table8_time_per_batch128.png"


def test_figure4_peaks_verdicts_and_figures(
    site_sections: dict[str, Section], fixture_records
) -> None:
    sec = site_sections["figure4"]
    table = sec.table("figure4")
    sweeps = fixture_records("bench.sweep")
    assert len(table.rows) == len(sweeps) == len(sec.figures)
    for rec in sweeps:
        backend, m = rec["config"]["backend"], rec["metrics"]
        r = table.one(Platform=site_of(rec), Backend=backend)
        assert r.values["peak_jets_per_s"] == m["peak_jets_per_s"]
        assert r["Peak jets/s (batch)"] == f"{m['peak_jets_per_s']:.0f} ({m['peak_batch_size']})"
        assert r.values["ratio"] == pytest.approx(m["peak_jets_per_s"] / 35000)
        assert r["Ratio"] == f"{m['peak_jets_per_s'] / 35000:.2f}"
        fig = next(f for f in sec.figures if f.title.startswith(f"{backend} on {site_of(rec)}"))
        with fig.csv.open() as fh:
            lines = list(csv.reader(fh))
        assert tuple(lines[0]) == plots.SWEEP_CSV_COLUMNS
        assert len(lines) == 1 + len(m["points"])
    trt = table.one(Backend="tensorrt")
    assert trt.verdict == "consistent" and trt["Paper peak"] == "35000 (1200)"
    hal = table.one(Platform=generated("hal"))
    assert hal.verdict == "not comparable (paper: TensorRT)"
    assert hal["NVML"].startswith("no: NVML unavailable")
    assert not sec.problems and table.not_run == ""


def test_evaluation_and_the_smaller_sections(
    site_sections: dict[str, Section], fixture_records
) -> None:
    ev = site_sections["evaluate"].table("evaluate")
    for rec in fixture_records("evaluate"):
        r = ev.one(Platform=site_of(rec))
        assert r.values["auc"] == rec["metrics"]["auc"]
        assert r["AUC"] == f"{rec['metrics']['auc']:.5f}"
        assert r.verdict in VERDICTS  # 1.8 M test jets: compared with the paper
    (roc,) = site_sections["evaluate"].figures
    assert roc.png.name == "roc.png"
    assert len(roc.csv.read_text().splitlines()) == 1 + sum(
        len(r["metrics"]["roc"]["fpr"]) for r in fixture_records("evaluate")
    )
    assert len(site_sections["bench_default"].table("bench_default").rows) == 3
    prov = site_sections["provenance"].table("provenance")
    hal = prov.one(Platform=generated("hal"))
    assert hal["Arch"] == "ppc64le" and hal["Driver"] == "470.57.02" and hal["tensorrt"] == "–"
    assert hal["Records"] == str(sum(site_of(r) == hal["Platform"] for k in (
        "train", "evaluate", "bench.default", "bench.frameworks", "bench.sweep"
    ) for r in fixture_records(k)))
    theta = prov.one(Platform=generated("thetagpu"))
    assert theta["GPU"] == "NVIDIA A100-SXM4-40GB" and theta["CUDA"] == "11.8"
    assert prov.column("Platform") == [generated(s) for s in SITES]
    campaign = site_sections["campaign"].table("campaign")
    assert campaign.rows == () and campaign.not_run == (
        "no campaign.task records (ad-hoc runs write none)"
    )
    xai = site_sections["xai"]
    assert [t.name for t in xai.tables] == ["table9", "table10"]


def test_generated_fixtures_are_labelled_wherever_they_appear(
    site_sections: dict[str, Section], fixture_records
) -> None:
    why = fixture_records("train")[0]["provenance"]["generated"]
    assert why.startswith("fixture: ")
    # Every row of ours in a table with a platform names the platform as generated...
    ours = [
        (t.name, r)
        for sec in site_sections.values()
        for t in sec.tables
        if "Platform" in t.headers and not t.name.endswith("_published")
        for r in t.rows
        if not r.cells.get("Source", "").startswith("paper")
    ]
    assert len(ours) > 30
    assert {r["Platform"] for _, r in ours} == {generated(s) for s in SITES}
    # ... no row calls them ours ...
    assert not [
        r for sec in site_sections.values() for t in sec.tables for r in t.rows
        if r.cells.get("Source", "").startswith("ours")
    ]
    # ... every figure drawn from them says so, and the provenance gives the reason.
    figures = [f for sec in site_sections.values() for f in sec.figures]
    assert all(
        "generated fixture, not a measurement" in (f.title + f.csv.read_text()) for f in figures
    )
    prov = site_sections["provenance"].table("provenance")
    assert set(prov.column("Measured")) == {f"no: generated fixture, not a measurement ({why})"}


def test_measured_records_are_not_labelled_generated(real_sections: dict[str, Section]) -> None:
    prov = real_sections["provenance"].table("provenance")
    # `fairhep bench` and the local site's campaign ran on one machine: one platform, its host.
    assert prov.column("Platform") == ["vm"] and prov.column("Measured") == ["yes"]
    t4 = real_sections["table4"].table("table4")
    assert {r["Source"] for r in t4.rows} == {"paper (this work)", "paper (original model)", "ours"}


def test_make_run_shows_what_ran_and_folds_the_rest_into_one_line_per_table(
    make_run_sections: dict[str, Section],
) -> None:
    """`make run` leaves one bench.default and one train record: every table shows the rows
    that ran (and the paper's), none is a grey "missing" row, and each says in one line what
    did not run here."""
    secs = make_run_sections
    rows = [r for sec in secs.values() for t in sec.tables for r in t.rows]
    assert not [r for r in rows if r.verdict == "missing" or r.missing is not None]
    local = [r for r in rows if r.cells.get("Platform") == "vm"]
    assert {r["Platform"] for r in local} == {"vm"} and len(local) == 4
    t4 = secs["table4"].table("table4")
    assert t4.one(Platform="vm")["Verdict"] == "undetermined (needs ≥ 2 seeds)"
    assert t4.not_run == ""
    t57 = secs["table57"].table("table57")
    assert t57.one(Platform="vm")["Verdict"] == "no published value"
    assert len(t57.where(Source="paper")) == 7
    assert t57.not_run == (
        "kfold on hal, dgx, thetagpu; files on hal; points on hal, dgx, thetagpu "
        "(no train records with that split there)"
    )
    assert secs["table57"].table("table57_spread").not_run.startswith("the spread of ours")
    not_run = {
        (sid, t.name): t.not_run for sid, sec in secs.items() for t in sec.tables if not t.rows
    }
    assert not_run == {
        ("table8", "table8"):
            "no bench.frameworks records with status ok (`fairhep bench --frameworks`)",
        ("figure4", "figure4"): "no bench.sweep records (`fairhep bench --batch-sweep`)",
        ("latency", "latency"): "no bench.loadgen records (`fairhep bench --loadgen "
                                "SingleStream,Server,Offline`)",
        ("latency", "throughput_latency"): "no bench.concurrency records (`fairhep bench "
                                           "--concurrency-sweep --url URL`)",
        ("scaling", "scaling"): "no train.scaling records (a campaign with a [scaling] "
                                "section: `fairhep submit --site local --campaign "
                                "scaling-smoke`)",
        ("scaling", "throughput"): "no train records written by campaign tasks",
        ("evaluate", "evaluate"): "no evaluate records (`fairhep evaluate --run RUN --data DIR`)",
        ("campaign", "campaign"): "no campaign.task records (ad-hoc runs write none)",
        ("xai_figures", "figure5"): "no xai.mask records (`fairhep xai mask --run RUN "
                                    "--data DIR`)",
        ("xai_figures", "figure6"): "no xai.lrp records (`fairhep xai lrp --run RUN --data DIR`)",
        ("xai_figures", "figure7"): "no xai.lrp records with input facts (`fairhep xai lrp "
                                    "--run RUN --data DIR`)",
        ("xai_figures", "figure8"): "no xai.rna records (`fairhep xai rna --run RUN --data DIR`)",
    }
    assert secs["bench_default"].table("bench_default").one(Platform="vm").verdict is None
    (roc,) = secs["evaluate"].figures  # the bench's own ROC curve
    assert "vm (bench default, synthetic)" in roc.csv.read_text()


def test_skipped_backends_of_a_cpu_node_are_one_line_with_their_reasons(
    real_sections: dict[str, Section],
) -> None:
    f4 = real_sections["figure4"].table("figure4")
    assert {r["Backend"] for r in f4.rows} == {"torch", "onnxruntime"}
    assert all(r.verdict == "not comparable (paper: TensorRT)" for r in f4.rows)
    line = f4.not_run
    assert "torch-cuda (CUDA: this torch build has no CUDA support" in line
    assert "tensorrt-fp32, tensorrt-fp16 (tensorrt: module not installed)" in line
    assert "onnxruntime-cuda (onnxruntime: CUDAExecutionProvider not in this build" in line
    t8 = real_sections["table8"].table("table8")
    assert t8.not_run == line  # the same backends could not run for either
    assert {(r["Backend"], r["Parity"]) for r in t8.rows} == {
        ("torch", "reference"), ("onnxruntime", "parity"),
    }
    assert all(r["vs paper"].startswith("n/a (") for r in t8.rows)
    # Three evaluated runs on one platform: each ROC curve is named by its run.
    (roc,) = real_sections["evaluate"].figures
    labels = {line.split(",")[0] for line in roc.csv.read_text().splitlines()[1:]}
    assert {"vm: train-s0-kfold-f0", "vm: train-s0-files-f0"} <= labels


def test_an_empty_record_set_says_in_one_line_per_table_what_did_not_run(
    tmp_path: Path,
) -> None:
    sections = {s.id: s for s in build_sections(Context(RecordSet(()), tmp_path))}
    expected = {
        ("table4", "table4"): "no train records with split kfold, fold 0 "
        "(`fairhep train --seed S`, several seeds)",
        ("table8", "table8"): "no bench.frameworks records with status ok "
        "(`fairhep bench --frameworks`)",
        ("figure4", "figure4"): "no bench.sweep records (`fairhep bench --batch-sweep`)",
        ("evaluate", "evaluate"): "no evaluate records (`fairhep evaluate --run RUN --data DIR`)",
        ("bench_default", "bench_default"): "no bench.default records (`fairhep bench`)",
        ("provenance", "provenance"): "no records",
    }
    for (sid, name), why in expected.items():
        t = sections[sid].table(name)
        assert t.not_run == why
        assert all(r.cells.get("Source", "paper").startswith("paper") for r in t.rows)
    t57 = sections["table57"].table("table57")
    assert {r["Source"] for r in t57.rows} == {"paper"}
    assert t57.not_run.startswith("kfold on hal, dgx, thetagpu; files on hal; points on ")
    # Nothing measured, nothing drawn (Tables 5/7 still plot the paper's own rows).
    assert not any(sections[sid].figures for sid in ("table4", "table8", "figure4", "evaluate"))


def test_a_failing_section_says_so_and_costs_the_others_nothing(tmp_path: Path) -> None:
    def broken(ctx: Context) -> Section:
        raise KeyError("metrics")

    ctx = Context(RecordSet(()), tmp_path)
    built = build_sections(ctx, (SectionSpec("boom", broken), *SECTIONS[-1:]))
    assert [s.id for s in built] == ["boom", "xai"]
    assert built[0].title == "boom — not built"
    assert built[0].problems == ("section boom could not be built: KeyError: 'metrics'",)

    def bad_published(ctx: Context) -> Section:
        raise ConfigError("table4.toml: not valid TOML")

    with pytest.raises(ConfigError):  # broken published values stop the report
        build_sections(ctx, (SectionSpec("t", bad_published),))


def test_tables_keep_rows_and_headers_together() -> None:
    headers = ("Platform", "Verdict")
    t = Table("t", headers, (row(headers, ["hal", "consistent"], "consistent"),))
    assert t.column("Verdict") == ["consistent"]
    assert t.one(Platform="hal").texts == ("hal", "consistent")
    assert t.not_run == ""
    with pytest.raises(ValueError, match="2 columns"):
        row(headers, ["hal"])
    with pytest.raises(ValueError, match="not its headers"):
        Table("t", ("Platform",), t.rows)
    with pytest.raises(LookupError, match="0 rows match"):
        t.one(Platform="dgx")
    with pytest.raises(LookupError, match="no table 'x'"):
        Section("s", "S", tables=(t,)).table("x")
    assert row(headers, ["missing", "–"], missing="why").verdict == "missing"


def _framework_record(model: tuple[int, int, int], run: str, backend: str, acc: float,
                      ms128: float) -> ResultRecord:
    return ResultRecord(
        "bench.frameworks",
        config={"backend": backend, "device": "cpu", "provider": None, "precision": "fp32",
                "run": run, "data": f"{run}/../../data/test",
                "model": dict(zip(("hidden", "de", "do"), model, strict=True))},
        metrics={"accuracy": acc, "auc": acc + 0.02, "n_jets": 100, "max_abs_dscore": 1e-7,
                 "tolerance": 1e-5, "parity_ok": True,
                 "time_per_batch": {"1": {"median_s": ms128 / 50e3},
                                    "128": {"median_s": ms128 / 1e3}}},
        provenance={"fairhep_version": "0.1.0", "host": "vm", "os": "Linux", "arch": "x86_64",
                    "python": "3.11", "packages": {}},
    )


def test_table8_never_compares_rows_of_different_models_as_one(tmp_path: Path) -> None:
    """The smoke campaign's 8/4/4 IN and an ad-hoc 60/20/24 IN on one machine: two groups,
    each with its own torch reference and a Model column, not one platform 25x faster."""
    for model, run, acc, ms in (((60, 20, 24), "/r/runs/big", 0.93, 1336.0),
                                ((8, 4, 4), "/r/local/smoke/runs/train-s0-kfold-f0", 0.84,
                                 52.0)):
        for backend in ("torch", "onnxruntime"):
            write_record(tmp_path, _framework_record(model, run, backend, acc, ms))
    secs = {s.id: s for s in build_sections(Context(load_record_set([tmp_path]),
                                                    tmp_path / "figs"))}
    t8 = secs["table8"].table("table8")
    assert sorted((r["Model"], r["Run"], r["Backend"], r["Parity"]) for r in t8.rows) == [
        ("IN 60/20/24", "big", "onnxruntime", "parity"),
        ("IN 60/20/24", "big", "torch", "reference"),
        ("IN 8/4/4", "train-s0-kfold-f0", "onnxruntime", "parity"),
        ("IN 8/4/4", "train-s0-kfold-f0", "torch", "reference"),
    ]
    (bars,) = secs["table8"].figures
    with open(bars.csv, newline="") as fh:
        assert {r["series"] for r in csv.DictReader(fh)} == {"vm, IN 60/20/24", "vm, IN 8/4/4"}


def test_rows_of_this_suites_forms_are_marked_not_the_papers(tmp_path: Path) -> None:
    """onnxruntime-fast and fast records (paper_framework = false, graph_form = fast) get a
    marked Form cell and the footnote in Table 8, its bars and the sweep; the paper's
    frameworks stay 'paper' and a table of those alone has no footnote."""
    suite: dict[str, dict[str, Any]] = {
        "onnxruntime-fast": {"paper_framework": False, "graph_form": "fast"},
             "fast": {"paper_framework": False}}
    base = _framework_record((8, 4, 4), "/r/runs/a", "torch", 0.9, 10.0)
    for backend in ("torch", "onnxruntime", *suite):
        rec = _framework_record((8, 4, 4), "/r/runs/a", backend, 0.9, 10.0)
        write_record(tmp_path, ResultRecord(
            "bench.frameworks", config={**rec.config, **suite.get(backend, {})},
            metrics=rec.metrics, provenance=rec.provenance))
    for backend in ("torch", "onnxruntime-fast"):
        write_record(tmp_path, ResultRecord(
            "bench.sweep",
            config={**base.config, "backend": backend, **suite.get(backend, {})},
            metrics={"points": [{"batch_size": b, "jets_per_s": 100.0 * b} for b in (64, 128)],
                     "nvml": {"available": False, "reason": "no GPU"}},
            provenance=base.provenance))
    secs = {s.id: s for s in build_sections(Context(load_record_set([tmp_path]),
                                                    tmp_path / "figs"))}
    t8 = secs["table8"].table("table8")
    assert {r["Backend"]: r["Form"] for r in t8.rows} == {
        "torch": "paper", "onnxruntime": "paper", "onnxruntime-fast": "suite †",
        "fast": "suite †"}
    assert "† this suite's form, not the paper's" in t8.caption
    (bars,) = secs["table8"].figures
    assert "this suite's form" in bars.title
    bars_csv = Path(str(bars.csv)).read_text(encoding="utf-8")
    assert "onnxruntime-fast/cpu †" in bars_csv and "onnxruntime/cpu †" not in bars_csv
    f4 = secs["figure4"].table("figure4")
    assert {r["Backend"]: r["Form"] for r in f4.rows} == {
        "torch": "paper", "onnxruntime-fast": "suite †"}
    assert "not the paper's" in f4.caption
    titles = sorted(f.title for f in secs["figure4"].figures)
    assert [("not the paper's" in t) for t in titles] == [True, False]  # 'onnx..' < 'torch'
    # The paper's frameworks alone: no footnote anywhere.
    only = tmp_path / "paper"
    write_record(only, base)
    paper = {s.id: s for s in build_sections(Context(load_record_set([only]), only / "f"))}
    assert "not the paper's" not in paper["table8"].table("table8").caption


def test_figure4_gives_each_models_sweep_its_own_row_and_figure(tmp_path: Path) -> None:
    for model, rate in (((60, 20, 24), 96.0), ((8, 4, 4), 2460.0)):
        write_record(tmp_path, ResultRecord(
            "bench.sweep",
            config={"backend": "torch", "device": "cpu", "provider": None, "precision": "fp32",
                    "model": dict(zip(("hidden", "de", "do"), model, strict=True))},
            metrics={"points": [{"batch_size": b, "jets_per_s": rate * b / 128}
                                for b in (64, 128) for _ in range(2)],
                     "nvml": {"available": False, "reason": "no GPU"}},
            provenance=_framework_record((1, 1, 1), "r", "torch", 0.5, 1.0).provenance))
    sec = next(s for s in build_sections(Context(load_record_set([tmp_path]), tmp_path / "f"))
               if s.id == "figure4")
    f4 = sec.table("figure4")
    assert sorted((r["Model"], r["Peak jets/s (batch)"]) for r in f4.rows) == [
        ("IN 60/20/24", "96 (128)"), ("IN 8/4/4", "2460 (128)")]
    assert len({f.png for f in sec.figures}) == 2
    assert sorted(f.title.rsplit(", ", 1)[1] for f in sec.figures) == ["IN 60/20/24", "IN 8/4/4"]


def test_evaluations_with_other_engines_are_rows_of_their_own(tmp_path: Path) -> None:
    prov = _framework_record((1, 1, 1), "r", "torch", 0.5, 1.0).provenance
    for engine, auc in (("fast", 0.9412), ("reference", 0.9411)):
        write_record(tmp_path, ResultRecord(
            "evaluate", config={"run": "/r/runs/big", "data": "/d/test", "engine": engine,
                                "precision": "fp32", "model": {"hidden": 60, "de": 20, "do": 24}},
            metrics={"accuracy": 0.9, "auc": auc, "n_jets": 100}, provenance=prov))
    sec = next(s for s in build_sections(Context(load_record_set([tmp_path]), tmp_path / "f"))
               if s.id == "evaluate")
    assert sorted((r["Model"], r["Engine"], r["AUC"]) for r in sec.table("evaluate").rows) == [
        ("IN 60/20/24", "fast fp32", "0.94120"), ("IN 60/20/24", "reference fp32", "0.94110")]
