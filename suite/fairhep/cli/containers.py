"""``fairhep containers``: list, render, check, build the container stacks; selftest inside one."""

from __future__ import annotations

import argparse
import json
import shlex
import subprocess
import sys
from pathlib import Path


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    from fairhep.containers.runtime import builders

    p = sub.add_parser(
        "containers",
        help="Apptainer/Docker definitions of the pinned software stacks",
        description="The container stacks of containers/stacks.toml: list them, render their "
        "Apptainer definitions and Dockerfiles, check the committed files statically, build an "
        "image where an engine is installed, and (inside an image) verify its pins.",
    )
    p.add_argument("--root", type=Path, help="fairhep source tree (default: found from the "
                   "working directory upwards)")
    csub = p.add_subparsers(dest="containers_command", metavar="ACTION", required=True)

    ls = csub.add_parser("list", help="the stacks and what each pins")
    ls.add_argument("--json", action="store_true", help="machine-readable output")
    ls.set_defaults(func=_list)

    rd = csub.add_parser("render", help="write containers/<stack>/{fairhep.def,Dockerfile,...}")
    rd.add_argument("--check", action="store_true",
                    help="write nothing; exit 1 if a committed file differs from a fresh render")
    rd.set_defaults(func=_render)

    ck = csub.add_parser("check", help="static check of every stack (no engine needed)")
    ck.add_argument("--json", action="store_true", help="machine-readable output")
    ck.set_defaults(func=_check)

    bd = csub.add_parser(
        "build", help="build an image with apptainer, docker, podman or buildah",
        description="Build a stack's image from the repository root with the engine given by "
        "--runtime (auto: the first of apptainer, docker, podman, buildah that works here). "
        "--base and --build-arg change what a build host cannot reach (the base image, the "
        "package index, a pin such as torch) without editing the generated files: the build "
        "then reads a derived render in build/containers/STACK/, and the image's labels, its "
        "pins.json and every record made inside say what was changed. Where no engine can "
        "build, print the exact command for a build host and exit 3 (nothing was built); "
        "--print-only prints it and exits 0.",
    )
    bd.add_argument("stack", help="stack id (see `fairhep containers list`)")
    bd.add_argument("--runtime", choices=["auto", *builders()], default="auto",
                    help="the engine (default auto: the first that works here)")
    bd.add_argument("--base", metavar="IMAGE",
                    help="build FROM this image instead of the pinned base (e.g. a local "
                    "image made from Debian packages); said in the labels and records")
    bd.add_argument("--build-arg", action="append", default=[], metavar="KEY=VALUE",
                    help="a pinned package (torch=2.13.0), EXTRA_INDEX_URLS=URL...|none, a "
                    "pip setting (PIP_INDEX_URL, PIP_FIND_LINKS, PIP_CERT, ...) or "
                    "FAIRHEP_GIT_SHA; repeatable")
    bd.add_argument("--volume", action="append", default=[], metavar="SRC:DEST[:ro]",
                    help="mount a host path during the build only (apptainer, podman, "
                    "buildah), e.g. a wheel folder or the host's CA bundle; repeatable")
    bd.add_argument("--out", type=Path, help="image file, relative to the repository root: the "
                    ".sif for apptainer (default fairhep.sif), the image-id file otherwise "
                    "(default build/fairhep-<stack>.iid)")
    bd.add_argument("--tag", help="image name for docker/podman/buildah (default "
                    "fairhep:VERSION-STACK)")
    bd.add_argument("--fakeroot", action="store_true", help="apptainer build --fakeroot")
    bd.add_argument("--print-only", action="store_true",
                    help="print the command and exit 0 without building")
    bd.set_defaults(func=_build)

    dg = csub.add_parser("digest", help="sha256 of an image file (FAIRHEP_IMAGE_DIGEST)")
    dg.add_argument("image", type=Path)
    dg.set_defaults(func=_digest)

    st = csub.add_parser("selftest", help="inside an image: verify the pins and run a tiny "
                         "forward pass")
    st.add_argument("--pins", type=Path, help="pins.json of the stack (default in images: "
                    "/opt/fairhep/pins.json)")
    st.add_argument("--json", action="store_true", help="machine-readable output")
    st.set_defaults(func=_selftest)


def _root(args: argparse.Namespace) -> Path:
    from fairhep.containers.stacks import find_root

    return find_root(args.root)


def _list(args: argparse.Namespace) -> int:
    from fairhep.containers.stacks import STACKS_FILE, load_stacks

    stacks = load_stacks(_root(args) / STACKS_FILE).stacks
    if args.json:
        rows = [{"id": s.id, "arch": s.arch, "platform": s.platform, "python": s.python,
                 "cuda": s.cuda, "cudnn": s.cudnn, "torch": s.torch, "onnx": s.onnx,
                 "onnxruntime": f"{s.onnxruntime_package}=={s.onnxruntime}",
                 "tensorrt": s.tensorrt, "base_image": s.base.ref,
                 "base_platform_verified": s.base.platform_verified,
                 "base_digest_read_on": s.base.read_on, "base_digest_sources": list(s.base.sources),
                 "sites": list(s.sites),
                 "absent": dict(s.absent)} for s in stacks.values()]
        print(json.dumps(rows, indent=2))
        return 0
    from rich.console import Console
    from rich.table import Table

    table = Table(title="fairhep container stacks (containers/stacks.toml)")
    for col in ("stack", "arch", "python", "CUDA/cuDNN", "torch", "onnx", "onnxruntime",
                "TensorRT", "base image", "sites"):
        table.add_column(col, overflow="fold")
    for s in stacks.values():
        table.add_row(s.id, s.arch, s.python, f"{s.cuda}/{s.cudnn}", s.torch, s.onnx,
                      f"{s.onnxruntime_package} {s.onnxruntime}", s.tensorrt,
                      f"{s.base.image}:{s.base.tag}@{s.base.digest[:19]}…", ", ".join(s.sites))
    Console(width=200).print(table)
    return 0


