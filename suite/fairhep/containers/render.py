"""Rendering: one stack -> its Apptainer definition, Dockerfile, requirements, pins.

Both definitions are rendered from the same install steps, labels and environment (through
the Jinja templates in ``containers/templates/``), so they agree by construction. With
:class:`~fairhep.containers.overrides.BuildOverrides` the same templates render a derived copy
under ``build/containers/<stack>/`` (another base, other pins), which says what it changed.
"""

from __future__ import annotations

import dataclasses
import json
import os
import shlex
from pathlib import Path
from typing import Any

from fairhep import __version__
from fairhep.configfile import read_toml
from fairhep.containers.overrides import (
    NONE,
    SEPARATOR,
    BuildOverrides,
    left_out_by_override,
    python_of_substituted_base,
)
from fairhep.containers.stacks import (
    CONDA_NAME,
    CONDA_NOT_DISTS,
    DEF_NAME,
    DOCKERFILE_NAME,
    PINS_NAME,
    REQUIREMENTS_NAME,
    STACKS_FILE,
    TEMPLATES_DIR,
    Stack,
    StacksFile,
    load_stacks,
    stack_dir,
)

# Where things live inside every image; runners and docs rely on these paths.
IMAGE_ROOT = "/opt/fairhep"
IMAGE_ENV = f"{IMAGE_ROOT}/env"
IMAGE_SRC = f"{IMAGE_ROOT}/src"
IMAGE_PINS = f"{IMAGE_ROOT}/{PINS_NAME}"

# Apptainer build argument (>= 1.2) and Docker ARG: the commit is filled in at build time so
# the committed definitions do not change with every commit.
GIT_SHA_ARG = "FAIRHEP_GIT_SHA"
APPTAINER_GIT_SHA = "{{ " + GIT_SHA_ARG + " }}"
DOCKER_GIT_SHA = "${" + GIT_SHA_ARG + "}"

# Derived (overridden) renders of a stack; git-ignored, admitted to the Docker build context.
DERIVED_DIR = Path("build") / "containers"

RUNSCRIPT = 'exec fairhep "$@"'
TEST_LINES = ("fairhep model info --json", f"fairhep containers selftest --pins {IMAGE_PINS}")

# Conda package names whose Python distribution is named differently.
CONDA_TO_DIST = {"pytorch": "torch"}


def _dist_name(spec: str, sep: str) -> tuple[str, str]:
    name, _, ver = spec.partition(sep)
    ver = ver.split("=", 1)[0]  # conda build-string glob after the version
    name = name.split("[", 1)[0].strip()  # pip extras: tritonclient[http,grpc]
    return CONDA_TO_DIST.get(name, name), ver.strip()


def pip_requirements(stacks_file: StacksFile, stack: Stack) -> list[str]:
    """The pip lines installed into the image (pins only; index options first). A stack's
    own pin replaces the common pin of the same package."""
    lines = [f"--extra-index-url {url}" for url in stack.extra_index_urls]
    if stack.installer == "pip":
        lines += [f"torch=={stack.torch}", f"onnx=={stack.onnx}",
                  f"{stack.onnxruntime_package}=={stack.onnxruntime}"]
        if stack.has_tensorrt:
            lines.append(f"{stack.tensorrt_package}=={stack.tensorrt}")
    own = {_dist_name(spec, "==")[0] for spec in stack.pip}
    if stack.use_common_pip:
        lines += [spec for spec in stacks_file.common_pip if _dist_name(spec, "==")[0] not in own]
    lines += list(stack.pip)
    return lines


def onnxruntime_providers(stack: Stack) -> list[str]:
    """The execution providers the stack's ONNX Runtime build must have (selftest checks).
    PyPI's onnxruntime-gpu has the TensorRT provider compiled in, whether or not TensorRT's
    libraries are installed beside it (it loads them only when a session asks for it)."""
    providers = ["CPUExecutionProvider"]
    if stack.has_cuda:
        providers.insert(0, "CUDAExecutionProvider")
    if stack.has_tensorrt or stack.onnxruntime_package == "onnxruntime-gpu":
        providers.insert(0, "TensorrtExecutionProvider")
    return providers


