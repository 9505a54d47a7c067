"""`fairhep xai mask|lrp|rna|ablate`: records with provenance, figures with their CSV, imported
checkpoints like trained runs, one-line errors."""

from __future__ import annotations

import csv
from pathlib import Path

import pytest
import torch

from fairhep import schema
from fairhep.cli import main
from fairhep.model import InteractionNetwork, ModelConfig
from fairhep.results import kinds, load_records

pytestmark = pytest.mark.usefixtures("one_torch_thread")


@pytest.fixture(scope="module")
def imported_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """An ablated IN saved as a plain state_dict (as published) and imported."""
    root = tmp_path_factory.mktemp("imported")
    torch.manual_seed(9)
    net = InteractionNetwork(ModelConfig.ablated(12, 5, hidden=6, de=3, do=3))
    torch.save(net.state_dict(), root / "IN_best.pth")
    # Published ablated checkpoints do not say which features they dropped: name them.
    assert main(["model", "import", str(root / "IN_best.pth"), "--out", str(root / "run"),
                 "--track-features-dropped", ",".join(schema.ABLATION_DROPPED_TRACK_FEATURES),
                 "--sv-features-dropped", ",".join(schema.ABLATION_DROPPED_SV_FEATURES)]) == 0
    return root / "run"


def _rows(path: Path) -> list[dict[str, str]]:
    with open(path, newline="") as fh:
        return list(csv.DictReader(fh))


def test_mask_writes_a_record_and_figure_5_with_its_csv(
        tiny_run: Path, tiny_test_set: Path, tmp_path: Path,
        capsys: pytest.CaptureFixture[str]) -> None:
    results = tmp_path / "results"
    assert main(["xai", "mask", "--run", str(tiny_run), "--data", str(tiny_test_set),
                 "--results", str(results), "--max-jets", "24", "--no-progress"]) == 0
    out = capsys.readouterr().out
    assert "unmasked AUC" in out and "most important" in out and "record:" in out
    (rec,) = load_records(results, kinds.XAI_MASK)
    assert rec.config["data_origin"] == "synthetic" and rec.config["model"]["hidden"] == 8
    assert rec.provenance["dataset_manifest_sha256"]
    assert rec.metrics["n_jets"] == 24 and len(rec.metrics["single"]) == 44
    assert [t["threshold_pct"] for t in rec.metrics["thresholds"]] == [
        0.0, 0.001, 0.005, 0.01, 0.05, 1.0]
    figure = results / "xai" / tiny_run.name
    rows = _rows(figure / "figure5.csv")
    assert (figure / "figure5.png").stat().st_size > 0 and len(rows) == 44
    assert {r["feature"]: float(r["delta_auc_pct"]) for r in rows} == pytest.approx(
        {s["feature"]: s["delta_auc_pct"] for s in rec.metrics["single"]})


def test_lrp_and_rna_read_an_imported_checkpoint_like_a_trained_run(
        imported_run: Path, tiny_test_set: Path, tmp_path: Path) -> None:
    results = tmp_path / "results"
    common = ["--run", str(imported_run), "--data", str(tiny_test_set), "--results",
              str(results), "--batches", "2", "--batch-size", "3", "--no-progress"]
    assert main(["xai", "lrp", *common, "--rule", "epsilon", "--epsilon", "1e-4"]) == 0
    assert main(["xai", "rna", *common]) == 0
    (lrp,) = load_records(results, kinds.XAI_LRP)
    assert lrp.config["imported_from"].endswith("IN_best.pth")
    assert lrp.config["rule"] == "epsilon" and lrp.config["epsilon"] == 1e-4
    assert lrp.metrics["n_jets"] == 12  # 2 batches of 3 jets of each class
    for c in lrp.metrics["classes"].values():
        assert c["n_jets"] == 6 and len(c["track_features"]) == 18 and len(c["sv_features"]) == 9
        layers = [s["layer"] for s in c["stages"]]  # in order, from the logit to the inputs
        assert layers[:3] == ["logit", "fc_fixed", "sum over tracks (Eq. 5)"]
        assert layers[-2:] == ["input: track features", "input: SV features"]
        assert c["stages"][0]["relevance"] == pytest.approx(1.0)
    (rna,) = load_records(results, kinds.XAI_RNA)
    assert rna.metrics["n_jets_per_class"] == {"QCD": 6, "Hbb": 6}
    assert 0.0 <= rna.metrics["sparsity"] <= 1.0
    figures = results / "xai" / imported_run.name
    assert {r["panel"] for r in _rows(figures / "figure6_epsilon.csv")} == {
        "track features", "SV features", "tracks by relative energy", "SVs by relative energy"}
    assert len(_rows(figures / "figure8_nap.csv")) == 3 * (6 + 6 + 3)


