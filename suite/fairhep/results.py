"""Result records: one JSON file per measured run, with provenance, validated by a JSON Schema.

Layout under a results directory::

    RESULTS/records/<kind>/<created>_<host>_<id>.json

A record is written atomically and never replaces another (the final name is claimed with a
hard link, which fails if it exists). Record kinds are free-form dotted names
(``train``, ``evaluate``, ``bench.default``, ``bench.frameworks``, ``bench.sweep``, ...); later
features add kinds without touching this module.
"""

from __future__ import annotations

import functools
import getpass
import json
import os
import platform
import socket
import subprocess
import sys
import uuid
from dataclasses import asdict, dataclass, field
from datetime import datetime, timezone
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Any, Iterator

import jsonschema

from fairhep import __version__
from fairhep.data.manifest import sha256_file
from fairhep.errors import FairhepError

RECORD_SCHEMA_VERSION = "1.0"
RECORDS_DIR = "records"

# Library versions worth knowing when comparing two sites; read from package metadata so
# that nothing here imports a backend.
TRACKED_PACKAGES = (
    "torch", "numpy", "h5py", "onnx", "onnxruntime", "onnxruntime-gpu", "tensorrt",
    "scikit-learn", "scipy", "uproot", "awkward", "nvidia-ml-py",
)

RECORD_JSON_SCHEMA: dict[str, Any] = {
    "$schema": "https://json-schema.org/draft/2020-12/schema",
    "title": "fairhep result record",
    "type": "object",
    "required": [
        "schema_version", "record_id", "kind", "created", "status",
        "config", "metrics", "timings", "provenance",
    ],
    "properties": {
        "schema_version": {"type": "string"},
        "record_id": {"type": "string", "minLength": 1},
        "kind": {"type": "string", "pattern": r"^[a-z][a-z0-9_]*(\.[a-z0-9_]+)*$"},
        "created": {"type": "string"},
        "status": {"enum": ["ok", "skipped", "failed"]},
        "task_id": {"type": ["string", "null"]},
        "config": {"type": "object"},
        "metrics": {"type": "object"},
        "timings": {"type": "object"},
        "skipped": {
            "type": "array",
            "items": {
                "type": "object",
                "required": ["what", "reason"],
                "properties": {"what": {"type": "string"}, "reason": {"type": "string"}},
            },
        },
        "artifacts": {"type": "object", "additionalProperties": {"type": "string"}},
        "provenance": {
            "type": "object",
            "required": ["fairhep_version", "host", "os", "arch", "python", "packages"],
        },
    },
}


class RecordError(FairhepError):
    """A result record that cannot be read or does not match the schema."""


@dataclass
class ResultRecord:
    """What ran (kind, config), what it measured, how long it took, and where it ran."""

    kind: str
    config: dict[str, Any] = field(default_factory=dict)
    metrics: dict[str, Any] = field(default_factory=dict)
    timings: dict[str, Any] = field(default_factory=dict)
    status: str = "ok"
    skipped: list[dict[str, str]] = field(default_factory=list)
    artifacts: dict[str, str] = field(default_factory=dict)
    task_id: str | None = None
    provenance: dict[str, Any] = field(default_factory=dict)
    record_id: str = field(default_factory=lambda: uuid.uuid4().hex[:12])
    created: str = field(
        default_factory=lambda: datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    )
    schema_version: str = RECORD_SCHEMA_VERSION

    def skip(self, what: str, reason: str) -> None:
        """Note that part of the run could not be done here, and why."""
        self.skipped.append({"what": what, "reason": reason})

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> "ResultRecord":
        validate(d)
        known = {k: d[k] for k in cls.__dataclass_fields__ if k in d}
        return cls(**known)


@functools.lru_cache(maxsize=1)
def _validator() -> jsonschema.protocols.Validator:
    # Building a validator (meta-schema check included) costs far more than using one, and a
    # report validates every record of a campaign.
    cls = jsonschema.validators.validator_for(RECORD_JSON_SCHEMA)
    cls.check_schema(RECORD_JSON_SCHEMA)
    return cls(RECORD_JSON_SCHEMA)


def validate(d: dict[str, Any], source: str = "record") -> None:
    try:
        _validator().validate(d)
    except jsonschema.ValidationError as exc:
        where = "/".join(str(p) for p in exc.absolute_path) or "top level"
        raise RecordError(f"{source}: invalid result record at {where}: {exc.message}") from None


# ---- provenance --------------------------------------------------------------------------

def _git(args: list[str], cwd: Path) -> str | None:
    try:
        out = subprocess.run(
            ["git", *args], cwd=cwd, capture_output=True, text=True, timeout=5, check=True
        )
    except (OSError, subprocess.SubprocessError):
        return None
    return out.stdout.strip()


def git_state() -> dict[str, Any]:
    """Commit and dirty flag of the fairhep source; containers bake them into the environment."""
    if os.environ.get("FAIRHEP_GIT_SHA"):
        return {"sha": os.environ["FAIRHEP_GIT_SHA"], "dirty": False, "source": "environment"}
    src = Path(__file__).resolve().parent
    sha = _git(["rev-parse", "HEAD"], src)
    if not sha:
        return {"sha": None, "dirty": None, "source": "unknown"}
    status = _git(["status", "--porcelain", "--untracked-files=no"], src)
    return {"sha": sha, "dirty": bool(status), "source": "git"}


def cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith(("model name", "cpu\t", "cpu ")):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def package_versions() -> dict[str, str]:
    found = {}
    for name in TRACKED_PACKAGES:
        try:
            found[name] = version(name)
        except PackageNotFoundError:
            continue
    return found


