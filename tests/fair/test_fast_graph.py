"""The fast graph in bundles (issue 25, item 3): package writes it beside the dense
model.onnx (listed in SHA256SUMS, the card and the Triton repository as version 2), validate
runs both graphs on every runtime here, and a foreign ONNX (no weights) says it has none."""

from __future__ import annotations

import hashlib
import json

import pytest

from fair_helpers import triton_config
from fairhep.cli import main
from fairhep.fair import bundle as layout
from fairhep.fair.validate import validate
from fairhep.results import kinds, load_records


def test_a_run_bundle_has_the_fast_graph_beside_the_dense_one_in_sums_card_and_triton(
        run_bundle):
    import onnx

    from fairhep.export import read_metadata

    root, mid = run_bundle.root, run_bundle.model_id
    fast = run_bundle.fast_onnx
    assert fast is not None and fast.name == "model-fast.onnx"
    meta = read_metadata(fast)
    assert meta["graph_form"] == "fast" and read_metadata(root / "model.onnx")["graph_form"] \
        == "dense"
    sums = dict(reversed(line.split("  ")) for line in
                (root / "SHA256SUMS").read_text().splitlines())
    digest = hashlib.sha256(fast.read_bytes()).hexdigest()
    assert sums["model-fast.onnx"] == digest
    # the identity stays the dense graph's
    assert run_bundle.identifier == "sha256:" + hashlib.sha256(
        (root / "model.onnx").read_bytes()).hexdigest()
    graphs = run_bundle.card["graphs"]
    assert graphs["dense"]["file"] == "model.onnx" and graphs["fast"]["sha256"] == digest
    assert (graphs["dense"]["triton_version"], graphs["fast"]["triton_version"]) == (1, 2)
    card_md = (root / "model_card.md").read_text()
    assert "| fast graph | `model-fast.onnx`" in card_md
    served = onnx.load(str(root / "triton" / mid / "2" / "model.onnx"))
    assert served.graph == onnx.load(str(fast)).graph
    assert "model_card" in {p.key for p in served.metadata_props}


def test_the_triton_config_serves_both_versions(run_bundle, foreign_bundle):
    assert "all" in triton_config(run_bundle.root, run_bundle.model_id)["version_policy"]
    # one version: Triton's default policy
    assert "version_policy" not in triton_config(foreign_bundle.root, foreign_bundle.model_id)
    assert not (foreign_bundle.root / "triton" / foreign_bundle.model_id / "2").exists()


def test_a_foreign_bundle_has_no_fast_graph_and_says_so(foreign_bundle, fair_onnx, tmp_path,
                                                        capsys):
    assert foreign_bundle.fast_onnx is None
    assert set(foreign_bundle.card["graphs"]) == {"dense"}
    assert "| fast graph | none" in (foreign_bundle.root / "model_card.md").read_text()
    code = main(["package", "--onnx", str(fair_onnx), "--interface", "fair-in",
                 "--out", str(tmp_path / "b"), "--validation-jets", "20", "--no-progress"])
    out = capsys.readouterr().out
    assert code == 0 and out.count(layout.FAST_ABSENT) == 1
    notes: list[str] = []
    v = validate(foreign_bundle.root, ("onnxruntime-cpu",), results=None, log=notes.append)
    assert notes.count(layout.FAST_ABSENT) == 1 and v.fast_graph is None
    assert [(r.key, r.graph_form) for r in v.results] == [("onnxruntime-cpu", "dense")]


def test_validate_runs_both_graphs_on_ort_and_cpp_and_records_the_form(run_bundle, cpp_runner,
                                                                       cpp_cache, tmp_path):
    results = tmp_path / "results"
    v = validate(run_bundle.root, ("onnxruntime-cpu", "cpp", "torch-cpu"), results=results,
                 cache_dir=cpp_cache)
    assert v.passed and v.fast_graph == "model-fast.onnx"
    rows = {r.key: r for r in v.results}
    assert set(rows) == {"onnxruntime-cpu", "onnxruntime-cpu/fast", "cpp-onnxruntime",
                         "cpp-onnxruntime/fast", "torch-cpu"}
    for key, r in rows.items():
        want = None if key == "torch-cpu" else "fast" if key.endswith("/fast") else "dense"
        assert r.graph_form == want and r.status == "passed", (key, r)
        assert r.max_abs_diff is not None and r.tolerance is not None, key
        assert r.max_abs_diff <= r.tolerance, key
    assert rows["cpp-onnxruntime/fast"].detail["rows"] == run_bundle.validation["n_jets"]
    (record,) = load_records(results, kinds.VALIDATE)
    per = record.metrics["runtimes"]
    assert per["onnxruntime-cpu/fast"]["graph_form"] == "fast"
    assert per["onnxruntime-cpu/fast"]["graph_file"] == "model-fast.onnx"
    assert per["onnxruntime-cpu"]["graph_form"] == "dense"
    assert record.config["fast_graph"] == "model-fast.onnx"
    json.dumps(record.metrics)  # strict JSON


def test_a_wrong_fast_graph_fails_validation_by_its_own_row(run_bundle, tmp_path):
    """The fast graph is checked, not assumed: a fast graph of other weights fails its row
    while the dense row passes."""
    import shutil

    from fairhep.export import export_fast_onnx
    from run_helpers import make_run

    copy = shutil.copytree(run_bundle.root, tmp_path / "copy")
    make_run(tmp_path / "other-run", seed=11)
    export_fast_onnx(tmp_path / "other-run", copy / "model-fast.onnx")
    layout.write_sums(copy)
    v = validate(copy, ("onnxruntime-cpu",), results=None)
    rows = {r.key: r for r in v.results}
    assert rows["onnxruntime-cpu"].status == "passed"
    assert rows["onnxruntime-cpu/fast"].status == "failed"
    assert "exceeds the fp32 tolerance" in str(rows["onnxruntime-cpu/fast"].reason)
    assert not v.passed and rows["onnxruntime-cpu/fast"].max_abs_diff is not None


@pytest.mark.parametrize("which", ["run", "foreign"])
def test_serve_settings_advertise_exactly_the_graphs_served(which, run_bundle, foreign_bundle,
                                                            tmp_path):
    import importlib.util
    import subprocess
    import sys

    if importlib.util.find_spec("mlserver") is None:
        pytest.skip("mlserver not installed (pip install 'fairhep[serve]')")
    b = run_bundle if which == "run" else foreign_bundle
    # In a child: MLServer and tritonclient.grpc register the same protobuf package.
    code = f"""
import json
from pathlib import Path
from fairhep.fair.bundle import open_bundle
from fairhep.fair.serve import ServeOptions, all_settings
bundle = open_bundle(Path({str(b.root)!r}))
_, models = all_settings(bundle, ServeOptions(), Path({str(tmp_path)!r}))
print(json.dumps([[m.parameters.version, m.parameters.extra["graph_form"],
                   Path(m.parameters.uri).name, m.versions] for m in models]))
"""
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          timeout=120, check=True)
    served = json.loads(done.stdout.splitlines()[-1])
    if which == "run":  # the fast graph first: the default
        assert [s[:3] for s in served] == [[f"{b.identifier}-fast", "fast", "model-fast.onnx"],
                                           [b.identifier, "dense", "model.onnx"]]
    else:
        assert [s[:3] for s in served] == [[b.identifier, "dense", "model.onnx"]]
    assert all(s[3] == [v[0] for v in served] for s in served)
