"""The set of result records a report reads: every record below the given results directories,
each with the platform it ran on and the file it came from, and the problems met on the way.

Not to be confused with :class:`fairhep.campaign.Campaign` (what a campaign runs): this is what
some runs left behind, from one site or many, from a campaign or ad-hoc commands.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from fairhep.errors import ConfigError
from fairhep.report.format import num
from fairhep.results import RECORDS_DIR, RecordError, ResultRecord, iter_record_files, kinds
from fairhep.results import read_record as read_result_record

# How deep below a given directory results directories are looked for: ./results holds the
# local campaigns' <site>/<campaign>/ (itself with records/), a campaign folder the same.
_SEARCH_DEPTH = 4
# What a record whose provenance says ``generated`` (test fixtures: "fixture: <why>") is
# called wherever the report shows it: its platform label carries it.
GENERATED = "generated fixture, not a measurement"


@dataclass(frozen=True, eq=False)  # one record read from one file: identity is equality
class Record:
    """A result record with the platform it ran on and the file it came from."""

    record: ResultRecord
    platform: str
    file: str  # relative to its results directory: what the report names

    @property
    def config(self) -> dict[str, Any]:
        return self.record.config or {}

    @property
    def metrics(self) -> dict[str, Any]:
        return self.record.metrics or {}

    @property
    def timings(self) -> dict[str, Any]:
        return self.record.timings or {}

    @property
    def generated(self) -> str | None:
        """Why this record is made up rather than measured (``provenance.generated``), or None
        for a measurement."""
        return generated(self.record)

    @property
    def gpu(self) -> str:
        """The first GPU's name, or "no GPU" (a sweep's NVML column says why)."""
        gpu = (self.record.provenance or {}).get("gpu") or {}
        devices = gpu.get("devices") or []
        if gpu.get("available") and devices:
            return str(devices[0].get("name"))
        return "no GPU"


@dataclass(frozen=True)
class RecordSet:
    """Records by kind, in the order they were read, and what could not be used (by file)."""

    dirs: tuple[Path, ...]
    records: Mapping[str, tuple[Record, ...]] = field(default_factory=dict)
    problems: tuple[str, ...] = ()

    def of(self, kind: str) -> tuple[Record, ...]:
        return self.records.get(kind, ())

    def all(self) -> list[Record]:
        """Every record, kind by kind in the order the kinds were first read."""
        return [r for recs in self.records.values() for r in recs]

    def counts(self) -> dict[str, int]:
        """Records per kind: every kind a report reads, and any other kind that was found."""
        return {k: len(self.of(k)) for k in sorted(set(kinds.REPORTED) | set(self.records))}


def generated(record: ResultRecord) -> str | None:
    """``provenance.generated``: why a record was made up (a test fixture), None if measured."""
    why = (record.provenance or {}).get("generated")
    return str(why) if why else None


def platform_label(record: ResultRecord) -> str:
    """The machine a record was measured on: its site for a record measured in that site's
    scheduler jobs (``provenance.site`` with ``provenance.slurm``), else the first GPU's model,
    else the host name. A site without a scheduler (``local``) is the machine the command ran
    on, so its campaign's records and the same machine's ad-hoc runs are one platform. A
    generated record's label says so (:data:`GENERATED`), so that every table and figure does."""
    prov = record.provenance or {}
    gpu = prov.get("gpu") or {}
    devices = gpu.get("devices") or []
    if prov.get("site") and prov.get("slurm"):
        label = str(prov["site"])
    elif gpu.get("available") and devices and devices[0].get("name"):
        label = str(devices[0]["name"])
    else:
        label = str(prov.get("host") or "unknown")
    return f"{label} ({GENERATED})" if generated(record) else label


def results_dirs(dirs: Iterable[Path]) -> list[Path]:
    """Every results directory (one that holds ``records/``) among and below the given ones:
    ./results with its ad-hoc records and the local campaigns under ``<site>/<campaign>/``, a
    campaign directory with one results directory per task or site."""
    found: list[Path] = []
    for given in dirs:
        d = Path(given)
        if not d.is_dir():
            raise ConfigError(
                f"{d}: results directory does not exist; pass the --results "
                "directory that `fairhep bench`/`train` wrote"
            )
        found += _holding_records(d, _SEARCH_DEPTH) or [d]  # an empty one still counts
    return list(dict.fromkeys(found))


def require_records(dirs: Sequence[Path]) -> None:
    """Refuse, in one line, directories with no record file in or below them: a report of
    nothing would only look like a report of everything going well."""
    found = results_dirs(dirs)
    if not any(next(iter_record_files(d), None) for d in found):
        where = ", ".join(str(d) for d in dirs)
        raise ConfigError(
            f"{where}: no result records here or below; nothing to report (pass the "
            "--results directory that `fairhep bench`, `train`, `evaluate` or a campaign wrote)"
        )


def _holding_records(d: Path, depth: int) -> list[Path]:
    """``d`` if it holds ``records/``, then the folders below it that do (down to ``depth``
    levels, never inside a ``records/``), in sorted order."""
    try:
        below = sorted(p for p in d.iterdir() if p.is_dir() and not p.is_symlink())
    except OSError:
        return []
    found = [d] if any(p.name == RECORDS_DIR for p in below) else []
    if depth > 0:
        for p in below:
            if p.name != RECORDS_DIR:
                found += _holding_records(p, depth - 1)
    return found


def read_record(path: Path, results_dir: Path) -> Record | str:
    """The record at ``path``, or the problem that keeps the report from counting it."""
    try:
        rec = read_result_record(path)
    except RecordError as exc:
        return f"{exc} — skipped"
    r = Record(rec, platform_label(rec), str(path.relative_to(results_dir)))
    if rec.status != "ok" and rec.kind in kinds.ONLY_OK:
        why = "; ".join(f"{s.get('what')}: {s.get('reason')}" for s in rec.skipped)
        return (
            f"{path}: {rec.kind} record ({r.platform}) has status {rec.status}"
            f"{f' ({why})' if why else ''} — not counted"
        )
    lacking = [
        k
        for k in kinds.REQUIRED_METRICS.get(rec.kind, ())
        if rec.status == "ok" and num(r.metrics, k) is None
    ]
    if lacking:
        return (
            f"{path}: {rec.kind} record ({r.platform}) without "
            f"numeric metrics {', '.join(lacking)} — skipped"
        )
    return r


def load_record_set(dirs: Sequence[Path]) -> RecordSet:
    """Every record below ``dirs`` (see :func:`results_dirs`); unusable ones become problems."""
    found = results_dirs(dirs)
    records: dict[str, list[Record]] = defaultdict(list)
    problems: list[str] = []
    for d in found:
        # Per file (rather than load_records) so that every record keeps its real file name.
        for path in iter_record_files(d):
            got = read_record(path, d)
            if isinstance(got, str):
                problems.append(got)
            else:
                records[got.record.kind].append(got)
    return RecordSet(tuple(found), {k: tuple(v) for k, v in records.items()}, tuple(problems))