def test_ablate_compares_a_run_with_its_baseline(
        imported_run: Path, tiny_run: Path, tiny_test_set: Path, tmp_path: Path) -> None:
    results = tmp_path / "results"
    common = ["--data", str(tiny_test_set), "--results", str(results), "--batches", "1",
              "--batch-size", "4", "--max-jets", "30", "--no-progress"]
    assert main(["xai", "ablate", "--run", str(imported_run), "--baseline", str(tiny_run),
                 *common]) == 0
    assert main(["xai", "ablate", "--run", str(tiny_run), "--baseline", str(tiny_run),
                 *common]) == 0
    recs = {r.config["is_baseline"]: r for r in load_records(results, kinds.XAI_ABLATION)}
    ablated, baseline = recs[False], recs[True]
    assert ablated.config["delta_p"] == 12 and ablated.config["delta_s"] == 5
    assert "track_quality" in ablated.config["dropped_track_features"]
    assert ablated.metrics["parameters"] == InteractionNetwork(
        ModelConfig.ablated(12, 5, hidden=6, de=3, do=3)).n_parameters()
    assert 0.0 < ablated.metrics["fidelity"] < 1.0 and baseline.metrics["fidelity"] == 1.0
    assert baseline.config["delta_p"] == 0 and baseline.metrics["n_jets"] == 30


def test_errors_are_one_line_naming_what_to_fix(
        tiny_test_set: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["xai", "rna", "--run", str(tmp_path / "nope"), "--data", str(tiny_test_set),
                 "--results", str(tmp_path)]) == 1
    err = capsys.readouterr().err.strip()
    assert str(tmp_path / "nope") in err and "fairhep model import" in err
    assert len(err.splitlines()) == 1
    assert main(["xai", "mask", "--run", str(tmp_path), "--results", str(tmp_path)]) == 1
    assert "give both --run and --data" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        main(["xai", "lrp", "--rule", "alpha-beta"])


def test_an_unwritable_figure_folder_is_refused_before_the_study_runs(
        tiny_run: Path, tiny_test_set: Path, tmp_path: Path, read_only_dir: Path,
        capsys: pytest.CaptureFixture[str]) -> None:
    results = tmp_path / "results"
    assert main(["xai", "mask", "--run", str(tiny_run), "--data", str(tiny_test_set),
                 "--results", str(results), "--figures", str(read_only_dir)]) == 1
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and str(read_only_dir) in err and "--figures" in err
    assert not load_records(results)


def test_an_unwritable_results_folder_names_the_option_that_chose_it(
        tiny_run: Path, tiny_test_set: Path, read_only_dir: Path,
        capsys: pytest.CaptureFixture[str]) -> None:
    """No --figures given: the figures would go below --results, so the fix is --results."""
    assert main(["xai", "mask", "--run", str(tiny_run), "--data", str(tiny_test_set),
                 "--results", str(read_only_dir)]) == 1
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and str(read_only_dir / "xai") in err
    assert "choose another --results" in err


def test_jets_of_one_class_are_refused_in_one_line_not_recorded_as_nan(
        tiny_run: Path, tiny_test_set: Path, tmp_path: Path,
        capsys: pytest.CaptureFixture[str]) -> None:
    results = tmp_path / "results"
    assert main(["xai", "mask", "--run", str(tiny_run), "--data", str(tiny_test_set),
                 "--results", str(results), "--max-jets", "1"]) == 1
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and str(tiny_test_set) in err
    assert "jets (1): the AUC needs jets of both classes" in err and "--max-jets" in err
    assert not load_records(results)
