"""Ablated checkpoints with explicit dropped feature sets (issue 10 §1): imported exactly as
published, never guessed from shapes, checked against the FAIR metadata JSON, and fed the
full schema arrays with exactly the named feature rows left out."""

from __future__ import annotations

import json
from collections import OrderedDict
from pathlib import Path

import numpy as np
import pytest
import torch

from fairhep import schema
from fairhep.cli import main
from fairhep.model import (
    RUN_CONFIG,
    FeatureListError,
    ModelConfig,
    load_run_model,
    parse_feature_list,
)

# Dropped sets of the FAIR repository's ablated checkpoints (hbb-dataset.md, "The model").
TRACKS_14_21 = list(range(14, 22))
TABLE10_TRACKS = [2, 13, 14, 15, 16, 17, 18, 19, 20, 21, 25, 26]
TABLE10_SVS = [0, 1, 2, 3, 8]
SETS = {
    "tracks-14-21": (TRACKS_14_21, []),
    "svs-2-8": ([], [2, 8]),
    "table10": (TABLE10_TRACKS, TABLE10_SVS),
}
SIZES = {"hidden": 16, "De": 8, "Do": 8}


def original_state_dict(p: int, s: int, seed: int = 5) -> OrderedDict[str, torch.Tensor]:
    """Random weights in the original code's key layout and nn.Linear shapes (out, in),
    built from the shapes alone (not through fairhep's network)."""
    h, de, do = SIZES["hidden"], SIZES["De"], SIZES["Do"]
    shapes = {"fr1": (h, 2 * p), "fr2": (h, h), "fr3": (de, h),
              "fr1_pv": (h, p + s), "fr2_pv": (h, h), "fr3_pv": (de, h),
              "fo1": (h, p + 2 * de), "fo2": (h, h), "fo3": (do, h), "fc_fixed": (2, do)}
    gen = torch.Generator().manual_seed(seed)
    state: OrderedDict[str, torch.Tensor] = OrderedDict()
    for name, (n_out, n_in) in shapes.items():
        state[f"{name}.weight"] = torch.randn(n_out, n_in, generator=gen) / n_in ** 0.5
        state[f"{name}.bias"] = 0.1 * torch.randn(n_out, generator=gen)
    return state


def independent_logits(state: dict[str, torch.Tensor], tracks: np.ndarray, svs: np.ndarray,
                       drop_t: list[int], drop_s: list[int]) -> np.ndarray:
    """The IN of Moreno et al. in NumPy (float64), written from the paper's definition:
    first delete exactly the dropped feature rows, then edges receiver-major over r != s,
    [x_r; x_s] and [x_t; y_v] edge inputs, sums onto receivers, f_O summed over tracks."""
    w = {k: v.double().numpy() for k, v in state.items()}

    def mlp(a: np.ndarray, *names: str) -> np.ndarray:
        for n in names:
            a = np.maximum(a @ w[f"{n}.weight"].T + w[f"{n}.bias"], 0.0)
        return a

    x = np.delete(tracks.astype(np.float64), drop_t, axis=1).transpose(0, 2, 1)  # B,Np,P
    y = np.delete(svs.astype(np.float64), drop_s, axis=1).transpose(0, 2, 1)  # B,Nv,S
    b, n_p, _ = x.shape
    n_v = y.shape[1]
    recv, send = zip(*[(r, s_) for r in range(n_p) for s_ in range(n_p) if r != s_],
                     strict=True)
    e = mlp(np.concatenate([x[:, list(recv)], x[:, list(send)]], axis=2), "fr1", "fr2", "fr3")
    e_pp = np.zeros((b, n_p, e.shape[2]))
    # e_pp[:, r] += e[:, i] for each edge i received by r (jets on axis 1 of the views)
    np.add.at(e_pp.swapaxes(0, 1), np.array(recv), e.swapaxes(0, 1))
    tk, vk = np.repeat(np.arange(n_p), n_v), np.tile(np.arange(n_v), n_p)
    f = mlp(np.concatenate([x[:, tk], y[:, vk]], axis=2), "fr1_pv", "fr2_pv", "fr3_pv")
    e_vp = np.zeros((b, n_p, f.shape[2]))
    np.add.at(e_vp.swapaxes(0, 1), tk, f.swapaxes(0, 1))
    o = mlp(np.concatenate([x, e_pp, e_vp], axis=2), "fo1", "fo2", "fo3").sum(axis=1)
    return np.asarray(o @ w["fc_fixed.weight"].T + w["fc_fixed.bias"])


def _jets(n: int = 3, seed: int = 9) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    tracks = rng.normal(size=(n, *schema.TRACK_SHAPE)).astype(np.float32)
    tracks[:, :, 45:] = 0  # zero-padded tail, as in real jets
    svs = rng.normal(size=(n, *schema.SV_SHAPE)).astype(np.float32)
    svs[:, :, 3:] = 0
    return tracks, svs


