"""The card as other tools read it (Hugging Face front matter, ONNX model-card keys), what the
card's metrics measure, and the validation sample chosen for sensitivity with its claim
measured. Bundles: the session's packaged run and foreign ONNX (generated jets)."""

from __future__ import annotations

import json

import numpy as np
import onnx
import pytest

from fairhep.fair.bundle import Bundle, triton_model_path
from fairhep.fair.interop import README, read_front_matter
from fairhep.fair.sample import read_expected, unsaturated


def test_readme_front_matter_parses_as_yaml_with_the_hub_fields(run_bundle: Bundle) -> None:
    text = (run_bundle.root / README).read_text()
    fm = read_front_matter(text)
    assert fm["license"] == "cc-by-4.0"
    assert {"high-energy-physics", "onnx"} <= set(fm["tags"])
    assert fm["datasets"] and fm["metrics"] == ["accuracy", "roc_auc"]
    assert fm["model_id"] == run_bundle.model_id
    results = fm["model-index"][0]["results"]
    # performance only: train.json and evaluate records, never the validation sample's check
    assert results and all("validation sample" not in r["metrics"][0]["name"] for r in results)
    # the run was trained and evaluated on generated jets: its results say so
    assert {r["dataset"]["type"] for r in results} == {"synthetic"}
    assert "# Model card:" in text.split("\n---\n", 1)[1]


def test_sample_metrics_are_labelled_a_file_check(run_bundle: Bundle) -> None:
    kinds = {(m["source"].startswith("the bundle's validation sample"), m["kind"])
             for m in run_bundle.card["metrics"]}
    assert (True, "file check") in kinds and (False, "performance") in kinds
    assert (True, "performance") not in kinds
    card_md = (run_bundle.root / "model_card.md").read_text()
    assert "| file check |" in card_md


def test_served_onnx_carries_the_card_and_model_onnx_is_untouched(foreign_bundle: Bundle,
                                                                  fair_onnx) -> None:
    assert (foreign_bundle.root / "model.onnx").read_bytes() == fair_onnx.read_bytes()
    served = onnx.load(str(triton_model_path(foreign_bundle.root, foreign_bundle.model_id)))
    props = {p.key: p.value for p in served.metadata_props}
    assert props["model_license"] == foreign_bundle.card["license"]
    assert props["model_author"] == ", ".join(foreign_bundle.card["authors"])
    assert props["model_card"] == (foreign_bundle.root / README).read_text()
    assert read_front_matter(props["model_card"])["model_id"] == foreign_bundle.model_id
    original = onnx.load(str(foreign_bundle.root / "model.onnx"))
    assert served.graph == original.graph  # same model, only the metadata differs


def test_published_model_card_quotes_the_papers_metrics(fair_root, fair_onnx) -> None:
    from fairhep.cli import main

    assert main(["package", "--onnx", str(fair_onnx), "--out", str(fair_root / "paper-bundle"),
                 "--interface", "fair-in", "--validation-jets", "4", "--no-progress",
                 "--published-model", "paper"]) == 0
    card = json.loads((fair_root / "paper-bundle" / "model_card.json").read_text())
    quoted = [m for m in card["metrics"] if m["kind"] == "published"]
    assert {m["name"]: m["value"] for m in quoted} == {"accuracy": 0.97507, "auc": 0.99103}
    assert all("Table 8" in m["source"] and "doi:" in m["source"] for m in quoted)
    fm = read_front_matter((fair_root / "paper-bundle" / README).read_text())
    assert {r["metrics"][0]["value"] for r in fm["model-index"][0]["results"]} == \
        {0.97507, 0.99103}


def test_unsaturated_keeps_jets_away_from_0_and_1() -> None:
    hbb = np.array([0.0, 1.0, 0.5, 0.001, 0.3, 0.999, 0.02, 0.9], np.float32)
    scores = np.stack([1 - hbb, hbb], axis=1)
    idx, info = unsaturated(scores, 3)
    assert idx.tolist() == [2, 4, 6] and info["kept"] == 3 and info["candidates"] == 8
    idx, info = unsaturated(scores, 6)  # 4 inside the window, then the least saturated
    assert idx.tolist() == [2, 3, 4, 5, 6, 7] and info["inside_window"] == 4


def test_sample_is_not_saturated_and_its_sensitivity_is_measured(foreign_bundle: Bundle) -> None:
    v = foreign_bundle.validation
    expected = read_expected(foreign_bundle.validation_dir, v["n_jets"])
    hbb = expected[:, 1]
    sel = v["source"]["selection"]
    assert sel["candidates"] == 4 * v["n_jets"] and sel["kept"] == v["n_jets"]
    inside = int(np.sum((hbb >= 0.01) & (hbb <= 0.99)))
    assert inside == sel["inside_window"]
    sens = v["sensitivity"]
    swaps = [k for k, x in sens.items() if isinstance(x, dict)]
    assert len(swaps) == 2
    assert sens["smallest_max_abs_delta"] == pytest.approx(
        min(sens[k]["max_abs_delta"] for k in swaps))
    assert sens["detected"] == (sens["smallest_max_abs_delta"] > v["tolerance"]["fp32"])
    assert "measured on this sample" in v["tolerance_reason"]
