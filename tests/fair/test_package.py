"""`fairhep package --run`: a self-describing bundle whose every file the checksums cover and
whose model id names it everywhere; a card with inputs, training data, metrics and the FAIR
checklist; a validation sample that is a dataset of its own with the reference scores."""

from __future__ import annotations

import hashlib
import json
import re
import subprocess

import numpy as np
import pytest
import torch
import yaml

from fair_helpers import RUN_SAMPLE_JETS, triton_config
from fairhep import schema
from fairhep.cli import main
from fairhep.data.check import check_dataset
from fairhep.data.load import load_dataset
from fairhep.errors import ConfigError
from fairhep.fair import bundle as layout
from fairhep.fair.checklist import PRINCIPLES
from fairhep.fair.package import PackageOptions, package
from fairhep.model import ScoreModel, load_run_model


def test_sha256sums_covers_every_file_and_sha256sum_accepts_it(run_bundle):
    root = run_bundle.root
    listed = [line.split("  ", 1)[1] for line in (root / layout.SUMS).read_text().splitlines()]
    on_disk = sorted(p.relative_to(root).as_posix() for p in root.rglob("*")
                     if p.is_file() and p.name != layout.SUMS)
    assert sorted(listed) == on_disk
    assert {"model.onnx", "model_card.md", "model_card.json", "CITATION.cff",
            "weights/best.pth", "validation/newdata_0.h5", "validation/expected_scores.npy",
            f"triton/{run_bundle.model_id}/config.pbtxt",
            f"triton/{run_bundle.model_id}/1/model.onnx"} <= set(listed)
    done = subprocess.run(["sha256sum", "--check", "--strict", layout.SUMS], cwd=root,
                          capture_output=True, text=True, check=False)
    assert done.returncode == 0, done.stdout + done.stderr


def test_identifier_is_the_model_files_hash_and_the_id_names_the_bundle_everywhere(run_bundle):
    root, mid = run_bundle.root, run_bundle.model_id
    digest = hashlib.sha256((root / "model.onnx").read_bytes()).hexdigest()
    assert run_bundle.identifier == f"sha256:{digest}" and mid == f"hbb-in-{digest[:16]}"
    # the served copy is the same model; it adds only the card's ONNX keys (fair.interop)
    import onnx

    served = onnx.load(str(root / "triton" / mid / "1" / "model.onnx"))
    original = onnx.load(str(root / "model.onnx"))
    assert served.graph == original.graph
    extra = {p.key for p in served.metadata_props} - {p.key for p in original.metadata_props}
    assert extra == {"model_author", "model_license", "model_card"}
    cff = yaml.safe_load((root / "CITATION.cff").read_text())
    assert cff["cff-version"] == "1.2.0" and cff["version"] == mid
    assert cff["identifiers"][0]["value"] == run_bundle.identifier
    assert [a["name"] for a in cff["authors"]] == ["Ada Lovelace"]
    assert mid in (root / "model_card.md").read_text()
    assert json.loads((root / "validation" / "validation.json").read_text())["model_id"] == mid


def test_triton_config_is_valid_protobuf_text_with_the_cards_shapes(run_bundle):
    config = triton_config(run_bundle.root, run_bundle.model_id)
    assert config["name"] == run_bundle.model_id and config["platform"] == "onnxruntime_onnx"
    assert {i["name"]: [int(d) for d in i["dims"]] for i in config["input"]} == {
        schema.ONNX_INPUT_TRACKS: list(schema.TRACK_SHAPE),
        schema.ONNX_INPUT_SVS: list(schema.SV_SHAPE)}
    assert [(o["name"], [int(d) for d in o["dims"]]) for o in config["output"]] == [
        (schema.ONNX_OUTPUT, [2])]
    assert config["max_batch_size"] > 0 and "dynamic_batching" in config


def test_card_states_inputs_in_schema_order_with_units_and_the_runs_training(run_bundle,
                                                                            trained_run,
                                                                            fair_data):
    card = run_bundle.card
    tracks, svs = card["inputs"]
    assert tracks["name"] == schema.ONNX_INPUT_TRACKS and tracks["shape"] == [-1, 30, 60]
    assert [f["name"] for f in tracks["features"]] == list(schema.TRACK_FEATURES)
    assert [f["unit"] for f in svs["features"]] == [f.unit for f in schema.SV_FEATURE_SPECS]
    assert "zeros" in tracks["padding"] and tracks["dropped_features"] == []
    assert card["outputs"][0]["softmax_inside"] is True
    assert card["model"]["config"]["hidden"] == 8 and card["model"]["parameters"] > 0
    data = card["training_data"]
    assert data["doi"] == schema.DATASET_DOI and data["origin"] == "synthetic"
    assert data["manifest_sha256"] == hashlib.sha256(
        (fair_data / "manifest.json").read_bytes()).hexdigest()
    assert data["split"]["method"] == "points" and card["training"]["epochs"] == 2
    assert card["source"] == {"kind": "run", "path": str(trained_run)}
    assert any("synthetic jets" in lim for lim in card["limitations"])


def test_card_metrics_carry_uncertainties_where_they_are_defined(run_bundle):
    metrics = run_bundle.card["metrics"]
    sources = {m["source"].split(" ")[0] for m in metrics}
    assert {"train.json", "the", "evaluate"} <= sources  # summary, sample, records
    train_acc = next(m for m in metrics if m["source"].startswith("train.json")
                     and m["name"] == "accuracy")
    p, n = train_acc["value"], train_acc["n_jets"]
    assert n == 24 and train_acc["uncertainty"] == pytest.approx((p * (1 - p) / n) ** 0.5)
    sample_auc = next(m for m in metrics if m["source"].startswith("the bundle")
                      and m["name"] == "auc")
    assert sample_auc["uncertainty"] is None or sample_auc["uncertainty"] > 0
    evaluated = [m for m in metrics if m["source"].startswith("evaluate record")]
    assert [m["name"] for m in evaluated] == ["accuracy", "auc"]
    assert evaluated[0]["n_jets"] == 240 and evaluated[0]["uncertainty"] > 0


