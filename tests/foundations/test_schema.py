"""The input interface: feature names and order, ablation lists, HDF5 names."""

from __future__ import annotations

import pytest

from fairhep import schema


def test_feature_counts_and_order_match_the_in() -> None:
    assert len(schema.TRACK_FEATURES) == 30
    assert len(schema.SV_FEATURES) == 14
    assert schema.TRACK_FEATURES[0] == "track_ptrel"
    assert schema.TRACK_FEATURES[-1] == "trackBTag_JetDistVal"
    assert schema.SV_FEATURES[-1] == "sv_costhetasvpv"
    assert len(set(schema.TRACK_FEATURES)) == 30 and len(set(schema.SV_FEATURES)) == 14
    assert schema.TRACK_SHAPE == (30, 60) and schema.SV_SHAPE == (14, 5)


def test_ablation_drops_twelve_track_and_five_sv_features() -> None:
    assert len(schema.ABLATION_DROPPED_TRACK_FEATURES) == 12
    assert len(schema.ABLATION_DROPPED_SV_FEATURES) == 5
    # §3.4.2 names these three explicitly.
    assert "track_quality" in schema.ABLATION_DROPPED_TRACK_FEATURES
    assert {"sv_ptrel", "sv_erel"} <= set(schema.ABLATION_DROPPED_SV_FEATURES)
    kept = schema.kept_features(schema.TRACK_FEATURES, schema.ABLATION_DROPPED_TRACK_FEATURES)
    assert len(kept) == 18
    assert schema.feature_indices(schema.TRACK_FEATURES, kept) == sorted(
        schema.feature_indices(schema.TRACK_FEATURES, kept)
    )


def test_unknown_feature_is_named() -> None:
    with pytest.raises(KeyError, match="track_bogus"):
        schema.kept_features(schema.TRACK_FEATURES, ("track_bogus",))


def test_h5_layout_names() -> None:
    assert schema.h5_dataset_name("train", 2) == "training_subgroup/training_2"
    assert schema.h5_dataset_name("test", 3) == "testing_subgroup/testing_3"
    d = schema.describe()
    assert d["track_features"] == list(schema.TRACK_FEATURES)
    assert d["dataset_doi"] == "10.7483/OPENDATA.CMS.JGJX.MS7Q"
    units = d["track_units"]
    assert isinstance(units, list) and len(units) == 30


def test_h5_datasets_are_the_stored_arrays_in_write_order() -> None:
    assert list(schema.h5_datasets("train").items()) == [
        ("training_subgroup/training_2", (30, 60)),
        ("training_subgroup/training_3", (14, 5)),
        ("target_subgroup/target", (2,)),
        ("spectator_subgroup/spectators", (1, 11)),
    ]
    assert next(iter(schema.h5_datasets("test"))) == "testing_subgroup/testing_2"
