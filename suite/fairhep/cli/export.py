"""``fairhep export``: a trained run as a self-describing ONNX file or a TensorRT engine."""

from __future__ import annotations

import argparse
from pathlib import Path

from fairhep import schema
from fairhep.cli._values import int_list, positive_int


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser(
        "export",
        help="export a trained run to ONNX (or build a TensorRT engine from it)",
        description="--format onnx: ScoreModel (softmax inside) with inputs input_cpf "
        "(batch, 30, 60) and input_sv (batch, 14, 5), output output1 (batch, 2), a dynamic "
        "batch axis, and metadata_props (fairhep.*) naming features, units, padding, layout, "
        "model id and the training-data DOI; checked with onnx.checker. --format tensorrt: "
        "builds an engine from that ONNX file with the TensorRT Python API (needs tensorrt and "
        "a CUDA GPU), cached by (ONNX hash, GPU, TensorRT version, precision).",
    )
    p.add_argument("--run", type=Path, required=True, help="trained run directory")
    p.add_argument("--format", choices=["onnx", "tensorrt"], default="onnx")
    p.add_argument("--out", type=Path,
                   help="output file (default: RUN/model.onnx or RUN/model-<precision>.engine)")
    p.add_argument("--opset", type=positive_int, default=None,
                   help=f"ONNX opset (default: {schema.ONNX_OPSET})")
    p.add_argument("--exporter", choices=["auto", "dynamo", "torchscript"], default="auto",
                   help="torch.onnx exporter (default: auto = dynamo from torch 2.13 on, "
                   "torchscript before; torch < 2.5 has only torchscript, which is then used)")
    p.add_argument("--engine", choices=["reference", "fast"], default="reference",
                   help="which graph: reference (default) = the dense network as the paper "
                   "exported it; fast = the same weights computed the fast way (padded tracks "
                   "and SVs in closed form, edges among real tracks only; same inputs, "
                   "outputs and scores within 1e-5), written by fairhep's own graph builder "
                   "(--exporter does not apply), default file RUN/model-fast.onnx")
    p.add_argument("--precision", choices=["fp32", "fp16"], default="fp32",
                   help="TensorRT engine precision")
    p.add_argument("--batch-sizes", type=int_list, default=None,
                   help="TensorRT optimisation profile range, e.g. 1,4200 (default: 1 to 4200, "
                   "covering the sweep)")
    p.add_argument("--cache-dir", type=Path, help="TensorRT engine cache (default: "
                   "$FAIRHEP_CACHE or ~/.cache/fairhep)")
    p.set_defaults(func=_run)


def _run(args: argparse.Namespace) -> int:
    from fairhep.data.manifest import sha256_file
    from fairhep.export import (
        DEFAULT_OPSET,
        default_fast_onnx_path,
        default_onnx_path,
        export_fast_onnx,
        export_onnx,
        read_metadata,
    )

    opset = args.opset or DEFAULT_OPSET
    fast = args.engine == "fast"

    def onnx_file(out: Path | None) -> Path:
        if fast:
            return export_fast_onnx(args.run, out, opset=opset)
        return export_onnx(args.run, out, opset=opset, exporter=args.exporter)

    if args.format == "onnx":
        path = onnx_file(args.out)
        meta = read_metadata(path)
        print(f"wrote {path} ({meta['graph_form']} form, opset {meta['opset']}, model "
              f"{meta['model_id']}, sha256 {sha256_file(path)[:16]})")
        return 0

    from fairhep.backends.tensorrt_backend import build_engine, tensorrt_unavailable_reason
    from fairhep.bench.sweep import GPU_BATCH_SIZES
    from fairhep.cache import default_cache_dir
    from fairhep.errors import BackendUnavailable

    sizes = args.batch_sizes or (1, max(GPU_BATCH_SIZES))
    # Check before exporting, so a node without TensorRT fails at once with the reason.
    reason = tensorrt_unavailable_reason()
    if reason:
        raise BackendUnavailable(f"--format tensorrt: {reason}")
    cache = args.cache_dir or default_cache_dir()
    onnx_path = onnx_file((default_fast_onnx_path if fast else default_onnx_path)(args.run))
    out = args.out or Path(args.run) / f"model{'-fast' if fast else ''}-{args.precision}.engine"
    engine = build_engine(onnx_path, args.precision, sizes, cache, out)
    print(f"wrote {engine} ({args.precision}, batch {min(sizes)}-{max(sizes)})")
    return 0