def test_fair_checklist_covers_table_1_and_follows_the_bundles_facts(run_bundle):
    items = run_bundle.card["fair"]
    assert [i["id"] for i in items] == [pid for pid, _ in PRINCIPLES]
    status = {i["id"]: i["status"] for i in items}
    assert status["F1"] == "partly" and status["F4"] == "not met"  # no DOI given
    assert status["I2"] == "met" and status["R1.2"] == "met"  # manifest hash + recipe
    md = (run_bundle.root / "model_card.md").read_text()
    for item in items:  # one source: every line of the checklist is in the Markdown too
        assert item["how"] in md


def test_validation_sample_is_the_runs_held_out_jets_in_the_suites_layout(run_bundle,
                                                                         trained_run):
    folder = run_bundle.validation_dir
    report = check_dataset(folder)
    assert not report.problems, report.problems
    jets = load_dataset(folder)
    assert len(jets) == RUN_SAMPLE_JETS
    source = run_bundle.validation["source"]
    assert source["kind"] == "held-out training data" and source["origin"] == "synthetic"
    expected = np.load(folder / "expected_scores.npy")
    with torch.inference_mode():
        scores = ScoreModel(load_run_model(trained_run))(torch.from_numpy(jets.tracks),
                                                         torch.from_numpy(jets.svs)).numpy()
    np.testing.assert_allclose(expected, scores, atol=1e-6)
    assert run_bundle.validation["reference"] == "torch-cpu-fp32"
    assert run_bundle.validation["figure"] == "roc.png" and (folder / "roc.png").stat().st_size
    assert (folder / "roc.csv").read_text().splitlines()[0] == "label,fpr,tpr"
    tolerance = run_bundle.validation["tolerance"]
    assert (tolerance["fp32"], tolerance["fp16"]) == (1e-4, 1e-2)


def test_sample_from_test_data_takes_its_first_jets_and_synthetic_records_its_seed(
        trained_run, tiny_test_set, tmp_path):
    from fairhep.fair.sample import write_sample

    src = write_sample(tmp_path / "a", 10, data=tiny_test_set)
    first = load_dataset(tiny_test_set, 10)
    np.testing.assert_array_equal(load_dataset(tmp_path / "a").tracks, first.tracks)
    assert src["kind"] == "test data" and src["n_jets"] == 10
    src = write_sample(tmp_path / "b", 5, seed=42)
    manifest = json.loads((tmp_path / "b" / "manifest.json").read_text())
    assert src == {**src, "kind": "synthetic", "seed": 42}
    assert manifest["origin"] == "synthetic" and manifest["generator"]["seed"] == 42


def test_package_refuses_a_non_empty_out_and_needs_one_source(trained_run, tmp_path, capsys):
    out = tmp_path / "taken"
    out.mkdir()
    (out / "notes.txt").write_text("mine")
    assert main(["package", "--run", str(trained_run), "--out", str(out)]) == 1
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and str(out) in err and "another --out" in err
    assert (out / "notes.txt").read_text() == "mine" and len(list(out.iterdir())) == 1
    with pytest.raises(ConfigError, match="exactly one of"):
        package(PackageOptions(out=tmp_path / "x"))
    assert not list(tmp_path.glob(".*packaging*"))  # nothing half-made left behind


def test_package_cli_takes_the_card_options_and_keeps_the_models_identity(trained_run,
                                                                          run_bundle, tmp_path,
                                                                          capsys):
    out = tmp_path / "b"
    assert main(["package", "--run", str(trained_run), "--out", str(out),
                 "--validation-jets", "3", "--no-progress", "--license", "MIT",
                 "--doi", "10.5281/zenodo.1234567", "--limitation", "Only a test.",
                 "--tolerance", "2e-5"]) == 0
    text = capsys.readouterr().out
    card = json.loads((out / "model_card.json").read_text())
    assert card["identifier"] == run_bundle.identifier  # same model, same identity
    assert re.search(rf"packaged {card['model_id']} \(sha256:[0-9a-f]{{64}}\)", text)
    assert f"fairhep validate {out}" in text
    cff = yaml.safe_load((out / "CITATION.cff").read_text())
    assert cff["license"] == "MIT" and {"type": "doi", "value": "10.5281/zenodo.1234567"} in \
        cff["identifiers"]
    assert {i["id"]: i["status"] for i in card["fair"]}["F1"] == "met"
    assert card["limitations"][-1] == "Only a test."
    validation = json.loads((out / "validation" / "validation.json").read_text())
    assert (validation["tolerance"]["fp32"], validation["tolerance"]["fp16"]) == (2e-5, 1e-2)
    assert "fp32 2e-05" in (out / "model_card.md").read_text()


def test_the_project_itself_has_a_licence_and_a_citation():
    from pathlib import Path

    from fairhep.configfile import read_toml

    root = Path(__file__).resolve().parents[2]
    declared = read_toml(root / "pyproject.toml")["project"]["license"]["text"]
    cff = yaml.safe_load((root / "CITATION.cff").read_text())
    assert cff["cff-version"] == "1.2.0" and cff["license"] == declared == "BSD-3-Clause"
    assert (root / "LICENSE").read_text().startswith("BSD 3-Clause License")
    assert {r.get("doi") for r in cff["references"]} >= {schema.PAPER_DOI, schema.DATASET_DOI}
