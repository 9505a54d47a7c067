"""The hyperparameters and input features of one IN variant (:class:`ModelConfig`) and the
layer names of the published checkpoints.

A variant may drop any set of track and SV features (the FAIR repository's ablated
checkpoints drop many different sets); which ones is part of the config, written into every
run directory, ONNX file and record, because it cannot be read from the weight shapes.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
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
    # Derived from the kept lists, written so that a reader sees what a variant lacks without
    # diffing against the schema: names and 0-based indices in the IN order.
    track_features_dropped: list[str]
    sv_features_dropped: list[str]
    track_indices_dropped: list[int]
    sv_indices_dropped: list[int]


DERIVED_KEYS: tuple[str, ...] = (
    "track_features_dropped", "sv_features_dropped", "track_indices_dropped",
    "sv_indices_dropped",
)


class FeatureListError(ValueError):
    """A feature list (indices or names) that names no feature, or one twice."""


def parse_feature_list(text: str | Sequence[int | str], kind: str, source: str) -> tuple[str, ...]:
    """Feature names, in IN order, from comma-separated 0-based indices in the IN order,
    ranges (``14-21``) or names; ``kind`` is ``"track"`` or ``"sv"``. An empty string is the
    empty set. ``source`` names the option or file key in errors."""
    known = schema.TRACK_FEATURES if kind == "track" else schema.SV_FEATURES
    items: list[int | str] = (
        [t.strip() for t in text.split(",") if t.strip()] if isinstance(text, str) else list(text)
    )
    chosen: list[int] = []
    for item in items:
        chosen += _indices_of(item, known, kind, source)
    twice = sorted({known[i] for i in chosen if chosen.count(i) > 1})
    if twice:
        raise FeatureListError(f"{source}: {', '.join(twice)} given twice")
    return tuple(known[i] for i in sorted(chosen))


def _indices_of(item: int | str, known: tuple[str, ...], kind: str, source: str) -> list[int]:
    hint = (f"give 0-based indices 0-{len(known) - 1} in the IN order or {kind} feature names "
            f"({known[0]}, ..., {known[-1]}; `fairhep model info --features` lists them)")
    if isinstance(item, int) or str(item).isdigit():
        index = int(item)
        if not 0 <= index < len(known):
            raise FeatureListError(f"{source}: index {index} is out of range; {hint}")
        return [index]
    text = str(item)
    lo, dash, hi = text.partition("-")
    if dash and lo.strip().isdigit() and hi.strip().isdigit():
        first, last = int(lo), int(hi)
        if first > last or last >= len(known):
            raise FeatureListError(f"{source}: range {text} is not within 0-{len(known) - 1}; "
                                   f"{hint}")
        return list(range(first, last + 1))
    if text not in known:
        raise FeatureListError(f"{source}: {text!r} is not a {kind} feature; {hint}")
    return [known.index(text)]


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
            if len(set(chosen)) != len(chosen):
                raise ValueError(f"a {name} feature is listed twice in {list(chosen)}")
            if not chosen:
                raise ValueError(f"an IN needs at least one {name} feature; all are dropped")
        for name in ("hidden", "de", "do"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be positive, got {getattr(self, name)}")

    @property
    def p(self) -> int:
        return len(self.track_features)

    @property
    def s(self) -> int:
        return len(self.sv_features)

    @property
    def track_features_dropped(self) -> tuple[str, ...]:
        """The schema's track features this variant does not read, in IN order."""
        return tuple(f for f in schema.TRACK_FEATURES if f not in self.track_features)

    @property
    def sv_features_dropped(self) -> tuple[str, ...]:
        return tuple(f for f in schema.SV_FEATURES if f not in self.sv_features)

    @classmethod
    def dropping(
        cls,
        track: Sequence[str] = (),
        sv: Sequence[str] = (),
        **kwargs: int,
    ) -> ModelConfig:
        """A config without exactly the named track and SV features (any set)."""
        return cls(track_features=schema.kept_features(schema.TRACK_FEATURES, tuple(track)),
                   sv_features=schema.kept_features(schema.SV_FEATURES, tuple(sv)), **kwargs)

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
        if min(drop_track_features, drop_sv_features) < 0:
            raise ValueError("the number of dropped features cannot be negative")
        return cls.dropping(tracks[:drop_track_features], svs[:drop_sv_features], **kwargs)

    def to_dict(self) -> ModelDict:
        return ModelDict(  # fields in field order, as the JSON files have it, then derived
            hidden=self.hidden, de=self.de, do=self.do,
            track_features=list(self.track_features), sv_features=list(self.sv_features),
            n_tracks=self.n_tracks, n_svs=self.n_svs,
            track_features_dropped=list(self.track_features_dropped),
            sv_features_dropped=list(self.sv_features_dropped),
            track_indices_dropped=schema.feature_indices(schema.TRACK_FEATURES,
                                                         self.track_features_dropped),
            sv_indices_dropped=schema.feature_indices(schema.SV_FEATURES,
                                                      self.sv_features_dropped),
        )

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> ModelConfig:
        """The config of :meth:`to_dict` (older files lack the derived keys); derived keys
        that disagree with the kept lists are refused, never silently preferred."""
        known = {f.name for f in fields(cls)}
        unknown = set(d) - known - set(DERIVED_KEYS)
        if unknown:
            raise ValueError(f"unknown model config key(s) {sorted(unknown)}")
        config = cls(**{k: v for k, v in d.items() if k in known})
        derived = config.to_dict()
        for key in DERIVED_KEYS:
            if key in d and list(d[key]) != derived[key]:  # type: ignore[literal-required]
                raise ValueError(f"{key} is {list(d[key])}, but the kept features leave "
                                 f"{derived[key]}")  # type: ignore[literal-required]
        return config
