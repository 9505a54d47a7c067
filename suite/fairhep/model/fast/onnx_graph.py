"""The fast engine as one ONNX graph: :mod:`fairhep.model.fast.algebra`'s masked closed form,
written node by node for the portable runtimes (ONNX Runtime, TensorRT, Triton, the C++
runner).

Form: **one graph, the dense graph's interface, a dynamic real-track dimension.** The graph
takes the full schema arrays (``input_cpf`` (B, 30, 60), ``input_sv`` (B, 14, 5)) and returns
``output1`` (B, 2) softmax scores, like the dense export, so every consumer of the dense file
(a Triton repository, the KServe server, the C++ runner, a user's own code) runs this one
unchanged. Inside, it finds the real slots from the data (any selected feature ≠ 0, wherever
they stand), moves each jet's real tracks to the front with a TopK on
``real · N_p + (N_p − 1 − slot)`` (distinct keys: the real tracks keep their order), and keeps
the first ``n = max real tracks in the batch`` of them: every edge tensor is (B, n, n, h)
instead of (B, 60, 60, h). Tracks of a jet beyond its own count, and its padded SVs (all 5
SV slots are kept: there are few), are masked, and the padded slots among the network's
N_p / N_v come back in closed form exactly as in :func:`fairhep.model.fast.algebra.masked_chunk`.

Why not one graph per real-track bucket plus a router: the router would have to live in
every consumer (the backend, the server's model class, the C++ runner, a Triton ensemble),
and a consumer without it could not use the graph at all. Here the graph alone is exact on
any batch and costs what its widest jet costs; grouping jets by real-track count before
calling it (what ``onnxruntime-fast`` does, :mod:`fairhep.backends.onnxruntime_fast`) is an
optional speed-up, not a condition of correctness. The price is a data-dependent shape (a
Slice whose end is computed): ONNX Runtime runs it on every provider; TensorRT needs
data-dependent shapes (TensorRT ≥ 8.5), not measured here (no GPU on this machine).

The graph is built directly rather than traced: torch's exporters cannot trace a slice whose
end depends on the data in both of their forms (the TorchScript exporter bakes it into a
constant), and a builder writes exactly the asked opset (13 or newer) on any torch.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np

from fairhep import schema
from fairhep.model.network import InteractionNetwork

if TYPE_CHECKING:
    import onnx

MIN_OPSET = 13  # Unsqueeze, ReduceSum and Slice take their axes as inputs from 13 on
BUILDER = "fairhep-fast-builder"  # the metadata's exporter: no torch exporter made it


class _Graph:
    """Nodes and initializers of one graph, with fresh names."""

    def __init__(self, opset: int) -> None:
        self.opset = opset
        self.nodes: list[Any] = []
        self.inits: list[Any] = []
        self._count = 0

    def _name(self, stem: str) -> str:
        self._count += 1
        return f"{stem}_{self._count}"

    def const(self, value: Any, stem: str = "c", dtype: Any = np.float32) -> str:
        from onnx import numpy_helper

        name = self._name(stem)
        self.inits.append(numpy_helper.from_array(np.asarray(value, dtype), name))
        return name

    def ints(self, *values: int) -> str:
        return self.const(list(values), "axes", np.int64)

    def op(self, kind: str, *inputs: str, n_out: int = 1, **attrs: Any) -> Any:
        from onnx import helper

        outs = [self._name(kind.lower()) for _ in range(n_out)]
        self.nodes.append(helper.make_node(kind, list(inputs), outs, **attrs))
        return outs[0] if n_out == 1 else outs

    def reduce(self, kind: str, x: str, axes: tuple[int, ...], keepdims: int = 0) -> str:
        # ReduceSum took its axes as an input from opset 13, the other reductions from 18.
        if kind == "ReduceSum" or self.opset >= 18:
            return str(self.op(kind, x, self.ints(*axes), keepdims=keepdims))
        return str(self.op(kind, x, axes=list(axes), keepdims=keepdims))

    def unsqueeze(self, x: str, *axes: int) -> str:
        return str(self.op("Unsqueeze", x, self.ints(*axes)))

    def linear(self, x: str, weight: np.ndarray, bias: np.ndarray | None) -> str:
        """``x @ weight.T + bias`` on the last axis (as torch's ``F.linear``)."""
        out = self.op("MatMul", x, self.const(weight.T.copy(), "w"))
        return str(out if bias is None else self.op("Add", out, self.const(bias, "b")))

    def mlp_tail(self, z: str, layers: list[tuple[np.ndarray, np.ndarray]]) -> str:
        """``relu(L3(relu(L2(relu(z)))))`` on first-layer pre-activations ``z`` (any rank).

        The layers run as 2-D Gemm + Relu on ``z`` flattened to rows: ONNX Runtime fuses each
        pair into one kernel (FusedGemm), where a MatMul on the (B, n, n, h) edge tensor, its
        bias Add and its Relu would each read and write the whole tensor (measured: ~10% more
        jets/s at 30 real tracks)."""
        width = int(layers[0][0].shape[1])
        lead = self.op("Slice", self.op("Shape", z), self.ints(0), self.ints(-1), self.ints(0))
        rows = str(self.op("Reshape", self.op("Relu", z), self.ints(-1, width)))
        for w, b in layers:
            rows = str(self.op("Relu", self.op("Gemm", rows, self.const(w.T.copy(), "w"),
                                               self.const(b, "b"))))
        out_width = self.ints(int(layers[-1][0].shape[0]))
        return str(self.op("Reshape", rows, self.op("Concat", lead, out_width, axis=0)))


def _weights(net: InteractionNetwork) -> dict[str, np.ndarray]:
    return {k: v.detach().to("cpu").float().numpy() for k, v in net.state_dict().items()}


def _real_slots(g: _Graph, x: str) -> str:
    """(B, N) float 0/1: 1 where a slot of ``x`` (B, N, F) has any feature ≠ 0."""
    nonzero = g.op("Cast", g.op("Not", g.op("Equal", x, g.const(0.0, "zero"))),
                   to=1)  # float
    return str(g.op("Cast", g.op("Greater", g.reduce("ReduceSum", nonzero, (2,)),
                                 g.const(0.0, "zero")), to=1))


def build_fast_graph(net: InteractionNetwork, opset: int = schema.ONNX_OPSET) -> onnx.ModelProto:
    """The fast form of ``net`` as an ONNX model (softmax scores), inputs and output named as
    the dense export's; metadata is the caller's (:mod:`fairhep.export`)."""
    from onnx import TensorProto, helper

    if opset < MIN_OPSET:
        raise ValueError(f"the fast graph needs opset {MIN_OPSET} or newer, not {opset}")
    c = net.config
    w = _weights(net)
    g = _Graph(opset)
    n_slots, n_sv, p = c.n_tracks, c.n_svs, c.p
    tracks, svs = schema.ONNX_INPUT_TRACKS, schema.ONNX_INPUT_SVS
    # The variant's feature rows, then (B, slots, features).
    if p != schema.N_TRACK_FEATURES:
        idx = schema.feature_indices(schema.TRACK_FEATURES, c.track_features)
        tracks = g.op("Gather", tracks, g.const(idx, "tidx", np.int64), axis=1)
    if c.s != schema.N_SV_FEATURES:
        idx = schema.feature_indices(schema.SV_FEATURES, c.sv_features)
        svs = g.op("Gather", svs, g.const(idx, "sidx", np.int64), axis=1)
    x_all = g.op("Transpose", tracks, perm=[0, 2, 1])  # (B, N_p, P)
    y = g.op("Transpose", svs, perm=[0, 2, 1])  # (B, N_v, S)

    real_t = _real_slots(g, x_all)  # (B, N_p)
    smask = _real_slots(g, y)  # (B, N_v)
    count = g.reduce("ReduceSum", real_t, (1,))  # (B,) real tracks
    m = g.op("Sub", g.const(float(n_slots)), count)  # padded tracks among N_p
    mv = g.op("Sub", g.const(float(n_sv)), g.reduce("ReduceSum", smask, (1,)))
    m2, mv2 = (g.op("Reshape", v, g.ints(-1, 1)) for v in (m, mv))
    m3, mv3 = (g.op("Reshape", v, g.ints(-1, 1, 1)) for v in (m, mv))

    # Real tracks first, in their order; keep the batch's widest jet's count of slots.
    key = g.op("Add", g.op("Mul", real_t, g.const(float(n_slots))),
               g.const(np.arange(n_slots - 1, -1, -1, dtype=np.float32)[None], "rank"))
    _, order = g.op("TopK", key, g.ints(n_slots), n_out=2, axis=1, largest=1, sorted=1)
    # At least one slot: a batch of empty jets keeps one (masked, as a shorter jet's are), since
    # ONNX Runtime < 1.17 (the ppc64le stack's 1.16.3) cannot reduce over an empty axis.
    widest = g.op("Max", g.reduce("ReduceMax", count, (0,)), g.const(1.0, "one"))
    width = g.op("Reshape", g.op("Cast", widest, to=7), g.ints(1))  # int64 [n]
    order = g.op("Slice", order, g.ints(0), width, g.ints(1))  # (B, n)
    tmask = g.op("GatherElements", real_t, order, axis=1)  # (B, n)
    rows = g.op("Expand", g.unsqueeze(order, 2),
                g.op("Concat", g.op("Shape", order), g.ints(p), axis=0))
    x = g.op("GatherElements", x_all, rows, axis=1)  # (B, n, P)
    tmask3 = g.unsqueeze(tmask, 2)

    def halves(first: str, recv: str, send: str) -> tuple[str, str, np.ndarray]:
        wt, b = w[f"{first}.weight"], w[f"{first}.bias"]
        return (g.linear(recv, wt[:, :p], b), g.linear(send, wt[:, p:], None), b)

    def tail_layers(second: str, third: str) -> list[tuple[np.ndarray, np.ndarray]]:
        return [(w[f"{n}.weight"], w[f"{n}.bias"]) for n in (second, third)]

    # Track-track (fast_math._track_track with a mask).
    fr = tail_layers("fr2", "fr3")
    a, cs, b1 = halves("fr1", x, x)  # (B, n, h)
    pairs = g.mlp_tail(g.op("Add", g.unsqueeze(a, 2), g.unsqueeze(cs, 1)), fr)  # (B,n,n,D_E)
    slot = g.op("Range", g.const(0, "zero_i", np.int64),
                g.op("Squeeze", width, g.ints(0)), g.const(1, "one_i", np.int64))
    offdiag = g.op("Cast", g.op("Not", g.op("Equal", g.unsqueeze(slot, 1),
                                            g.unsqueeze(slot, 0))), to=1)  # (n, n)
    send = g.op("Mul", g.unsqueeze(offdiag, 0), g.unsqueeze(tmask, 1))  # (B, n, n)
    # The masked sum over senders as one batched MatMul (B, n, 1, n) @ (B, n, n, D_E): one
    # pass over the edge tensor instead of a Mul and a ReduceSum.
    e_rr = g.op("Squeeze", g.op("MatMul", g.unsqueeze(send, 2), pairs), g.ints(2))
    f_a = g.mlp_tail(a, fr)
    f_bc = g.op("Mul", g.mlp_tail(g.op("Add", cs, g.const(b1, "b")), fr), tmask3)
    f_b = g.mlp_tail(g.const(b1[None], "b"), fr)  # (1, D_E): a constant ORT folds
    e_pp = g.op("Add", e_rr, g.op("Mul", m3, f_a))
    e_pp_pad = g.op("Add", g.reduce("ReduceSum", f_bc, (1,)),
                    g.op("Mul", g.op("Sub", m2, g.const(1.0)), f_b))

    # Track-SV over all N_v slots, padded SVs masked (fast_math._track_sv_masked).
    fv = tail_layers("fr2_pv", "fr3_pv")
    pv, q, bv = halves("fr1_pv", x, y)  # (B, n, h), (B, N_v, h)
    pairs_v = g.mlp_tail(g.op("Add", g.unsqueeze(pv, 2), g.unsqueeze(q, 1)), fv)
    smask4 = g.op("Reshape", smask, g.ints(-1, 1, n_sv, 1))
    e_tv = g.reduce("ReduceSum", g.op("Mul", pairs_v, smask4), (2,))
    e_vp = g.op("Add", e_tv, g.op("Mul", mv3, g.mlp_tail(pv, fv)))
    g_bq = g.op("Mul", g.mlp_tail(g.op("Add", q, g.const(bv, "b")), fv), g.unsqueeze(smask, 2))
    e_vp_pad = g.op("Add", g.reduce("ReduceSum", g_bq, (1,)),
                    g.op("Mul", mv2, g.mlp_tail(g.const(bv[None], "b"), fv)))

    # Readout: f_O over the real tracks plus m times f_O of the padded track.
    fo = tail_layers("fo2", "fo3")
    wo, bo = w["fo1.weight"], w["fo1.bias"]
    real_in = g.op("Concat", x, e_pp, e_vp, axis=2)
    o_real = g.op("Mul", g.mlp_tail(g.linear(real_in, wo, bo), fo), tmask3)
    # A padded track's features are 0: only the E columns of fo1 see it.
    pad_in = g.op("Concat", e_pp_pad, e_vp_pad, axis=1)
    o_pad = g.mlp_tail(g.linear(pad_in, wo[:, p:], bo), fo)
    summed = g.op("Add", g.reduce("ReduceSum", o_real, (1,)), g.op("Mul", m2, o_pad))
    logits = g.linear(summed, w["fc_fixed.weight"], w["fc_fixed.bias"])
    g.nodes.append(helper.make_node("Softmax", [logits], [schema.ONNX_OUTPUT], axis=1))

    def value(name: str, dims: tuple[int, ...]) -> Any:
        return helper.make_tensor_value_info(name, TensorProto.FLOAT, ["batch", *dims])

    graph = helper.make_graph(
        g.nodes, "fairhep_in_fast",
        [value(schema.ONNX_INPUT_TRACKS, schema.TRACK_SHAPE),
         value(schema.ONNX_INPUT_SVS, schema.SV_SHAPE)],
        [value(schema.ONNX_OUTPUT, schema.TARGET_SHAPE)], g.inits)
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)],
                             ir_version=_ir_version(opset))


def _ir_version(opset: int) -> int:
    """The IR version of the ONNX release that introduced ``opset`` (what older runtimes
    read), not this onnx package's newest."""
    from onnx import helper

    for ir, found in ((v[1], v[2]) for v in helper.VERSION_TABLE):
        if found >= opset:
            return int(ir)
    return int(helper.VERSION_TABLE[-1][1])
