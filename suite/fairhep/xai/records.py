"""The result records of the interpretability studies (kinds ``xai.mask``, ``xai.lrp``,
``xai.rna``, ``xai.ablation``): what the report's Figures 5, 6, 8 and Tables 9, 10 read."""

from __future__ import annotations

import contextlib
import json
from pathlib import Path
from typing import Any

from fairhep.model import RUN_CONFIG, InteractionNetwork
from fairhep.results import ResultRecord, kinds
from fairhep.xai.ablation import AblationRow
from fairhep.xai.activity import ActivityStudy, layer_names
from fairhep.xai.lrp import LrpStudy
from fairhep.xai.masking import MaskStudy


def run_config(run_dir: Path, net: InteractionNetwork, weights: str) -> dict[str, Any]:
    """What a record says about the model: the run, its variant and where it came from."""
    meta: dict[str, Any] = {}
    with contextlib.suppress(OSError, ValueError):  # load_run_model has read it already
        meta = json.loads((Path(run_dir) / RUN_CONFIG).read_text())
    return {
        "run": str(run_dir), "run_name": Path(run_dir).name, "weights": weights,
        "model": net.config.to_dict(), "parameters": net.n_parameters(),
        "imported_from": meta.get("imported_from"),
    }


def mask_record(study: MaskStudy, config: dict[str, Any]) -> ResultRecord:
    return ResultRecord(
        kind=kinds.XAI_MASK,
        config={**config, "masking": "feature set to 0 for every track/SV of every jet",
                "selection": "multi-feature: every feature with single |ΔAUC| < threshold"},
        metrics={
            "auc": study.baseline_auc, "n_jets": study.n_jets,
            "single": [{"group": s.group, "feature": s.feature, "auc": s.auc,
                        "delta_auc": s.delta_auc, "delta_auc_pct": s.delta_auc_pct,
                        "fidelity": s.fidelity} for s in study.singles],
            "thresholds": [{"threshold_pct": t.threshold_pct,
                            "masked_tracks": list(t.mask.tracks), "masked_svs": list(t.mask.svs),
                            "delta_p": len(t.mask.tracks), "delta_s": len(t.mask.svs),
                            "auc": t.auc, "fidelity": t.fidelity} for t in study.thresholds],
        },
    )


def lrp_record(study: LrpStudy, config: dict[str, Any]) -> ResultRecord:
    classes = {name: {"n_jets": c.n_jets, "track_features": c.track_features,
                      "sv_features": c.sv_features, "track_slots": c.track_slots,
                      "sv_slots": c.sv_slots,
                      # A list: the order of the layers (output to inputs) is the point.
                      "stages": [{"layer": k, "relevance": v} for k, v in c.stages.items()]}
               for name, c in study.classes.items()}
    return ResultRecord(
        kind=kinds.XAI_LRP,
        config={**config, **study.rule.describe(),
                "target": "logit of the jet's true class; relevance / that logit",
                "slot_order": "by relative energy (track_erel, sv_erel), highest first"},
        metrics={"n_jets": sum(c.n_jets for c in study.classes.values()), "classes": classes},
    )


def activity_metrics(study: ActivityStudy) -> dict[str, Any]:
    return {"sparsity": study.sparsity["all"], "sparsity_per_class": study.sparsity,
            "n_jets": sum(study.n_jets.values()), "n_jets_per_class": study.n_jets,
            "layers": layer_names(), "rna": study.rna, "dnap": study.dnap}


def rna_record(study: ActivityStudy, config: dict[str, Any]) -> ResultRecord:
    return ResultRecord(
        kind=kinds.XAI_RNA,
        config={**config, "activation": "ReLU output summed over the jet's edges or tracks",
                "sparse_below": 0.2},
        metrics=activity_metrics(study),
    )


def ablation_record(row: AblationRow, config: dict[str, Any]) -> ResultRecord:
    return ResultRecord(
        kind=kinds.XAI_ABLATION,
        config=config,
        metrics={"auc": row.auc, "fidelity": row.fidelity, "sparsity": row.sparsity,
                 "parameters": row.parameters, "n_jets": row.n_jets,
                 "activity": activity_metrics(row.activity)},
    )
