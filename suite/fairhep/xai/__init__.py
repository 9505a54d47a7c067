"""Interpretability of the IN as in the paper (§3.4): feature masking and fidelity (Figure 5,
Table 9), layer-wise relevance propagation (Figure 6), relative neural activity (Figure 8,
Table 10's sparsity) and the re-optimised models of Table 10.

``jets`` (the jets a study reads; the one scoring function), ``masking``, ``lrp`` and
``activity`` (both on :func:`fairhep.model.reference.trace`, the interaction-matrix forward
pass with every layer kept), ``ablation``, ``records`` (the ``xai.*`` result records) and
``study`` (one study from options to a written record: ``run_mask``, ``run_lrp``, ``run_rna``
and ``run_ablation``, what the CLI and the campaign tasks call).

No name exported here is also a submodule's name: ``import fairhep.xai.lrp as m`` gives the
module, never a function that shadows it.
"""

from __future__ import annotations

from fairhep.xai.ablation import PAPER_DROPPED, PAPER_VARIANTS, Variant, variant_config
from fairhep.xai.activity import SPARSE_BELOW, activity_study, rna, sparsity
from fairhep.xai.lrp import RULES, Rule, explain, lrp_study
from fairhep.xai.masking import PAPER_THRESHOLDS_PCT, FeatureMask, fidelity, mask_study
from fairhep.xai.study import Outcome, StudyOptions, run_ablation, run_lrp, run_mask, run_rna

__all__ = [
    "PAPER_DROPPED",
    "PAPER_THRESHOLDS_PCT",
    "PAPER_VARIANTS",
    "RULES",
    "SPARSE_BELOW",
    "FeatureMask",
    "Outcome",
    "Rule",
    "StudyOptions",
    "Variant",
    "activity_study",
    "explain",
    "fidelity",
    "lrp_study",
    "mask_study",
    "rna",
    "run_ablation",
    "run_lrp",
    "run_mask",
    "run_rna",
    "sparsity",
    "variant_config",
]
