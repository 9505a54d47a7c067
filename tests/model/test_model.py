"""The interaction network: the paper's parameter counts, the factored forward pass against
the literal interaction-matrix formulation, and importing checkpoints of the original code."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from dataclasses import fields
from pathlib import Path
from typing import Any

import pytest
import torch

from fairhep.cli import main
from fairhep.model import (
    BEST_WEIGHTS,
    STATE_DICT_KEYS,
    CheckpointError,
    InteractionNetwork,
    ModelConfig,
    import_checkpoint,
    load_run_model,
    reference_forward,
)

# Table 3 (baseline) and Table 10 (12 track + 5 SV features dropped) of the paper.
PAPER_COUNTS = [
    ({"hidden": 60, "de": 20, "do": 24}, 0, 0, 25_554),
    ({"hidden": 32, "de": 16, "do": 16}, 12, 5, 8_498),
    ({"hidden": 32, "de": 8, "do": 8}, 12, 5, 7_178),
    ({"hidden": 16, "de": 8, "do": 8}, 12, 5, 2_842),
]


@pytest.mark.parametrize(("sizes", "drop_t", "drop_s", "expected"), PAPER_COUNTS)
def test_parameter_counts_match_the_paper(sizes, drop_t, drop_s, expected):
    net = InteractionNetwork(ModelConfig.ablated(drop_t, drop_s, **sizes))
    assert net.n_parameters() == expected


@pytest.mark.parametrize(("sizes", "drop_t", "drop_s", "expected"), PAPER_COUNTS)
def test_model_info_cli_reports_the_paper_counts(sizes, drop_t, drop_s, expected, capsys):
    argv = ["model", "info", "--hidden", str(sizes["hidden"]), "--de", str(sizes["de"]),
            "--do", str(sizes["do"]), "--drop-track-features", str(drop_t),
            "--drop-sv-features", str(drop_s)]
    assert main([*argv, "--json"]) == 0
    info = json.loads(capsys.readouterr().out)
    assert info["parameters"] == expected
    assert info["model"]["hidden"] == sizes["hidden"]
    assert info["P"] == 30 - drop_t and info["S"] == 14 - drop_s
    assert sum(info["layers"].values()) == expected
    assert main(argv) == 0
    assert f"parameters: {expected:,}" in capsys.readouterr().out


def test_model_info_rejects_more_dropped_features_than_the_paper(capsys):
    assert main(["model", "info", "--drop-track-features", "13"]) == 1
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "at most 12 track" in err


@pytest.mark.parametrize("config", [
    ModelConfig(),
    ModelConfig.ablated(12, 5, hidden=16, de=8, do=8),
], ids=["baseline", "ablated"])
def test_factored_forward_equals_interaction_matrix_reference(config):
    torch.manual_seed(1)
    net = InteractionNetwork(config).eval()
    # Zero-padded tail as in real jets: padded tracks are ordinary nodes.
    tracks = torch.randn(3, 30, 60)
    tracks[:, :, 40:] = 0
    svs = torch.randn(3, 14, 5)
    svs[:, :, 3:] = 0
    with torch.no_grad():
        fast = net(tracks, svs)
        ref = reference_forward(net, tracks, svs)
    assert fast.shape == (3, 2)
    torch.testing.assert_close(fast, ref, rtol=0, atol=1e-5)
    # Not trivially equal: outputs differ between jets.
    assert (fast[0] - fast[1]).abs().max() > 1e-4


def test_config_dict_has_every_field_and_round_trips_through_json():
    config = ModelConfig.ablated(12, 5, hidden=16, de=8, do=8)
    d = config.to_dict()
    names = [f.name for f in fields(ModelConfig)]
    assert list(d)[:len(names)] == names
    assert list(d)[len(names):] == ["track_features_dropped", "sv_features_dropped",
                                    "track_indices_dropped", "sv_indices_dropped"]
    assert ModelConfig.from_dict(json.loads(json.dumps(d))) == config
    # model.json files written before the dropped lists existed still load.
    written: dict[str, Any] = dict(d)
    assert ModelConfig.from_dict({k: written[k] for k in names}) == config


def _original_state_dict(config: ModelConfig, seed: int = 3) -> dict[str, torch.Tensor]:
    """A state_dict as the original code saved it: plain tensors under fr1 ... fc_fixed."""
    torch.manual_seed(seed)
    state = InteractionNetwork(config).state_dict()
    assert sorted({k.rsplit(".", 1)[0] for k in state}) == sorted(STATE_DICT_KEYS)
    return {k: v.clone() for k, v in state.items()}


TABLE10_LISTS = ["--track-features-dropped", "2,13-21,25,26", "--sv-features-dropped", "0-3,8"]


@pytest.mark.parametrize(("config", "lists"), [
    (ModelConfig(), []),
    (ModelConfig.ablated(12, 5, hidden=32, de=16, do=16), TABLE10_LISTS),
], ids=["baseline", "ablated"])
def test_import_original_checkpoint_makes_a_run_directory(tmp_path, config, lists, capsys):
    state = _original_state_dict(config)
    pth = tmp_path / "IN_best.pth"
    torch.save(state, pth)
    run = tmp_path / "run"
    assert main(["model", "import", str(pth), "--out", str(run), *lists]) == 0
    assert f"{InteractionNetwork(config).n_parameters():,} parameters" in capsys.readouterr().out
    net = load_run_model(run)
    assert net.config == config  # sizes from the shapes, dropped features from the lists
    for k, v in net.state_dict().items():
        assert torch.equal(v, state[k])
    # The run's weights load safely and give the original model's outputs.
    plain = torch.load(run / BEST_WEIGHTS, weights_only=True)
    assert set(plain) == set(state)
    # Importing into the same directory again must not replace it.
    with pytest.raises(CheckpointError, match="already holds a model"):
        import_checkpoint(pth, run)


def test_import_rejects_wrong_shape_with_one_line(tmp_path, capsys):
    state = _original_state_dict(ModelConfig())
    state["fo2.weight"] = torch.zeros(60, 59)
    pth = tmp_path / "bad.pth"
    torch.save(state, pth)
    assert main(["model", "import", str(pth), "--out", str(tmp_path / "run")]) == 1
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1
    assert "fo2.weight" in err and "(60, 59)" in err and "(60, 60)" in err
    assert not (tmp_path / "run").exists()


def test_import_rejects_missing_key_and_foreign_files(tmp_path, capsys):
    state = _original_state_dict(ModelConfig())
    del state["fc_fixed.bias"]
    pth = tmp_path / "partial.pth"
    torch.save(state, pth)
    assert main(["model", "import", str(pth), "--out", str(tmp_path / "r1")]) == 1
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "fc_fixed.bias" in err

    text = tmp_path / "notes.pth"
    text.write_text("this is not a checkpoint\nsecond line\n")
    assert main(["model", "import", str(text), "--out", str(tmp_path / "r2")]) == 1
    err = capsys.readouterr().err.strip()
    assert err == (f"fairhep model: error: {text}: not a PyTorch checkpoint (a text file); "
                   "give the .pth file the model was saved to")

    junk = tmp_path / "junk.pth"
    junk.write_bytes(bytes(range(256)) * 8)
    assert main(["model", "import", str(junk), "--out", str(tmp_path / "r2")]) == 1
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "a binary file of unknown format" in err
    assert not any(ch.isdigit() for ch in err.split("(")[-1])  # no bare torch opcode numbers

    tensor = tmp_path / "tensor.pth"
    torch.save(torch.zeros(3), tensor)
    assert main(["model", "import", str(tensor), "--out", str(tmp_path / "r3")]) == 1
    assert "not a state_dict" in capsys.readouterr().err

    assert main(["model", "import", str(tmp_path / "absent.pth"), "--out",
                 str(tmp_path / "r4")]) == 1
    assert "absent.pth" in capsys.readouterr().err
    assert not any((tmp_path / r).exists() for r in ("r1", "r2", "r3", "r4"))


def test_load_run_model_names_a_missing_run(tmp_path: Path):
    with pytest.raises(CheckpointError, match="not a run directory"):
        load_run_model(tmp_path)


class _WritesAFile:
    """A pickled object that would create a file if anything unpickled it."""

    def __init__(self, target: Path) -> None:
        self.target = target

    def __reduce__(self):
        return (Path.touch, (self.target,))


def test_a_pickled_object_is_not_loaded_and_refused_in_one_line(tmp_path, capsys):
    marker = tmp_path / "code-ran"
    pth = tmp_path / "IN_best.pth"
    torch.save({**_original_state_dict(ModelConfig()), "extra": _WritesAFile(marker)}, pth)
    assert main(["model", "import", str(pth), "--out", str(tmp_path / "run")]) == 1
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and str(pth) in err
    # Which global torch's safe unpickler names first differs between releases (getattr,
    # pathlib.PosixPath): one is named.
    assert re.search(r"not a plain state_dict \(it pickles \S+, not only tensors\)", err), err
    assert "was not loaded" in err
    assert "weights_only" not in err
    assert not marker.exists() and not (tmp_path / "run").exists()


def test_a_protocol_4_pickle_is_refused_without_warning_lines(tmp_path):
    pth = tmp_path / "IN_best.pth"
    torch.save(_original_state_dict(ModelConfig()), pth, pickle_protocol=4)
    # A fresh process: torch warns about protocol 4 once per process, before refusing it.
    done = subprocess.run([sys.executable, "-W", "default", "-m", "fairhep", "model", "import",
                           str(pth), "--out", str(tmp_path / "run")],
                          capture_output=True, text=True, check=False)
    assert done.returncode == 1
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1, done.stderr  # no UserWarning lines before it
    assert str(pth) in lines[0] and "not a plain state_dict" in lines[0]
    assert "was not loaded" in lines[0] and "weights_only" not in lines[0]
    assert not (tmp_path / "run").exists()
