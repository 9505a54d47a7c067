"""The hyperparameters and input features of one IN variant (:class:`ModelConfig`) and the
layer names of the published checkpoints."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from typing import Any, TypedDict

from fairhep import schema

STATE_DICT_KEYS: tuple[str, ...] = (
    "fr1", "fr2", "fr3", "fr1_pv", "fr2_pv", "fr3_pv", "fo1", "fo2", "fo3", "fc_fixed",
)


class ModelDict(TypedDict):
    """:meth:`ModelConfig.to_dict`: the config as JSON (run directories, records, ONNX)."""

    hidden: int
    de: int
    do: int
    track_features: list[str]
    sv_features: list[str]
    n_tracks: int
    n_svs: int


@dataclass(frozen=True)
class ModelConfig:
    """Hyperparameters of one IN variant. Defaults are the paper's baseline (Table 3)."""

    hidden: int = 60
    de: int = 20
    do: int = 24
    track_features: tuple[str, ...] = field(default=schema.TRACK_FEATURES)
    sv_features: tuple[str, ...] = field(default=schema.SV_FEATURES)
    n_tracks: int = schema.N_TRACKS
    n_svs: int = schema.N_SVS

    def __post_init__(self) -> None:
        object.__setattr__(self, "track_features", tuple(self.track_features))
        object.__setattr__(self, "sv_features", tuple(self.sv_features))
        for name, known in (("track", schema.TRACK_FEATURES), ("sv", schema.SV_FEATURES)):
            chosen = getattr(self, f"{name}_features")
            unknown = [f for f in chosen if f not in known]
            if unknown:
                raise ValueError(f"unknown {name} feature(s) {unknown}")
        for name in ("hidden", "de", "do"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be positive, got {getattr(self, name)}")

    @property
    def p(self) -> int:
        return len(self.track_features)

    @property
    def s(self) -> int:
        return len(self.sv_features)

    @classmethod
    def ablated(
        cls,
        drop_track_features: int = 0,
        drop_sv_features: int = 0,
        **kwargs: int,
    ) -> ModelConfig:
        """A config without the first N of the paper's least important features (Table 10)."""
        tracks = schema.ABLATION_DROPPED_TRACK_FEATURES
        svs = schema.ABLATION_DROPPED_SV_FEATURES
        if drop_track_features > len(tracks) or drop_sv_features > len(svs):
            raise ValueError(
                f"the paper's ablation drops at most {len(tracks)} track and {len(svs)} SV "
                "features"
            )
        return cls(
            track_features=schema.kept_features(
                schema.TRACK_FEATURES, tracks[:drop_track_features]
            ),
            sv_features=schema.kept_features(schema.SV_FEATURES, svs[:drop_sv_features]),
            **kwargs,
        )

    def to_dict(self) -> ModelDict:
        return ModelDict(  # in field order, as the JSON files have it
            hidden=self.hidden, de=self.de, do=self.do,
            track_features=list(self.track_features), sv_features=list(self.sv_features),
            n_tracks=self.n_tracks, n_svs=self.n_svs,
        )

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> ModelConfig:
        known = {f.name for f in fields(cls)}
        unknown = set(d) - known
        if unknown:
            raise ValueError(f"unknown model config key(s) {sorted(unknown)}")
        return cls(**dict(d))
