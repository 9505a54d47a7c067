"""Report sections as objects: rows, verdicts and the numbers behind them, built from the
recorded three-site records (tests/fixtures/records) without rendering anything.

Expected numbers are recomputed here from the fixture JSON (statistics module, the normal tail
written out with math.erfc), independently of fairhep.stats.
"""

from __future__ import annotations

import csv
import math
import statistics
from pathlib import Path

import pytest

from fairhep import plots
from fairhep.errors import ConfigError
from fairhep.report import SECTIONS, Context, RecordSet, Section, build_sections
from fairhep.report.section import Table, row
from fairhep.report.sections import SectionSpec

SITES = ("hal", "dgx", "thetagpu")  # the fixtures' sites, in the paper's order
VERDICTS = {"consistent", "tension", "inconsistent", "undetermined"}


def normal_sf(z: float) -> float:
    return 0.5 * math.erfc(z / math.sqrt(2))


def verdict_of(p: float) -> str:
    return "consistent" if p >= 0.05 else "tension" if p >= 0.01 else "inconsistent"


def test_sections_are_listed_once_in_report_order(site_sections: dict[str, Section]) -> None:
    ids = [s.id for s in SECTIONS]
    assert ids == [
        "table4", "table57", "table8", "figure4", "evaluate",
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
    for site in SITES:
        recs = [
            r for r in fixture_records("train")
            if r["provenance"]["site"] == site and r["config"]["split"] == "kfold"
        ]
        acc = [r["metrics"]["val_accuracy"] for r in recs]
        auc = [r["metrics"]["val_auc"] for r in recs]
        ours = t4.one(Platform=site, Source="ours")
        assert ours.values["n"] == len(recs)
        assert ours.values["accuracy_mean"] == pytest.approx(statistics.mean(acc), abs=1e-12)
        assert ours.values["accuracy_std"] == pytest.approx(statistics.stdev(acc), rel=1e-9)
        p_acc = normal_sf((0.9550 - statistics.mean(acc)) / statistics.stdev(acc))
        p_auc = normal_sf((0.9900 - statistics.mean(auc)) / statistics.stdev(auc))
        assert ours.values["p_accuracy"] == pytest.approx(p_acc, rel=1e-9)
        assert ours.values["p_auc"] == pytest.approx(p_auc, rel=1e-9)
        assert ours.verdict == verdict_of(min(p_acc, p_auc)) == ours["Verdict"]
        assert ours.missing is None
    # The candidate p-value methods on the paper's own numbers (stats module docstring).
    methods = sec.table("table4_p_methods")
    assert {r["Method"]: r.verdict for r in methods.rows} == {
        "normal": "compatible", "student": "compatible", "prediction": "incompatible",
    }
    assert [f.png.name for f in sec.figures] == ["table4_accuracy.png", "table4_auc.png"]
    assert all(f.png.is_file() and f.csv.is_file() for f in sec.figures)


def test_table57_cells_missing_rows_and_spread(
    site_sections: dict[str, Section], fixture_records
) -> None:
    sec = site_sections["table57"]
    main, spread = sec.table("table57"), sec.table("table57_spread")
    gap = main.one(Split="points", Platform="thetagpu", Source="ours")
    assert gap.verdict == "missing"
    assert gap.missing == "missing: no train records with split=points on thetagpu"
    assert gap.values == {}
    assert not main.where(Split="files", Platform="dgx")  # neither published nor measured
    published = {(r["Split"], r["Platform"]): r for r in main.where(Source="paper")}
    measured = [r for r in main.where(Source="ours") if r.missing is None]
    assert len(measured) == 6 and all(r.verdict in VERDICTS for r in measured)
    for r in measured:
        recs = [
            x for x in fixture_records("train")
            if x["provenance"]["site"] == r["Platform"] and x["config"]["split"] == r["Split"]
        ]
        acc = [x["metrics"]["val_accuracy"] for x in recs]
        auc = [x["metrics"]["val_auc"] for x in recs]
        assert r.values["runs"] == len(recs)
        pub = published[(r["Split"], r["Platform"])]
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
    assert paper_kfold.values["p"] == pytest.approx(math.exp(-9.92 / 2), rel=1e-3)
    assert paper_kfold.verdict == "inconsistent"
    ours = spread.one(
        Source="ours", Within="kfold", Quantity="accuracy", Comparison="across platforms"
    )
    assert ours["Groups"] == "hal, dgx, thetagpu" and ours["Method"].startswith("one-way ANOVA")
    assert ours.values["dof"] == 2


def test_table8_parity_timings_and_skipped(
    site_sections: dict[str, Section], fixture_records
) -> None:
    sec = site_sections["table8"]
    ours = sec.table("table8")
    for rec in fixture_records("bench.frameworks"):
        site, backend, device = (
            rec["provenance"]["site"], rec["config"]["backend"], rec["config"]["device"]
        )
        shown = ours.where(Platform=site, Backend=backend, Device=device)
        if rec["status"] != "ok":
            assert not shown
            continue
        (r,) = shown
        m = rec["metrics"]
        assert r.values["time_per_batch_128_s"] == m["time_per_batch"]["128"]["median_s"]
        assert r.values["accuracy"] == m["accuracy"]
    assert ours.one(Platform="thetagpu", Backend="torch", Device="cpu").verdict == "reference"
    assert ours.one(Platform="thetagpu", Backend="tensorrt").verdict == "parity"
    (skipped,) = sec.table("table8_skipped").rows
    assert skipped["Platform"] == "hal" and skipped["Backend"] == "tensorrt"
    assert skipped.verdict == "skipped"
    assert "TensorRT is not installed" in (skipped.missing or "")
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
        site, backend = rec["provenance"]["site"], rec["config"]["backend"]
        r = table.one(Platform=site, Backend=backend)
        assert r.values["peak_jets_per_s"] == rec["metrics"]["peak_jets_per_s"]
        assert r.values["ratio"] == pytest.approx(rec["metrics"]["peak_jets_per_s"] / 35000)
        fig = next(f for f in sec.figures if f.png.stem == f"figure4_{site}_{backend}")
        with fig.csv.open() as fh:
            lines = list(csv.reader(fh))
        assert tuple(lines[0]) == plots.SWEEP_CSV_COLUMNS
        assert len(lines) == 1 + len(rec["metrics"]["points"])
    assert table.one(Backend="tensorrt").verdict == "consistent"
    assert table.one(Platform="hal").verdict == "not comparable (paper: TensorRT)"
    assert not sec.problems


def test_evaluation_and_the_smaller_sections(
    site_sections: dict[str, Section], fixture_records
) -> None:
    ev = site_sections["evaluate"].table("evaluate")
    for rec in fixture_records("evaluate"):
        r = ev.one(Platform=rec["provenance"]["site"])
        assert r.values["auc"] == rec["metrics"]["auc"]
        assert r.verdict in VERDICTS  # 1.8 M test jets: compared with the paper
    (roc,) = site_sections["evaluate"].figures
    assert roc.png.name == "roc.png"
    assert len(site_sections["bench_default"].table("bench_default").rows) == 3
    prov = site_sections["provenance"].table("provenance")
    assert prov.one(Platform="hal")["Arch"] == "ppc64le"
    assert prov.column("Platform") == list(SITES)
    campaign = site_sections["campaign"].table("campaign")
    assert campaign.one().missing == "missing: no campaign.task records (ad-hoc runs)"
    xai = site_sections["xai"]
    assert [t.name for t in xai.tables] == ["table9", "table10"]


def test_an_empty_record_set_gives_missing_rows_that_say_why(tmp_path: Path) -> None:
    sections = {s.id: s for s in build_sections(Context(RecordSet(()), tmp_path))}
    expected = {
        ("table4", "table4"): "missing: no train records with split=kfold, fold=0",
        ("table8", "table8"): "missing: no bench.frameworks records with status ok "
        "(run `fairhep bench --frameworks`)",
        ("figure4", "figure4"): "missing: no bench.sweep records "
        "(run `fairhep bench --batch-sweep`)",
        ("evaluate", "evaluate"): "missing: no evaluate records (run `fairhep evaluate`)",
        ("bench_default", "bench_default"): "missing: no bench.default records "
        "(run `fairhep bench`)",
    }
    for (sid, name), why in expected.items():
        (r,) = [r for r in sections[sid].table(name).rows if r.missing is not None]
        assert r.missing == why and r.verdict == "missing"
    t57 = sections["table57"].table("table57")
    assert {r.missing for r in t57.where(Source="ours")} == {
        f"missing: no train records with split={s} on {p}"
        for s, p in ({(r["Split"], r["Platform"]) for r in t57.where(Source="paper")})
    }
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
    with pytest.raises(ValueError, match="2 columns"):
        row(headers, ["hal"])
    with pytest.raises(ValueError, match="not its headers"):
        Table("t", ("Platform",), t.rows)
    with pytest.raises(LookupError, match="0 rows match"):
        t.one(Platform="dgx")
    with pytest.raises(LookupError, match="no table 'x'"):
        Section("s", "S", tables=(t,)).table("x")
    assert row(headers, ["missing", "–"], missing="why").verdict == "missing"