def container_info() -> dict[str, Any] | None:
    """Apptainer/Singularity or Docker, with the stack and image the container recorded."""
    env = os.environ
    runtime = None
    if env.get("APPTAINER_CONTAINER") or env.get("SINGULARITY_CONTAINER"):
        runtime = "apptainer"
    elif Path("/.dockerenv").exists() or env.get("FAIRHEP_CONTAINER_RUNTIME") == "docker":
        runtime = "docker"
    if runtime is None and not env.get("FAIRHEP_STACK"):
        return None
    image = (env.get("FAIRHEP_IMAGE") or env.get("APPTAINER_CONTAINER")
             or env.get("SINGULARITY_CONTAINER"))
    digest = env.get("FAIRHEP_IMAGE_DIGEST")
    if digest is None and runtime == "apptainer" and image and Path(image).is_file():
        # Apptainer names the .sif it runs; where that file is visible inside the container,
        # its digest identifies the image even when the job did not pass one.
        digest = _file_digest(image)
    return {
        "runtime": runtime or env.get("FAIRHEP_CONTAINER_RUNTIME", "unknown"),
        "stack": env.get("FAIRHEP_STACK"),
        "image": image,
        "image_digest": digest,
        "base_image": env.get("FAIRHEP_BASE_IMAGE"),
    }


@functools.lru_cache(maxsize=4)
def _file_digest(path: str) -> str | None:
    try:
        return f"sha256:{sha256_file(Path(path))}"
    except OSError:
        return None


SLURM_VARIABLES = (
    "SLURM_JOB_ID", "SLURM_ARRAY_JOB_ID", "SLURM_ARRAY_TASK_ID", "SLURM_CLUSTER_NAME",
    "SLURM_JOB_PARTITION", "SLURM_JOB_NAME", "SLURM_JOB_NODELIST",
)


def slurm_info() -> dict[str, str] | None:
    found = {k.removeprefix("SLURM_").lower(): os.environ[k]
             for k in SLURM_VARIABLES if k in os.environ}
    return found or None


def collect_provenance(dataset_manifest: Path | None = None) -> dict[str, Any]:
    """Everything needed to say where and with what a number was measured."""
    from fairhep.gpu import gpu_info

    prov: dict[str, Any] = {
        "fairhep_version": __version__,
        "git": git_state(),
        "host": socket.gethostname(),
        "user": _user(),
        "os": platform.platform(),
        "arch": platform.machine(),
        "python": sys.version.split()[0],
        "packages": package_versions(),
        "cpu": cpu_model(),
        "cpu_count": os.cpu_count(),
        "gpu": gpu_info(),
        "container": container_info(),
        "slurm": slurm_info(),
        # Set by the runners from the site configuration; None for ad-hoc runs.
        "site": os.environ.get("FAIRHEP_SITE"),
    }
    if dataset_manifest is not None and dataset_manifest.is_file():
        prov["dataset_manifest"] = str(dataset_manifest)
        prov["dataset_manifest_sha256"] = sha256_file(dataset_manifest)
    return prov


def _user() -> str | None:
    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return None


# ---- writing and reading -----------------------------------------------------------------

def record_path(results_dir: Path, record: ResultRecord) -> Path:
    stamp = record.created.replace(":", "").replace("-", "").replace(".", "")
    host = (record.provenance.get("host") or "host").replace("/", "_")
    return results_dir / RECORDS_DIR / record.kind / f"{stamp}_{host}_{record.record_id}.json"


def write_record(
    results_dir: Path, record: ResultRecord, dataset_manifest: Path | None = None
) -> Path:
    """Fill in provenance if missing, validate, and write atomically without overwriting."""
    if not record.provenance:
        record.provenance = collect_provenance(dataset_manifest)
    if record.task_id is None:
        # Set by `fairhep task run` so that every record a task writes names its task.
        record.task_id = os.environ.get("FAIRHEP_TASK_ID")
    data = record.to_dict()
    validate(data)
    path = record_path(results_dir, record)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    with open(tmp, "w") as fh:
        json.dump(data, fh, indent=2, sort_keys=True, default=str)
        fh.write("\n")
        fh.flush()
        os.fsync(fh.fileno())
    try:
        os.link(tmp, path)  # fails if the name exists: a record is never replaced
    except FileExistsError:
        raise RecordError(f"{path}: a record with this id already exists") from None
    finally:
        tmp.unlink()
    return path


def read_record(path: Path) -> ResultRecord:
    try:
        data = json.loads(Path(path).read_text())
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise RecordError(f"{path}: not a readable JSON result record ({exc})") from None
    if not isinstance(data, dict):
        raise RecordError(f"{path}: not a JSON object")
    validate(data, str(path))
    return ResultRecord.from_dict(data)


def iter_record_files(results_dir: Path, kind: str | None = None) -> Iterator[Path]:
    base = Path(results_dir) / RECORDS_DIR
    pattern = f"{kind}/*.json" if kind else "*/*.json"
    yield from sorted(base.glob(pattern))


def load_records(
    results_dir: Path, kind: str | None = None, errors: list[str] | None = None
) -> list[ResultRecord]:
    """All valid records; a bad one is reported in ``errors`` (if given) and skipped."""
    out = []
    for path in iter_record_files(results_dir, kind):
        try:
            out.append(read_record(path))
        except RecordError as exc:
            if errors is None:
                raise
            errors.append(str(exc))
    return out