def _checkpoint(tmp_path: Path, drop_t: list[int], drop_s: list[int]
                ) -> tuple[Path, OrderedDict[str, torch.Tensor]]:
    state = original_state_dict(schema.N_TRACK_FEATURES - len(drop_t),
                                schema.N_SV_FEATURES - len(drop_s))
    pth = tmp_path / "IN_best.pth"
    torch.save(state, pth)
    return pth, state


def _fair_metadata(path: Path, drop_t: list[int], drop_s: list[int], **override: object) -> Path:
    meta = {"drop_pfeatures": ",".join(map(str, drop_t)),
            "drop_svfeatures": ",".join(map(str, drop_s)), **SIZES,
            "label": "IN_ablated", "batch_size": 128, **override}
    path.write_text(json.dumps(meta))
    return path


def _scores(run: Path, tracks: np.ndarray, svs: np.ndarray) -> np.ndarray:
    with torch.no_grad():
        return np.asarray(load_run_model(run)(torch.from_numpy(tracks), torch.from_numpy(svs)))


@pytest.mark.parametrize("how", ["metadata", "lists"])
@pytest.mark.parametrize("name", list(SETS))
def test_imported_model_removes_exactly_the_named_rows(tmp_path, name, how, capsys):
    drop_t, drop_s = SETS[name]
    pth, state = _checkpoint(tmp_path, drop_t, drop_s)
    run = tmp_path / "run"
    if how == "metadata":
        extra = ["--metadata", str(_fair_metadata(tmp_path / "meta.json", drop_t, drop_s))]
    else:  # indices for tracks, names for SVs: both spellings are accepted
        extra = (["--track-features-dropped", ",".join(map(str, drop_t))] if drop_t else []) + (
            ["--sv-features-dropped", ",".join(schema.SV_FEATURES[i] for i in drop_s)]
            if drop_s else [])
    assert main(["model", "import", str(pth), "--out", str(run), *extra]) == 0
    capsys.readouterr()
    tracks, svs = _jets()
    ours = _scores(run, tracks, svs)
    expected = independent_logits(state, tracks, svs, drop_t, drop_s)
    np.testing.assert_allclose(ours, expected, rtol=0, atol=2e-4)
    assert np.abs(expected[0] - expected[1]).max() > 1e-3  # jets differ: not trivially equal

    model = json.loads((run / RUN_CONFIG).read_text())["model"]
    assert model["track_indices_dropped"] == drop_t and model["sv_indices_dropped"] == drop_s
    assert model["track_features_dropped"] == [schema.TRACK_FEATURES[i] for i in drop_t]
    assert model["sv_features_dropped"] == [schema.SV_FEATURES[i] for i in drop_s]


def test_the_old_shape_guess_would_have_given_other_scores(tmp_path, capsys):
    """Tracks 14-21 dropped: the Table 10 prefix of the same length (2, 13, 14, ..., 19) is a
    different model, which is why the shapes alone are not enough."""
    pth, state = _checkpoint(tmp_path, TRACKS_14_21, [])
    run = tmp_path / "run"
    assert main(["model", "import", str(pth), "--out", str(run),
                 "--track-features-dropped", "14-21"]) == 0
    tracks, svs = _jets()
    guess = independent_logits(state, tracks, svs, TABLE10_TRACKS[:8], [])
    assert np.abs(_scores(run, tracks, svs) - guess).max() > 1e-2
    assert "track features dropped: track_dptdpt" in capsys.readouterr().out


def test_a_reduced_checkpoint_without_a_feature_list_is_refused(tmp_path, capsys):
    pth, _ = _checkpoint(tmp_path, TRACKS_14_21, [])
    assert main(["model", "import", str(pth), "--out", str(tmp_path / "run")]) == 1
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and str(pth) in err
    assert "22 of 30 track" in err and "--metadata" in err and "--track-features-dropped" in err
    assert not (tmp_path / "run").exists()


def test_a_full_feature_checkpoint_imports_without_a_list(tmp_path, capsys):
    pth, state = _checkpoint(tmp_path, [], [])
    run = tmp_path / "run"
    assert main(["model", "import", str(pth), "--out", str(run)]) == 0
    tracks, svs = _jets()
    np.testing.assert_allclose(_scores(run, tracks, svs),
                               independent_logits(state, tracks, svs, [], []), atol=2e-4)
    assert json.loads((run / RUN_CONFIG).read_text())["model"]["track_indices_dropped"] == []


