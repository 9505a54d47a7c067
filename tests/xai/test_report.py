"""The report's Tables 9 and 10 (ours beside the paper's) and Figures 5, 6, 8/9 from xai.*
records: records of real (tiny) studies, and hand-made records standing for a run on the real
test set (labelled as such) for the verdicts."""

from __future__ import annotations

from pathlib import Path

import pytest

from fairhep.report import Context, Section, build_sections, load_record_set
from fairhep.results import ResultRecord, kinds, write_record
from fairhep.xai import Rule, StudyOptions, run_ablation, run_lrp, run_mask, run_rna

pytestmark = pytest.mark.usefixtures("one_torch_thread")
REAL = {"data_origin": "cms-open-data", "run_name": "hand-made test record (not measured)",
        "run": "/hand-made"}


def _ablation(results: Path, sizes: tuple[int, int, int], params: int, auc: float) -> None:
    h, de, do = sizes
    write_record(results, ResultRecord(
        kind=kinds.XAI_ABLATION,
        config={**REAL, "run": f"/hand-made/{h}-{de}-{do}", "model": {"hidden": h, "de": de,
                                                                       "do": do},
                "delta_p": 12, "delta_s": 5, "is_baseline": False},
        metrics={"auc": auc, "fidelity": 0.97, "sparsity": 0.5, "parameters": params,
                 "n_jets": 1_800_000}))


@pytest.fixture(scope="module")
def sections(tiny_run: Path, tiny_test_set: Path, tmp_path_factory: pytest.TempPathFactory
             ) -> dict[str, Section]:
    results = tmp_path_factory.mktemp("xai-report") / "results"
    opts = StudyOptions(tiny_run, tiny_test_set, results=results, max_jets=12, batches=1,
                        sample_batch_size=3, progress=False)
    run_mask(opts)
    run_lrp(opts, Rule())
    run_rna(opts)
    run_ablation(opts, tiny_run)
    _ablation(results, (32, 16, 16), 8498, 0.9887)  # the paper's row, to the digit
    _ablation(results, (32, 8, 8), 8498, 0.9500)  # wrong parameter count, AUC far off
    write_record(results, ResultRecord(
        kind=kinds.XAI_MASK, config=REAL,
        metrics={"auc": 0.9902, "n_jets": 1_800_000, "single": [], "thresholds": [
            {"threshold_pct": 0.01, "masked_tracks": ["track_phirel", "track_dptdpt"],
             "masked_svs": ["sv_phirel"], "auc": 0.9899, "fidelity": 0.9885}]}))
    ctx = Context(load_record_set([results]), results.parent / "figures")
    return {s.id: s for s in build_sections(ctx)}


def test_table9_puts_ours_beside_the_paper_per_threshold(sections: dict[str, Section]) -> None:
    t9 = sections["xai"].table("table9")
    paper = t9.where(Source="paper")
    assert [r["Threshold [%]"] for r in paper] == ["0", "0.001", "0.005", "0.01", "0.05", "1.00"]
    ours = t9.where(Source="vm: tiny") or [r for r in t9.rows if r["Source"].endswith(": tiny")]
    assert len(ours) == 6
    first = ours[0]
    assert (first["ΔP"], first["ΔS"], first["Fidelity [%]"]) == ("0", "0", "100.00")
    assert first.verdict == "n/a" and first["Verdict"] == "n/a (synthetic data)"
    real = [r for r in t9.rows if "hand-made" in r["Source"]]
    at_001 = next(r for r in real if r["Threshold [%]"] == "0.01")
    assert at_001.verdict == "consistent" and at_001.values["auc"] == pytest.approx(0.9899)
    assert [r["Threshold [%]"] for r in real] == ["0.01"]  # the only one it masked at
    assert t9.not_run.startswith("thresholds 0 % in ") and "1.00 % in " in t9.not_run
    note = next(n for n in sections["xai"].notes if "hand-made" in n)
    assert "track: 2 of the paper's 11 also masked here" in note
    assert "SV: 1 of the paper's 3" in note


def test_table10_checks_parameters_exactly_and_auc_on_the_real_test_set(
        sections: dict[str, Section]) -> None:
    t10 = sections["xai"].table("table10")
    assert [r["Parameters"] for r in t10.where(Source="paper")] == [
        "25554", "8498", "7178", "2842"]
    mine = {r["h, D_E, D_O"]: r for r in t10.rows if "hand-made" in r["Source"]}
    good = mine["32, 16, 16"]
    assert good.verdict == "consistent" and "parameters match" in good["Verdict"]
    bad = mine["32, 8, 8"]
    assert bad.verdict == "inconsistent" and "parameters differ (7178)" in bad["Verdict"]
    assert bad.values["p_auc"] < 0.01
    assert "16, 8, 8" not in mine and "h, D_E, D_O = 16, 8, 8" in t10.not_run
    assert not t10.where(Source="missing")  # what did not run is one line, not grey rows
    tiny = next(r for r in t10.rows if r["h, D_E, D_O"] == "8, 4, 4")
    assert tiny["Fidelity [%]"] == "100.00" and tiny["Verdict"] == "no published counterpart"


def test_figures_5_6_and_8_come_with_their_csv(sections: dict[str, Section]) -> None:
    sec = sections["xai_figures"]
    titles = [f.title for f in sec.figures]
    assert any(t.startswith("Figure 5") for t in titles)
    assert any(t.startswith("Figure 6: LRP-gamma") for t in titles)
    assert any(t.startswith("Figure 8") for t in titles)  # the rna record's NAP diagram
    for f in sec.figures:
        assert f.png.stat().st_size > 0 and f.csv.read_text().count("\n") > 1
    f5 = [r for r in sec.table("figure5").rows if r["Source"].endswith(": tiny")]
    assert len(f5) == 1 and f5[0]["Paper"] == "14, 4"
    assert {r["Class"] for r in sec.table("figure6").rows} == {"QCD", "H→bb̄"}
    assert all(r["Relevance per layer (logit = 1)"].startswith("logit 1.00; fc_fixed")
               for r in sec.table("figure6").rows)
    (f7,) = sec.table("figure7").rows
    assert f7["Paper"] == "0.85" and -1.0 <= float(f7["r(sv_ptrel, sv_pt)"]) <= 1.0
    (f8,) = sec.table("figure8").rows
    assert f8["Paper"] == "–" and 0.0 <= float(f8["Sparsity"]) <= 1.0