def pins(stacks_file: StacksFile, stack: Stack, base_ref: str | None = None,
         overridden: tuple[str, ...] = ()) -> dict[str, Any]:
    """What ``selftest`` checks inside the image: Python, CUDA as torch sees it, packages,
    ONNX Runtime's providers; and what the build changed (``build_overrides``)."""
    packages: dict[str, str] = {}
    if stack.conda is not None:
        for spec in stack.conda.packages:
            name, ver = _dist_name(spec, "=")
            if name not in CONDA_NOT_DISTS:
                packages[name] = ver
    for line in pip_requirements(stacks_file, stack):
        if not line.startswith("-"):
            name, ver = _dist_name(line, "==")
            packages[name] = ver
    # The headline pins win over anything spelled differently above.
    packages["torch"] = stack.torch
    packages["onnx"] = stack.onnx
    packages[stack.onnxruntime_package] = stack.onnxruntime
    if stack.has_tensorrt:
        packages[stack.tensorrt_package] = stack.tensorrt
    return {
        "stack": stack.id,
        "arch": stack.arch,
        "python": stack.python,
        "cuda": stack.cuda,
        "cudnn": stack.cudnn,
        "torch_cuda": ".".join(stack.cuda.split(".")[:2]) if stack.has_cuda else None,
        "onnxruntime_providers": onnxruntime_providers(stack),
        "packages": dict(sorted(packages.items())),
        "absent": dict(sorted(stack.absent.items())),
        "base_image": base_ref or stack.base.ref,
        "build_overrides": list(overridden),
    }


def _install_lines(stack: Stack) -> list[str]:
    """The build steps, shared verbatim by %post and the Dockerfile's RUN."""
    py = f"{IMAGE_ENV}/bin/python"
    lines: list[str] = []
    if stack.system_packages:
        lines += [
            "apt-get update",
            "DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends "
            + " ".join(stack.system_packages),
            "rm -rf /var/lib/apt/lists/*",
        ]
    if stack.conda is not None:
        channels = " ".join(f"-c {shlex.quote(c)}" for c in stack.conda.channels)
        lines += [
            f"wget -q -O /tmp/conda-installer.sh {shlex.quote(stack.conda.installer_url)}",
            "bash /tmp/conda-installer.sh -b -p /opt/conda",
            "rm -f /tmp/conda-installer.sh",
            (f"/opt/conda/bin/conda create -y -p {IMAGE_ENV} --override-channels "
             f"--strict-channel-priority {channels} "
             f"--file {IMAGE_ROOT}/{CONDA_NAME}"),
            "/opt/conda/bin/conda clean -afy",
            (f"/opt/conda/bin/conda list -p {IMAGE_ENV} --explicit "
             f"> {IMAGE_ROOT}/conda-explicit.txt"),
        ]
    else:
        lines.append(f"python3 -m venv {IMAGE_ENV}")
    lines += [
        f"{py} -m pip install --no-cache-dir -r {IMAGE_ROOT}/{REQUIREMENTS_NAME}",
        # Dependencies are already pinned above: install fairhep itself without re-resolving.
        f"{py} -m pip install --no-cache-dir --no-deps {IMAGE_SRC}",
    ]
    if stack.pip_check:
        lines.append(f"{py} -m pip check")
    lines += [
        f"{py} -m pip freeze > {IMAGE_ROOT}/pip-freeze.txt",
        # Fails the build if any installed version drifted from the pins.
        f"{IMAGE_ENV}/bin/fairhep containers selftest --pins {IMAGE_PINS}",
    ]
    return lines


