"""Layer-wise relevance propagation through the interaction network (paper §3.4.1, Figure 6).

The class logit of each jet (its true class) is propagated back through ``fc_fixed``, the sum
over tracks (Eq. 5: ``r_kn = r̄_k o_kn / Σ_m o_km``), f_O, the receiver redistribution
(Eq. 6: ``r_km = e_km Σ_n (r̄_kn / ē_kn) (R_R)_nm``, and the same with R_K for the track-SV
edges), and f_R^pp / f_R^vp to the edge inputs, which R_R, R_S, R_K and R_V hand back to the
tracks and SVs they were built from. Relevance is normalised by the class logit, so a
conserving rule gives each jet a total of 1.

Rules for a linear layer ``z_j = Σ_i a_i w_ji + b_j`` (Montavon et al. 2019):
``R_i = a_i Σ_j w'_ji R_j / (z'_j + ε sign z'_j)`` with

- ``zero``: w' = w, ε = 0 (conserving when the biases are zero);
- ``epsilon``: w' = w, ε > 0 absorbs weak or contradictory relevance;
- ``gamma`` (the paper's, γ = 2): w' = w + γ max(w, 0) and, as the public code does, the
  same for the biases, which favours positive contributions over cancelling ones.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import torch
from torch import nn

from fairhep import schema
from fairhep.data.load import JetArrays
from fairhep.model import InteractionNetwork
from fairhep.model.reference import MLPS, Trace, mlp_layers, trace
from fairhep.xai.jets import to_tensors

RULES = ("gamma", "epsilon", "zero")
# Keeps a denominator off zero under the zero and γ rules (it changes nothing measurable).
_TINY = 1e-12


@dataclass(frozen=True)
class Rule:
    name: str = "gamma"
    gamma: float = 2.0
    epsilon: float = 1e-6

    def __post_init__(self) -> None:
        if self.name not in RULES:
            raise ValueError(f"unknown LRP rule {self.name!r}; choose one of {', '.join(RULES)}")
        if self.gamma < 0 or self.epsilon < 0:
            raise ValueError("LRP gamma and epsilon must not be negative")

    def describe(self) -> dict[str, object]:
        return {"rule": self.name, "gamma": self.gamma if self.name == "gamma" else None,
                "epsilon": self.epsilon if self.name == "epsilon" else None}

    def params(self, layer: nn.Linear) -> tuple[torch.Tensor, torch.Tensor]:
        w, b = layer.weight.detach(), layer.bias.detach()
        if self.name == "gamma":
            return w + self.gamma * w.clamp(min=0), b + self.gamma * b.clamp(min=0)
        return w, b

    def backward(self, layer: nn.Linear, a: torch.Tensor, relevance: torch.Tensor
                 ) -> torch.Tensor:
        """Relevance on the layer's input ``a`` from the relevance on its output."""
        w, b = self.params(layer)
        z = a @ w.T + b
        sign = torch.where(z >= 0, 1.0, -1.0)
        z = z + sign * (self.epsilon if self.name == "epsilon" else _TINY)
        return a * ((relevance / z) @ w)


def _share(parts: torch.Tensor, total: torch.Tensor) -> torch.Tensor:
    """``parts / total`` where the total is non-zero, 0 where it is zero (nothing to share)."""
    return torch.where(total == 0, 0.0, parts / torch.where(total == 0, 1.0, total))


@dataclass(frozen=True)
class Explanation:
    """Relevance of each jet, normalised by its class logit."""

    tracks: torch.Tensor  # (B, P, N_p) on the model's track features
    svs: torch.Tensor  # (B, S, N_v)
    stages: dict[str, torch.Tensor] = field(default_factory=dict)  # (B,) total on each layer
    logit: torch.Tensor = field(default_factory=lambda: torch.zeros(0))  # (B,) unnormalised


def _mlp_back(rule: Rule, net: InteractionNetwork, t: Trace, mlp: str, relevance: torch.Tensor,
              stages: dict[str, torch.Tensor]) -> torch.Tensor:
    acts = t.acts[mlp]
    for name, layer, a in reversed(list(zip(MLPS[mlp], mlp_layers(net, mlp), acts[:-1],
                                            strict=True))):
        relevance = rule.backward(layer, a, relevance)
        stages[name] = relevance.sum(dim=(1, 2))
    return relevance