def _render(args: argparse.Namespace) -> int:
    from fairhep.containers.render import stale_files, write_rendered

    root = _root(args)
    if args.check:
        stale = stale_files(root)
        for rel in stale:
            print(f"{rel}: differs from a fresh render; run `fairhep containers render`",
                  file=sys.stderr)
        print(f"{'stale' if stale else 'up to date'}: {len(stale)} file(s) differ")
        return 1 if stale else 0
    written = write_rendered(root)
    for rel in written:
        print(f"wrote {rel}")
    if not written:
        print("all rendered files already up to date")
    return 0


def _check(args: argparse.Namespace) -> int:
    from fairhep.containers.check import check

    reports = check(_root(args))
    if args.json:
        print(json.dumps([{"stack": r.stack, "ok": r.ok, "passed": r.passed,
                           "failures": r.failures, "warnings": r.warnings} for r in reports],
                         indent=2))
    else:
        for r in reports:
            status = "ok" if r.ok else "FAILED"
            print(f"{r.stack}: {status} ({len(r.passed)} checks passed, {len(r.failures)} failed, "
                  f"{len(r.warnings)} warning(s))")
            for f in r.failures:
                print(f"  FAIL {f}")
            for w in r.warnings:
                print(f"  WARN {w}")
    return 0 if all(r.ok for r in reports) else 1


def _build(args: argparse.Namespace) -> int:
    from dataclasses import replace

    from fairhep.containers.build import EXIT_NO_ENGINE, plan_build, write_derived
    from fairhep.containers.runtime import run_env_for_image

    root = _root(args)
    plan = plan_build(root, args.stack, runtime=args.runtime, out=args.out, base=args.base,
                      build_args=args.build_arg, volumes=args.volume, fakeroot=args.fakeroot,
                      tag=args.tag)
    cmd = plan.engine.build_argv(plan.request)
    printable = f"cd {root} && " + shlex.join(cmd)
    for rel in write_derived(root, plan):
        print(f"wrote {rel} (derived: build overrides)", file=sys.stderr)
    if plan.described:
        print("build overrides (in the image's labels, pins.json and every record made "
              "inside):", file=sys.stderr)
        for line in plan.described:
            print(f"  {line}", file=sys.stderr)
    if args.print_only:
        print(printable)
        return 0
    if plan.unavailable is not None:
        print(printable)
        print(f"{plan.unavailable}; nothing was built. Run the command above on a build host "
              f"(exit {EXIT_NO_ENGINE}).", file=sys.stderr)
        return EXIT_NO_ENGINE
    cmd[0] = plan.engine.engine_path() or cmd[0]
    out = plan.request.out
    out_path = out if out.is_absolute() else root / out
    out_path.parent.mkdir(parents=True, exist_ok=True)
    print(f"running: {printable}", file=sys.stderr, flush=True)
    done = subprocess.run(cmd, cwd=root, check=False)
    if done.returncode != 0:
        print(f"fairhep containers build: {plan.engine.name} build failed with exit status "
              f"{done.returncode} (its output is above)", file=sys.stderr)
        return done.returncode
    image = plan.engine.built(replace(plan.request, out=out_path))
    print(image.summary)
    env = run_env_for_image(image.image, image.digest)
    print(f"image digest: {image.digest}")
    print("pass at run time so result records name the image: "
          + " ".join(f"--env {k}={v}" for k, v in env.items()))
    return 0


def _digest(args: argparse.Namespace) -> int:
    from fairhep.containers.runtime import image_digest

    print(image_digest(args.image))
    return 0


def _selftest(args: argparse.Namespace) -> int:
    from fairhep.containers.selftest import IMAGE_PINS, selftest

    result = selftest(args.pins)
    if args.json:
        print(json.dumps(result.to_dict(), indent=2))
        return 0 if result.ok else 1
    f = result.forward
    where = (f"stack {result.stack or '-'} (pins {result.pins})" if result.in_image else
             f"not in a fairhep image (no --pins, no {IMAGE_PINS}): only this environment's "
             "forward pass is checked")
    print(f"{where}: python {result.python}, torch {f.get('torch')} (CUDA "
          f"{f.get('torch_cuda')}), forward pass on {f.get('device')} -> "
          f"{'ok' if f.get('ok') else 'FAILED'} {f.get('shape')}")
    if result.providers:
        print(f"  onnxruntime providers: {', '.join(result.providers)}")
    for lib, path in result.cuda_libraries.items():
        print(f"  CUDA library {lib}: {path or 'NOT FOUND'}")
    for m in result.mismatches:
        print(f"  pin mismatch: {m}")
    for line in result.overridden:
        print(f"  build override: {line}")
    for name, why in result.absent.items():
        left_out = "left out by override" in why
        print(f"  {'TensorRT' if name == 'tensorrt' and left_out else name}: {why}" if left_out
              else f"  absent by design: {name}: {why}")
    verdict = "passed" if result.ok else "FAILED"
    print(f"selftest {verdict}" + ("" if result.in_image else " (outside an image)"))
    return 0 if result.ok else 1