def package_sources(root: Path) -> list[str]:
    """What building the fairhep wheel reads, from pyproject.toml: the project file, its
    readme, the wheel's package directories and force-included paths. The images copy exactly
    these, so a new force-include changes the rendered definitions (and `check` notices)."""
    project = read_toml(root / "pyproject.toml")
    wheel = project.get("tool", {}).get("hatch", {}).get("build", {}).get("targets", {}) \
        .get("wheel", {})
    out = ["pyproject.toml"]
    readme = project.get("project", {}).get("readme")
    if isinstance(readme, str):
        out.append(readme)
    out += sorted({Path(p).parts[0] for p in wheel.get("packages", [])})
    out += sorted(str(k).strip("/") for k in wheel.get("force-include", {}))
    return out


def _files(root: Path, stack: Stack, stack_files: Path) -> list[tuple[str, str]]:
    d = stack_files.as_posix()
    files = [(src, f"{IMAGE_SRC}/{src}") for src in package_sources(root)]
    files += [
        (f"{d}/{REQUIREMENTS_NAME}", f"{IMAGE_ROOT}/{REQUIREMENTS_NAME}"),
        (f"{d}/{PINS_NAME}", IMAGE_PINS),
    ]
    if stack.installer == "conda":
        files.append((f"{d}/{CONDA_NAME}", f"{IMAGE_ROOT}/{CONDA_NAME}"))
    return files


def _overrides_value(overridden: tuple[str, ...]) -> str:
    return SEPARATOR.join(overridden) or NONE


def environment(stack: Stack, flavour: str, base_ref: str | None = None,
                overridden: tuple[str, ...] = ()) -> list[tuple[str, str]]:
    """Image defaults of the ``apptainer`` or ``docker`` definition; FAIRHEP_IMAGE and
    FAIRHEP_IMAGE_DIGEST are given at run time (``--env``). ``base_ref`` and ``overridden``
    are those of a derived build (another base, other pins)."""
    return [
        ("PATH", f"{IMAGE_ENV}/bin:$PATH"),
        ("LC_ALL", "C.UTF-8"),
        ("PYTHONUNBUFFERED", "1"),
        ("PYTHONDONTWRITEBYTECODE", "1"),
        # No display on compute nodes; the image is read-only, so matplotlib caches go to /tmp.
        ("MPLBACKEND", "Agg"),
        ("MPLCONFIGDIR", "/tmp/fairhep-matplotlib"),
        ("FAIRHEP_STACK", stack.id),
        ("FAIRHEP_BASE_IMAGE", base_ref or stack.base.ref),
        # Records made inside carry this: what the build changed from the pinned stack.
        ("FAIRHEP_BUILD_OVERRIDES", _overrides_value(overridden)),
        ("FAIRHEP_CONTAINER_RUNTIME", flavour),
        (GIT_SHA_ARG, APPTAINER_GIT_SHA if flavour == "apptainer" else DOCKER_GIT_SHA),
    ]


def labels(stack: Stack, flavour: str, base_ref: str | None = None,
           overridden: tuple[str, ...] = ()) -> list[tuple[str, str]]:
    """fairhep's own labels (every pin, what a derived build changed) and the OCI
    annotations."""
    sha = APPTAINER_GIT_SHA if flavour == "apptainer" else DOCKER_GIT_SHA
    base = base_ref or stack.base.ref
    substituted = base != stack.base.ref
    base_name, _, base_digest = base.partition("@")
    if not substituted:
        base_name, base_digest = f"{stack.base.image}:{stack.base.tag}", stack.base.digest
    out = [
        ("fairhep.stack", stack.id),
        ("fairhep.version", __version__),
        ("fairhep.git_sha", sha),
        ("fairhep.arch", stack.arch),
        ("fairhep.platform", stack.platform),
        ("fairhep.python", stack.python),
        ("fairhep.cuda", stack.cuda),
        ("fairhep.cudnn", stack.cudnn),
        ("fairhep.torch", stack.torch),
        ("fairhep.onnx", stack.onnx),
        ("fairhep.onnxruntime", f"{stack.onnxruntime_package}=={stack.onnxruntime}"),
        ("fairhep.tensorrt", stack.tensorrt if stack.has_tensorrt
         else f"none ({stack.absent['tensorrt']})"),
        ("fairhep.base_image", base),
        *([("fairhep.base_image_pinned", stack.base.ref)] if substituted else []),
        ("fairhep.build_overrides", _overrides_value(overridden)),
        ("org.opencontainers.image.title", f"fairhep ({stack.id})"),
        ("org.opencontainers.image.description", stack.description),
        ("org.opencontainers.image.version", __version__),
        ("org.opencontainers.image.revision", sha),
        ("org.opencontainers.image.licenses", "BSD-3-Clause"),
        ("org.opencontainers.image.base.name", base_name),
    ]
    if base_digest:  # a local substitute has no registry digest
        out.append(("org.opencontainers.image.base.digest", base_digest))
    return out