def explain(net: InteractionNetwork, tracks: torch.Tensor, svs: torch.Tensor,
            target: torch.Tensor, rule: Rule) -> Explanation:
    """LRP of the logit of class ``target`` (B,) of each jet, back to the input features."""
    with torch.no_grad():
        t = trace(net, tracks, svs)
        m, p, de = t.matrices, net.config.p, net.config.de
        logit = t.logits.gather(1, target[:, None]).squeeze(1)
        stages: dict[str, torch.Tensor] = {"logit": logit}
        r_out = torch.zeros_like(t.logits).scatter(1, target[:, None], logit[:, None])
        r_obar = rule.backward(net.fc_fixed, t.o_bar, r_out)
        stages["fc_fixed"] = r_obar.sum(dim=1)
        o = t.acts["f_O"][-1]  # (B, N_p, D_O)
        r_o = o * _share(r_obar, t.o_bar)[:, None, :]  # Eq. 5
        stages["sum over tracks (Eq. 5)"] = r_o.sum(dim=(1, 2))
        r_c = _mlp_back(rule, net, t, "f_O", r_o, stages)
        r_direct = r_c[..., :p].transpose(1, 2)  # (B, P, N_p)
        r_epp = r_c[..., p:p + de].transpose(1, 2)  # (B, D_E, N_p)
        r_evp = r_c[..., p + de:].transpose(1, 2)
        stages["f_O input: track features"] = r_direct.sum(dim=(1, 2))
        # Eq. 6: each edge gets its share of its receiver's relevance.
        r_e = t.acts["f_R^pp"][-1] * (_share(r_epp, t.e_pp) @ m["R_R"]).transpose(1, 2)
        r_f = t.acts["f_R^vp"][-1] * (_share(r_evp, t.e_vp) @ m["R_K"]).transpose(1, 2)
        stages["receivers (Eq. 6): E_pp"] = r_e.sum(dim=(1, 2))
        stages["receivers (Eq. 6): E_vp"] = r_f.sum(dim=(1, 2))
        r_u = _mlp_back(rule, net, t, "f_R^pp", r_e, stages).transpose(1, 2)  # (B, 2P, N_pp)
        r_w = _mlp_back(rule, net, t, "f_R^vp", r_f, stages).transpose(1, 2)  # (B, P+S, N_vp)
        r_tracks = (r_direct + r_u[:, :p] @ m["R_R"].T + r_u[:, p:] @ m["R_S"].T
                    + r_w[:, :p] @ m["R_K"].T)
        r_svs = r_w[:, p:] @ m["R_V"].T
        stages["input: track features"] = r_tracks.sum(dim=(1, 2))
        stages["input: SV features"] = r_svs.sum(dim=(1, 2))
        norm = torch.where(logit == 0, 1.0, logit)
        return Explanation(r_tracks / norm[:, None, None], r_svs / norm[:, None, None],
                           {k: v / norm for k, v in stages.items()}, logit)


# ---- averages per class (Figure 6) ----------------------------------------------------------

@dataclass(frozen=True)
class ClassRelevance:
    """Mean relevance over the jets of one class."""

    n_jets: int
    track_features: dict[str, float]  # per model track feature, summed over tracks
    sv_features: dict[str, float]
    track_slots: list[float]  # per track, tracks ordered by relative energy (highest first)
    sv_slots: list[float]
    stages: dict[str, float]  # total relevance on each layer's input


@dataclass(frozen=True)
class LrpStudy:
    rule: Rule
    classes: dict[str, ClassRelevance]


def _energy_order(values: torch.Tensor, erel: torch.Tensor) -> torch.Tensor:
    """Per-object relevance (B, N) reordered by relative energy (B, N), highest first."""
    return values.gather(1, torch.argsort(erel, dim=1, descending=True, stable=True))


def lrp_study(net: InteractionNetwork, jets: JetArrays, rule: Rule, device: torch.device,
              chunk: int = 32, progress: Callable[[int], None] | None = None) -> LrpStudy:
    """Mean relevance per feature, per track/SV and per layer, for each class of ``jets``."""
    net = net.eval().to(device)
    c = net.config
    t_erel = schema.TRACK_FEATURES.index("track_erel")
    s_erel = schema.SV_FEATURES.index("sv_erel")
    sums: dict[int, dict[str, torch.Tensor]] = {}
    counts = dict.fromkeys((schema.QCD, schema.HBB), 0)
    for start in range(0, len(jets), chunk):
        part = jets.slice(slice(start, start + chunk))
        x, y = to_tensors(part, device)
        labels = torch.from_numpy(part.labels).to(device)
        ex = explain(net, x, y, labels, rule)
        per_jet = {
            "track_features": ex.tracks.sum(dim=2), "sv_features": ex.svs.sum(dim=2),
            "track_slots": _energy_order(ex.tracks.sum(dim=1), x[:, t_erel]),
            "sv_slots": _energy_order(ex.svs.sum(dim=1), y[:, s_erel]),
            **{f"stage:{k}": v[:, None] for k, v in ex.stages.items()},
        }
        for cls in counts:
            sel = labels == cls
            counts[cls] += int(sel.sum())
            acc = sums.setdefault(cls, {})
            for k, v in per_jet.items():
                acc[k] = acc.get(k, 0) + v[sel].double().sum(dim=0)
        if progress is not None:
            progress(len(part))
    classes = {}
    for cls, n in counts.items():
        if n == 0:
            continue
        mean = {k: (v / n).cpu().tolist() for k, v in sums[cls].items()}
        classes[schema.CLASSES[cls]] = ClassRelevance(
            n_jets=n,
            track_features=dict(zip(c.track_features, mean["track_features"], strict=True)),
            sv_features=dict(zip(c.sv_features, mean["sv_features"], strict=True)),
            track_slots=mean["track_slots"], sv_slots=mean["sv_slots"],
            stages={k.removeprefix("stage:"): v[0] for k, v in mean.items()
                    if k.startswith("stage:")},
        )
    return LrpStudy(rule, classes)
