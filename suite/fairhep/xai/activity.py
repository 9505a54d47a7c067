"""Relative neural activity (paper §3.4.1, Eq. 7; NAP diagrams of Figures 8 and 9; the
sparsity of Table 10).

The activation of a neuron for one jet is its ReLU output summed over the objects its MLP runs
on for that jet (every track-track edge for f_R^pp, every track-SV edge for f_R^vp, every track
for f_O: the padded ones too, which the IN treats as ordinary nodes). Summed over a sample of
jets, and divided by the largest such sum in its layer, it is the RNA: in [0, 1], 1 for the
most active neuron of each layer. The NAP diagram shows it per class (QCD as negative values),
dNAP = |RNA(H->bb) − RNA(QCD)|, and the sparsity is the fraction of all neurons with RNA < 0.2.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import torch

from fairhep import schema
from fairhep.data.load import JetArrays
from fairhep.model import InteractionNetwork
from fairhep.model.reference import MLPS, trace
from fairhep.xai.jets import to_tensors

SPARSE_BELOW = 0.2  # Table 10: a node with RNA below this counts as inactive
ALL = "all"  # the RNA over the jets of both classes


def layer_names() -> list[str]:
    """The nine activation layers, as the NAP diagram labels them (f_R^pp 1 ... f_O 3)."""
    return [f"{mlp} {i}" for mlp in MLPS for i in (1, 2, 3)]


def activation_sums(net: InteractionNetwork, tracks: torch.Tensor, svs: torch.Tensor
                    ) -> dict[str, torch.Tensor]:
    """Per layer, each neuron's activation summed over its objects and the jets: (width,)."""
    with torch.no_grad():
        t = trace(net, tracks, svs)
    return {f"{mlp} {i}": a.sum(dim=(0, 1)).double()
            for mlp, acts in t.acts.items() for i, a in enumerate(acts[1:], start=1)}


def rna(sums: dict[str, torch.Tensor]) -> dict[str, list[float]]:
    """Eq. 7: each layer's sums over its largest (a layer with no activity at all is 0)."""
    out = {}
    for layer, s in sums.items():
        top = float(s.max())
        out[layer] = (s / top).tolist() if top > 0 else [0.0] * len(s)
    return out


def sparsity(scores: dict[str, list[float]], below: float = SPARSE_BELOW) -> float:
    """Fraction of all neurons with RNA below ``below``."""
    values = [v for layer in scores.values() for v in layer]
    return sum(v < below for v in values) / len(values)


@dataclass(frozen=True)
class ActivityStudy:
    n_jets: dict[str, int]  # per class
    rna: dict[str, dict[str, list[float]]]  # "QCD" | "Hbb" | "all" -> layer -> per neuron
    dnap: dict[str, list[float]]  # layer -> |RNA_Hbb − RNA_QCD|
    sparsity: dict[str, float]  # "QCD" | "Hbb" | "all"


def activity_study(net: InteractionNetwork, jets: JetArrays, device: torch.device,
                   chunk: int = 32, progress: Callable[[int], None] | None = None
                   ) -> ActivityStudy:
    """RNA per neuron for each class of ``jets`` and for all of them, dNAP and sparsity."""
    net = net.eval().to(device)
    sums: dict[str, dict[str, torch.Tensor]] = {}
    counts = dict.fromkeys(schema.CLASSES, 0)
    for start in range(0, len(jets), chunk):
        part = jets.slice(slice(start, start + chunk))
        for cls, name in enumerate(schema.CLASSES):
            sel = part.slice(part.labels == cls)
            if not len(sel):
                continue
            counts[name] += len(sel)
            acc = sums.setdefault(name, {})
            for layer, s in activation_sums(net, *to_tensors(sel, device)).items():
                acc[layer] = acc[layer] + s if layer in acc else s
        if progress is not None:
            progress(len(part))
    missing = [n for n, k in counts.items() if k == 0]
    if missing:
        raise ValueError(f"no {' or '.join(missing)} jets: RNA compares both classes")
    both = {layer: sums[schema.CLASSES[0]][layer] + sums[schema.CLASSES[1]][layer]
            for layer in layer_names()}
    scores = {name: rna(sums[name]) for name in schema.CLASSES} | {ALL: rna(both)}
    qcd, hbb = (scores[schema.CLASSES[c]] for c in (schema.QCD, schema.HBB))
    dnap = {layer: [abs(h - q) for h, q in zip(hbb[layer], qcd[layer], strict=True)]
            for layer in layer_names()}
    return ActivityStudy(counts, scores, dnap, {k: sparsity(v) for k, v in scores.items()})