def _docker_quote(value: str) -> str:
    # JSON string escaping is what Dockerfile double quotes accept for these values.
    return json.dumps(value, ensure_ascii=False)


def _environment_value_quote(value: str) -> str:
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _jinja_env(root: Path) -> Any:
    import jinja2

    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(str(root / TEMPLATES_DIR)),
        undefined=jinja2.StrictUndefined,
        keep_trailing_newline=True,
        autoescape=False,
    )
    env.filters["docker_quote"] = _docker_quote
    env.filters["sh_quote"] = shlex.quote
    return env


def derived_dir(stack: Stack) -> Path:
    """Where a derived (overridden) render of a stack is written, relative to the tree."""
    return DERIVED_DIR / stack.id


def render_stack(root: Path, stacks_file: StacksFile, stack: Stack,
                 overrides: BuildOverrides | None = None) -> dict[Path, str]:
    """Every file of one stack, as relative path -> text (nothing written). With
    ``overrides``: the derived files under :func:`derived_dir`, which say what they change."""
    env = _jinja_env(root)
    overridden: tuple[str, ...] = ()
    base_ref = stack.base.ref
    header = (f"GENERATED by `fairhep containers render` from {STACKS_FILE.as_posix()} "
              "and containers/templates/: do not edit.")
    if overrides is None or overrides.empty:
        d = stack_dir(stack)
        build_env: list[tuple[str, str]] = []
    else:
        d = derived_dir(stack)
        overridden = tuple(overrides.describe(stack, pins(stacks_file, stack)["packages"]))
        stacks_file, stack = derive(stacks_file, stack, overrides)
        base_ref = overrides.base or base_ref
        build_env = list(overrides.pip_settings)
        header = (f"DERIVED by `fairhep containers build` from {STACKS_FILE.as_posix()} with "
                  "build overrides (the fairhep.build_overrides label lists them): do not "
                  "edit or commit.")
    ctx: dict[str, Any] = {
        "header": header,
        "stack": stack,
        "version": __version__,
        "base_ref": base_ref,
        "files": _files(root, stack, d),
        "install_lines": _install_lines(stack),
        "build_env": build_env,
        "test_lines": list(TEST_LINES),
        "def_path": (d / DEF_NAME).as_posix(),
        "dockerfile_path": (d / DOCKERFILE_NAME).as_posix(),
        "labels": lambda flavour: labels(stack, flavour, base_ref, overridden),
    }
    out: dict[Path, str] = {}
    # %environment values are shell words; Dockerfile ENV values are quoted by the template.
    ctx["environment"] = lambda flavour: [
        (k, _environment_value_quote(v)) for k, v in environment(stack, flavour, base_ref,
                                                                 overridden)]
    out[d / DEF_NAME] = env.get_template("fairhep.def.j2").render(ctx)
    ctx["environment"] = lambda flavour: environment(stack, flavour, base_ref, overridden)
    out[d / DOCKERFILE_NAME] = env.get_template("Dockerfile.j2").render(ctx)
    req_header = f"# {header}\n# Stack {stack.id}: pip pins installed into the image.\n"
    out[d / REQUIREMENTS_NAME] = req_header + "\n".join(pip_requirements(stacks_file, stack)) + "\n"
    out[d / PINS_NAME] = json.dumps(pins(stacks_file, stack, base_ref, overridden),
                                    indent=2) + "\n"
    if stack.conda is not None:
        out[d / CONDA_NAME] = (f"# {header}\n# Stack {stack.id}: conda pins, channels "
                               f"{', '.join(stack.conda.channels)} (strict order).\n"
                               + "\n".join(stack.conda.packages) + "\n")
    return out