@pytest.mark.parametrize(("override", "key", "values"), [
    ({"hidden": 32}, "'hidden'", ("32", "16")),
    ({"De": 4}, "'De'", ("4", "8")),
    ({"drop_pfeatures": "14,15,16,17,18,19,20,21,25"}, "'drop_pfeatures'", ("9", "8")),
    ({"drop_svfeatures": "2"}, "'drop_svfeatures'", ("1", "0")),
])
def test_metadata_that_contradicts_the_weights_is_refused(tmp_path, capsys, override, key,
                                                          values):
    pth, _ = _checkpoint(tmp_path, TRACKS_14_21, [])
    meta = _fair_metadata(tmp_path / "meta.json", TRACKS_14_21, [], **override)
    assert main(["model", "import", str(pth), "--out", str(tmp_path / "run"),
                 "--metadata", str(meta)]) == 1
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and str(meta) in err and key in err
    for v in values:
        assert v in err
    assert not (tmp_path / "run").exists()


def test_metadata_and_an_explicit_list_must_agree(tmp_path, capsys):
    pth, _ = _checkpoint(tmp_path, TRACKS_14_21, [])
    meta = _fair_metadata(tmp_path / "meta.json", TRACKS_14_21, [])
    argv = ["model", "import", str(pth), "--metadata", str(meta)]
    assert main([*argv, "--out", str(tmp_path / "r1"), "--track-features-dropped",
                 "13-20"]) == 1
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "drop_pfeatures" in err and "give one" in err
    assert main([*argv, "--out", str(tmp_path / "r2"), "--track-features-dropped",
                 "14-21"]) == 0


def test_a_list_of_the_wrong_length_is_refused(tmp_path, capsys):
    pth, _ = _checkpoint(tmp_path, [], [2, 8])
    assert main(["model", "import", str(pth), "--out", str(tmp_path / "run"),
                 "--sv-features-dropped", "2"]) == 1
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "names 1 SV" in err and "12 of 14" in err


def test_feature_lists_take_indices_ranges_and_names():
    assert parse_feature_list("14-16,2", "track", "opt") == tuple(
        schema.TRACK_FEATURES[i] for i in (2, 14, 15, 16))
    assert parse_feature_list("sv_ptrel, 8", "sv", "opt") == ("sv_ptrel", "sv_normchi2")
    assert parse_feature_list("", "sv", "opt") == ()
    for bad, match in (("30", "out of range"), ("track_nope", "not a track feature"),
                       ("2,2", "twice"), ("5-3", "range"), ("sv_pt", "not a track")):
        with pytest.raises(FeatureListError, match=match):
            parse_feature_list(bad, "track", "--track-features-dropped")


def test_model_info_takes_explicit_lists_and_keeps_the_table10_counts(capsys):
    assert main(["model", "info", "--hidden", "32", "--de", "16", "--do", "16",
                 "--track-features-dropped", ",".join(map(str, TABLE10_TRACKS)),
                 "--sv-features-dropped", ",".join(map(str, TABLE10_SVS)), "--json"]) == 0
    explicit = json.loads(capsys.readouterr().out)
    assert main(["model", "info", "--hidden", "32", "--de", "16", "--do", "16",
                 "--drop-track-features", "12", "--drop-sv-features", "5", "--json"]) == 0
    table10 = json.loads(capsys.readouterr().out)
    assert explicit == table10 and explicit["parameters"] == 8_498  # Table 10
    assert table10["model"]["track_indices_dropped"] == TABLE10_TRACKS

    assert main(["model", "info", "--track-features-dropped", "14-21", "--json"]) == 0
    info = json.loads(capsys.readouterr().out)
    assert info["P"] == 22 and info["model"]["track_indices_dropped"] == TRACKS_14_21

    assert main(["model", "info", "--drop-track-features", "2",
                 "--track-features-dropped", "3"]) == 1
    assert "give one" in capsys.readouterr().err

    assert main(["model", "info", "--sv-features-dropped", "2,8", "--features"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert any(line.split()[:2] == ["8", "sv_normchi2"] and line.endswith("dropped")
               for line in lines)
    assert any(line.split() == ["0", "sv_ptrel", "1"] for line in lines)


def test_config_with_dropped_sets_round_trips_and_refuses_contradictions():
    config = ModelConfig.dropping([schema.TRACK_FEATURES[i] for i in TRACKS_14_21],
                                  ["sv_phirel", "sv_normchi2"], hidden=16, de=8, do=8)
    d = json.loads(json.dumps(config.to_dict()))
    assert ModelConfig.from_dict(d) == config
    assert d["sv_indices_dropped"] == [2, 8]
    d["track_indices_dropped"] = [1, 2]
    with pytest.raises(ValueError, match="track_indices_dropped"):
        ModelConfig.from_dict(d)
    with pytest.raises(ValueError, match="at least one sv"):
        ModelConfig.dropping((), schema.SV_FEATURES)
