"""How real a set of jets looks to a model trained on real jets (`fairhep data realism`).

The model (the paper's published baseline, or any imported run) is an *instrument*: its AUC on
the jets says how much of what it learnt on CMS simulation holds on them, and the per-feature
table says where it does not. For each input feature the study recomputes the AUC with that
feature (a) shuffled across jets, i.e. its values on real tracks (SVs) permuted among all
real tracks (SVs) of the sample, and (b) set to its mean over real tracks (SVs); padded
slots stay zero, as in the training data. A feature whose neutralisation *raises* the AUC is
one the model reads differently on these jets than on real ones: the generated distribution
disagrees with the real one there.

Never tune a generator against this score: the instrument stops measuring realism the moment
it becomes the target (the weights stay fixed; the numbers of the generator come from physics
and their sources, :mod:`fairhep.data.jetphysics`).
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from fairhep import schema
from fairhep.data.arrays import FloatArray
from fairhep.data.load import JetArrays
from fairhep.errors import ConfigError
from fairhep.model import (
    InteractionNetwork,
    config_from_state_dict,
    load_run_model,
    load_state_dict_file,
    model_from_state_dict,
    read_fair_metadata,
)
from fairhep.xai.jets import gathered_labels, hbb_scores, stream
from fairhep.xai.masking import SV, TRACK, auc

BASELINE_ENV = "FAIRHEP_PUBLISHED_BASELINE"
BASELINE_FILE = "gnn_baseline_best.pth"
# The shared/ folder beside a checkout holds the published checkpoint (its README: MIT).
_BESIDE_CHECKOUT = Path(__file__).resolve().parents[3].parent / "shared" / "published"

Progress = Callable[[int], None]


def default_checkpoint() -> Path:
    """$FAIRHEP_PUBLISHED_BASELINE, else ../shared/published/gnn_baseline_best.pth beside the
    checkout or the working directory; a one-line error when none exists."""
    env = os.environ.get(BASELINE_ENV)
    candidates = ([Path(env)] if env else
                  [_BESIDE_CHECKOUT / BASELINE_FILE,
                   Path.cwd().parent / "shared" / "published" / BASELINE_FILE])
    for cand in candidates:
        if cand.is_file():
            return cand
    raise ConfigError(f"no published baseline checkpoint (looked at "
                      f"{', '.join(map(str, candidates))}): give --checkpoint FILE.pth or "
                      f"--run RUN_DIR, or set {BASELINE_ENV}")


def load_instrument(checkpoint: Path | None = None, metadata: Path | None = None,
                    run: Path | None = None) -> tuple[InteractionNetwork, str]:
    """The model and a line naming it: a run directory, or a published state_dict (the
    default: the paper's baseline) with its FAIR metadata file where it dropped features."""
    if run is not None:
        return load_run_model(Path(run)), f"run {run}"
    path = Path(checkpoint) if checkpoint is not None else default_checkpoint()
    state = load_state_dict_file(path)
    meta = read_fair_metadata(metadata) if metadata is not None else None
    config = config_from_state_dict(state, str(path),
                                    meta.track_dropped if meta else None,
                                    meta.sv_dropped if meta else None)
    return model_from_state_dict(state, config, str(path)).eval(), f"checkpoint {path}"


@dataclass(frozen=True)
class FeatureShift:
    group: str  # "track" or "sv"
    feature: str
    auc_shuffled: float
    auc_mean: float
    base_auc: float

    @property
    def delta_shuffled(self) -> float:
        """AUC(shuffled) - AUC: positive when destroying the feature *helps* the model."""
        return self.auc_shuffled - self.base_auc

    @property
    def delta_mean(self) -> float:
        return self.auc_mean - self.base_auc

    @property
    def largest(self) -> float:
        return max(abs(self.delta_shuffled), abs(self.delta_mean))


@dataclass(frozen=True)
class Realism:
    model: str
    auc: float
    n_jets: int
    features: tuple[FeatureShift, ...]  # largest |change| first

    def as_dict(self) -> dict[str, object]:
        return {"model": self.model, "auc": self.auc, "n_jets": self.n_jets,
                "features": [{"group": f.group, "feature": f.feature,
                              "auc_shuffled": f.auc_shuffled, "auc_mean": f.auc_mean,
                              "delta_shuffled": f.delta_shuffled, "delta_mean": f.delta_mean}
                             for f in self.features]}


def _scores(net: InteractionNetwork, tracks: FloatArray, svs: FloatArray,
            batch: int) -> FloatArray:
    with torch.inference_mode():
        out = [hbb_scores(net, torch.from_numpy(tracks[i:i + batch]),
                          torch.from_numpy(svs[i:i + batch])).numpy()
               for i in range(0, len(tracks), batch)]
    return np.concatenate(out)


def _neutralised(arr: FloatArray, row: int, rng: np.random.Generator
                 ) -> tuple[FloatArray, FloatArray]:
    """Copies of ``arr`` (N, features, slots) with feature ``row`` shuffled among the present
    slots, and set to its mean there; absent (all-zero) slots stay zero."""
    present = np.abs(arr).sum(axis=1) > 0
    values = arr[:, row, :][present]
    shuffled, mean = arr.copy(), arr.copy()
    shuffled[:, row, :][present] = rng.permutation(values)
    mean[:, row, :][present] = values.mean() if values.size else 0.0
    return shuffled, mean


def realism_study(net: InteractionNetwork, data_dir: Path, model: str, max_jets: int = 4000,
                  seed: int = 0, batch_size: int = 1024, progress: Progress | None = None
                  ) -> Realism:
    """The model's AUC on the first ``max_jets`` jets of ``data_dir`` and, per input feature
    it reads, the AUC with that feature shuffled across jets and set to its mean."""
    parts = list(stream(Path(data_dir), batch_size, max_jets))
    labels = gathered_labels(Path(data_dir), [p.labels for p in parts])
    jets = JetArrays.concat(parts)
    tracks = np.ascontiguousarray(jets.tracks, np.float32)
    svs = np.ascontiguousarray(jets.svs, np.float32)
    rng = np.random.default_rng(seed)
    base = auc(_scores(net, tracks, svs, batch_size), labels)
    c = net.config
    rows = ([(TRACK, f) for f in c.track_features] + [(SV, f) for f in c.sv_features])
    shifts: list[FeatureShift] = []
    for group, name in rows:
        is_track = group == TRACK
        arr = tracks if is_track else svs
        index = (schema.TRACK_FEATURES if is_track else schema.SV_FEATURES).index(name)
        shuffled, mean = _neutralised(arr, index, rng)
        got = []
        for variant in (shuffled, mean):
            t, s = (variant, svs) if is_track else (tracks, variant)
            got.append(auc(_scores(net, t, s, batch_size), labels))
        shifts.append(FeatureShift(group, name, got[0], got[1], base))
        if progress is not None:
            progress(1)
    shifts.sort(key=lambda f: -f.largest)
    return Realism(model, base, len(labels), tuple(shifts))


def table_lines(result: Realism, top: int | None = None) -> list[str]:
    """The report `fairhep data realism` prints."""
    lines = [f"model: {result.model}",
             f"AUC on {result.n_jets} jets: {result.auc:.4f}",
             ("per feature, AUC change when it is shuffled across jets / set to its mean "
              "(positive: the model does better without it, i.e. these jets disagree with "
              "the real ones there):"),
             f"  {'group':5s} {'feature':22s} {'shuffled':>9s} {'mean':>9s}"]
    for f in result.features[:top]:
        flag = "  <- disagrees" if max(f.delta_shuffled, f.delta_mean) > 0.005 else ""
        lines.append(f"  {f.group:5s} {f.feature:22s} {f.delta_shuffled:+9.4f} "
                     f"{f.delta_mean:+9.4f}{flag}")
    return lines