def derive(stacks_file: StacksFile, stack: Stack, overrides: BuildOverrides
           ) -> tuple[StacksFile, Stack]:
    """The stack (and the common pins) with the overrides applied: other versions, other
    extra indexes, Python relaxed to its minor version on a substituted base."""
    def repin(specs: tuple[str, ...], sep: str) -> tuple[str, ...]:
        out = []
        for spec in specs:
            name, _ = _dist_name(spec, sep)
            raw, _, rest = spec.partition(sep)
            build = rest.split("=", 1)[1] if sep == "=" and "=" in rest else ""
            new = overrides.pin(name, "")
            out.append(f"{raw}{sep}{new}" + (f"={build}" if build else "") if new else spec)
        return tuple(out)

    tensorrt = (overrides.pin(stack.tensorrt_package, stack.tensorrt)
                if stack.has_tensorrt else stack.tensorrt)
    changes: dict[str, Any] = {
        "torch": overrides.pin("torch", stack.torch),
        "onnx": overrides.pin("onnx", stack.onnx),
        "onnxruntime": overrides.pin(stack.onnxruntime_package, stack.onnxruntime),
        "tensorrt": tensorrt,
        "pip": repin(stack.pip, "=="),
    }
    if stack.has_tensorrt and tensorrt == NONE:
        changes["absent"] = {**stack.absent, "tensorrt": left_out_by_override(
            stack.tensorrt_package, stack.tensorrt)}
    if overrides.base is not None:
        changes["python"] = python_of_substituted_base(stack)
    if overrides.extra_index_urls is not None:
        changes["extra_index_urls"] = overrides.extra_index_urls
    if stack.conda is not None:
        changes["conda"] = dataclasses.replace(stack.conda,
                                               packages=repin(stack.conda.packages, "="))
    new_stack = dataclasses.replace(stack, **changes)
    object.__setattr__(new_stack, "id", stack.id)  # not an init field: replace() drops it
    new_file = dataclasses.replace(stacks_file, common_pip=repin(stacks_file.common_pip, "=="),
                                   stacks={**stacks_file.stacks, stack.id: new_stack})
    return new_file, new_stack


def write_files(root: Path, files: dict[Path, str]) -> list[Path]:
    """Write every file whose content changed (atomically); return those written."""
    written = []
    for rel, text in files.items():
        path = root / rel
        if path.is_file() and path.read_text() == text:
            continue
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f".{path.name}.tmp")
        tmp.write_text(text)
        os.replace(tmp, path)
        written.append(rel)
    return written


def render_all(root: Path) -> dict[Path, str]:
    stacks_file = load_stacks(root / STACKS_FILE)
    out: dict[Path, str] = {}
    for stack in stacks_file.stacks.values():
        out.update(render_stack(root, stacks_file, stack))
    return out


def write_rendered(root: Path) -> list[Path]:
    """Write every rendered file whose content changed; return those written."""
    return write_files(root, render_all(root))


def stale_files(root: Path) -> list[Path]:
    """Rendered files that are missing or differ from a fresh render."""
    return [rel for rel, text in render_all(root).items()
            if not (root / rel).is_file() or (root / rel).read_text() != text]
