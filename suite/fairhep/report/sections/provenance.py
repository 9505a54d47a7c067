"""Provenance per platform (every distinct value its records carry) and the paper's platforms."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Sequence
from typing import Any

from fairhep.report.context import Context
from fairhep.report.format import NONE
from fairhep.report.grouping import platform_sort
from fairhep.report.recordset import GENERATED, Record
from fairhep.report.section import Section, Table, row

ID = "provenance"
Get = Callable[[dict[str, Any]], Any]
IMAGE_DIGEST_CHARS = 19  # "sha256:" and the first 12 hex digits
GIT_SHA_CHARS = 12


def _gpu(p: dict[str, Any]) -> str:
    g = p.get("gpu") or {}
    if not g.get("available"):
        return f"none ({g.get('reason', 'not recorded')})"
    return " + ".join(d.get("name", "?") for d in g.get("devices", []))


def _measured(p: dict[str, Any]) -> str:
    why = p.get("generated")
    return f"no: {GENERATED} ({why})" if why else "yes"


def _git(p: dict[str, Any]) -> str | None:
    g = p.get("git") or {}
    sha = g.get("sha")
    return None if not sha else sha[:GIT_SHA_CHARS] + (" (dirty)" if g.get("dirty") else "")


def _package(name: str) -> Get:
    return lambda p: (p.get("packages") or {}).get(name)


def _container(key: str, chars: int | None = None) -> Get:
    return lambda p: ((p.get("container") or {}).get(key) or "")[:chars]


def _onnxruntime(recs: Sequence[Record]) -> Get:
    """onnxruntime-gpu where some record has it (both provide the same module)."""
    gpu_build = any(
        "onnxruntime-gpu" in ((r.record.provenance or {}).get("packages") or {}) for r in recs
    )
    return _package("onnxruntime-gpu" if gpu_build else "onnxruntime")


def _values(recs: Sequence[Record], get: Get) -> str:
    """The distinct values of one provenance entry, in the order the records show them."""
    seen: list[str] = []
    for r in recs:
        try:
            v = get(r.record.provenance or {})
        except (KeyError, TypeError, IndexError, AttributeError):
            v = None
        s = NONE if v in (None, "") else str(v)
        if s not in seen:
            seen.append(s)
    return ", ".join(seen)


# Column -> what it shows of a platform's records (GPU and onnxruntime: see _cells).
COLUMNS: dict[str, Get] = {
    "Driver": lambda p: p["gpu"].get("driver"),
    "CUDA": lambda p: p["gpu"].get("cuda_driver"),
    "Arch": lambda p: p.get("arch"),
    "Stack": lambda p: (p.get("container") or {}).get("stack"),
    "Image digest": _container("image_digest", IMAGE_DIGEST_CHARS),
    "fairhep": lambda p: p.get("fairhep_version"),
    "git": _git,
    "Python": lambda p: p.get("python"),
    "torch": _package("torch"),
}
HEADERS = (
    "Platform",
    "Measured",
    "GPU",
    *COLUMNS,
    "onnxruntime",
    "tensorrt",
    "Hosts",
    "Records",
)


def _cells(plat: str, recs: Sequence[Record]) -> list[str]:
    one_gpu = len({_values([r], _gpu) for r in recs}) == 1
    return [
        plat,
        _values(recs, _measured),
        _gpu(recs[0].record.provenance or {}) if one_gpu else _values(recs, _gpu),
        *(_values(recs, get) for get in COLUMNS.values()),
        _values(recs, _onnxruntime(recs)),
        _values(recs, _package("tensorrt")),
        _values(recs, lambda p: p.get("host")),
        str(len(recs)),
    ]


def build(ctx: Context) -> Section:
    by: dict[str, list[Record]] = defaultdict(list)
    for r in ctx.records.all():
        by[r.platform].append(r)
    rows = [row(HEADERS, _cells(plat, by[plat])) for plat in sorted(by, key=platform_sort)]
    pp = ctx.published("paper")["platforms"]
    paper_headers = ("Platform", "Name", "GPU", "OS", "Stack")
    paper = tuple(
        row(paper_headers, [k, v["name"], v["gpu"], v["os"], v["stack"]]) for k, v in pp.items()
    )
    return Section(
        ID,
        "Provenance per platform",
        "Every distinct value seen in the records of each platform. Measured: 'no' for "
        "records whose provenance says they were generated (test fixtures).",
        tables=(
            Table("provenance", HEADERS, tuple(rows), not_run="" if rows else "no records"),
            Table("provenance_published", paper_headers, paper, "The paper's platforms (Table 6)."),
        ),
    )
