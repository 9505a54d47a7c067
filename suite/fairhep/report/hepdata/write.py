"""``fairhep publish``: a report's result tables as a HEPData submission.

Written with ``hepdata_lib`` (one YAML per table, ``submission.yaml`` naming them) and checked
with ``hepdata-validator`` in a staging folder before anything appears at ``--out``: an
invalid submission is one error line and leaves nothing behind. A table is split by its
``Platform`` column so that each HEPData table's qualifiers name one platform: its GPU, stack,
image digest, fairhep version and the records' provenance (git, hosts, record count), read
from the report's provenance section. Figure 4's curves become one table per curve (batch
size -> median jets/s). A model bundle travels as an additional resource (a ``.tar.gz``).
"""

from __future__ import annotations

import csv
import os
import re
import statistics
import tarfile
import tempfile
from collections import defaultdict
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from fairhep import __version__
from fairhep.errors import ConfigError
from fairhep.report.format import NONE
from fairhep.report.hepdata.cells import UNCERTAINTY_LABEL, parse, split_header
from fairhep.report.section import Section, Table

# The sections whose tables HEP readers compare: the paper's Tables 4, 5/7, 8, 9, 10, Figure 4,
# and the scaling/latency sections where the report has them.
PUBLISHED_SECTIONS = ("table4", "table57", "table8", "figure4", "xai", "scaling", "latency")
PLATFORM = "Platform"
# HEPData allows four keyword names; "phrases" carries ours as "<key>: <value>".
PHRASES = "phrases"
KEY_TABLE = "fairhep table"  # the report table a HEPData table holds
KEY_PLATFORM = "platform"
KEY_CURVE = "fairhep curve"
ARCHIVE_SUFFIX = ".tar.gz"
_DIGITS = 12  # hepdata_lib rounds to 5 significant digits by default: keep the printed ones


class PublishError(ConfigError):
    """A submission that cannot be written or that hepdata-validator refuses."""


@dataclass(frozen=True)
class Published:
    folder: Path
    archive: Path
    tables: tuple[str, ...]


def platform_facts(sections: Sequence[Section]) -> dict[str, dict[str, str]]:
    """Per platform, what its qualifiers say: the provenance section's columns (measured
    platforms) and the paper's platform descriptions."""
    facts: dict[str, dict[str, str]] = {}
    prov = next((s for s in sections if s.id == "provenance"), None)
    for t in prov.tables if prov else ():
        for r in t.rows:
            facts.setdefault(r[PLATFORM], {}).update(
                {k: v for k, v in r.cells.items() if k != PLATFORM and v})
    return facts


def phrases(table: str, platform: str) -> list[str]:
    return [f"{KEY_TABLE}: {table}", *([f"{KEY_PLATFORM}: {platform}"] if platform else [])]


def _slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", text).strip("_")[:60] or "all"


def _by_platform(table: Table) -> list[tuple[str, list[dict[str, str]]]]:
    if PLATFORM not in table.headers:
        return [("", [dict(r.cells) for r in table.rows])]
    groups: dict[str, list[dict[str, str]]] = defaultdict(list)
    for r in table.rows:
        groups[r[PLATFORM]].append(dict(r.cells))
    return list(groups.items())


def _variables(headers: Sequence[str], rows: Sequence[dict[str, str]],
               qualifiers: dict[str, str]) -> list[Any]:
    from hepdata_lib import Uncertainty, Variable

    out = []
    for i, header in enumerate(headers):
        name, units = split_header(header)
        values = [parse(r[header]) for r in rows]
        var = Variable(name, is_independent=i == 0, is_binned=False, units=units,
                       values=[v.value for v in values], zero_uncertainties_warning=False)
        var.digits = _DIGITS
        if any(v.error is not None for v in values):
            unc = Uncertainty(UNCERTAINTY_LABEL, is_symmetric=True)
            unc.values = [v.error or 0.0 for v in values]
            var.add_uncertainty(unc)
        if i > 0:
            for qname, qvalue in qualifiers.items():
                var.add_qualifier(qname, qvalue)
        out.append(var)
    return out


def _qualifiers(platform: str, facts: dict[str, dict[str, str]]) -> dict[str, str]:
    if not platform:
        return {"fairhep": __version__}
    # Always named, "–" where unknown: a reader sees that no image or stack was recorded.
    return {PLATFORM: platform, "GPU": NONE, "Stack": NONE, "Image digest": NONE,
            **facts.get(platform, {}),
            "fairhep": facts.get(platform, {}).get("fairhep", __version__)}


def hepdata_tables(sections: Sequence[Section]) -> list[Any]:
    """The HEPData tables (``hepdata_lib.Table``) of the published sections, non-empty ones."""
    from hepdata_lib import Table as HTable

    facts = platform_facts(sections)
    out = []
    for sec in sections:
        if not any(sec.id == s or sec.id.startswith(f"{s}_") for s in PUBLISHED_SECTIONS):
            continue
        for table in sec.tables:
            for platform, rows in _by_platform(table):
                if not rows:
                    continue
                h = HTable(f"{table.name} {_slug(platform)}" if platform else table.name)
                h.description = (f"{sec.title}: {table.caption or table.name}"
                                 + (f" (platform {platform})" if platform else ""))
                h.location = f"fairhep report, section '{sec.title}'"
                h.keywords = {PHRASES: phrases(table.name, platform)}
                for var in _variables(table.headers, rows, _qualifiers(platform, facts)):
                    h.add_variable(var)
                out.append(h)
        if sec.id == "figure4":
            out += _curves(sec, facts)
    return out


def _curves(sec: Section, facts: dict[str, dict[str, str]]) -> list[Any]:
    """Figure 4's curves: per figure, batch size -> median jets/s over repeats (and GPU
    utilisation where NVML measured it)."""
    from hepdata_lib import Table as HTable
    from hepdata_lib import Variable

    out = []
    platforms = {f"{sec.id}_{_slug(p)}": p for p in facts}
    for fig in sec.figures:
        if fig.csv is None or not Path(fig.csv).is_file():
            continue
        with Path(fig.csv).open(newline="") as fh:
            rows = list(csv.DictReader(fh))
        by_batch: dict[int, list[dict[str, str]]] = defaultdict(list)
        for r in rows:
            if r.get("batch_size") and r.get("jets_per_s"):
                by_batch[int(r["batch_size"])].append(r)
        if not by_batch:
            continue
        batches = sorted(by_batch)
        h = HTable(f"figure4 curve {_slug(Path(fig.csv).stem)}")
        h.description = f"Figure 4 curve: {fig.title} (median over repeats)"
        h.location = f"fairhep report, section '{sec.title}'"
        platform = next((p for k, p in platforms.items()
                         if Path(fig.csv).stem.startswith(k)), "")
        h.keywords = {PHRASES: [*phrases("figure4 curve", platform),
                                f"{KEY_CURVE}: {fig.title}"]}
        quals = {**_qualifiers(platform, facts), "curve": fig.title}
        x = Variable("Batch size", is_independent=True, is_binned=False, units="jets",
                     values=batches)
        h.add_variable(x)
        for col, name, units in (("jets_per_s", "Throughput", "jets/s"),
                                 ("gpu_util_pct", "GPU utilisation", "%")):
            vals = [[float(r[col]) for r in by_batch[b] if r.get(col)] for b in batches]
            if not all(vals):
                continue
            y = Variable(name, is_independent=False, is_binned=False, units=units,
                         values=[statistics.median(v) for v in vals])
            y.digits = _DIGITS
            for q, v in quals.items():
                y.add_qualifier(q, v)
            h.add_variable(y)
        out.append(h)
    return out


def _bundle_archive(bundle: Path, into: Path) -> Path:
    from fairhep.fair.bundle import CARD_JSON

    if not (bundle / CARD_JSON).is_file():
        raise PublishError(f"{bundle}: not a model bundle (no {CARD_JSON}); pass the folder "
                           "`fairhep package` wrote")
    archive = into / f"{bundle.name}{ARCHIVE_SUFFIX}"
    with tarfile.open(archive, "w:gz") as tar:
        tar.add(bundle, arcname=bundle.name)
    return archive


@contextmanager
def _cwd(path: Path) -> Iterator[None]:
    """contextlib.chdir, which Python 3.10 lacks."""
    before = Path.cwd()
    os.chdir(path)
    try:
        yield
    finally:
        os.chdir(before)


def require_hepdata() -> None:
    """hepdata_lib and hepdata-validator, or one line saying how to install them."""
    try:
        import hepdata_lib  # noqa: F401
        import hepdata_validator  # noqa: F401
    except ImportError as exc:
        raise PublishError(f"publish needs hepdata_lib and hepdata-validator ({exc}); "
                           "pip install 'fairhep[publish]'") from None


def validate_folder(folder: Path) -> list[str]:
    """hepdata-validator's complaints about a submission folder (empty: valid)."""
    from hepdata_validator.full_submission_validator import FullSubmissionValidator

    validator = FullSubmissionValidator()
    if validator.validate(directory=str(folder)):
        return []
    return [f"{Path(f).name}: {m.message}" for f, ms in validator.get_messages().items()
            for m in ms]


def write_submission(sections: Sequence[Section], out: Path, *, bundle: Path | None = None,
                     comment: str = "", provenance: Iterable[str] = ()) -> Published:
    """Write ``out/`` (submission.yaml + one YAML per table + resources) and ``out.tar.gz``."""
    require_hepdata()
    from hepdata_lib import Submission

    out = Path(out)
    archive = out.with_name(out.name + ARCHIVE_SUFFIX)
    for path in (out, archive):
        if path.exists():
            raise PublishError(f"{path}: already exists; a submission is never overwritten: "
                               "choose another --out")
    tables = hepdata_tables(sections)
    if not tables:
        raise PublishError(f"{out}: the report has no rows in the tables HEPData would hold "
                           f"({', '.join(PUBLISHED_SECTIONS)}); run a campaign first")
    out.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix=f".{out.name}.publishing-", dir=out.parent) as tmp:
        # Absolute: hepdata_lib runs with the stage as its working directory (below).
        stage = Path(tmp).absolute()
        sub = Submission()
        sub.comment = " ".join([comment, *provenance]).strip() or f"fairhep {__version__}"
        if bundle is not None:
            sub.add_additional_resource(
                "fairhep model bundle (ONNX model, model card, validation sample, C++ runner)",
                str(_bundle_archive(Path(bundle), stage)), copy_file=True)
        for t in tables:
            sub.add_table(t)
        # hepdata_lib writes submission.tar.gz into the working directory: keep it in stage.
        with _cwd(stage):
            sub.create_files(str(stage / "submission"), validate=False)
        problems = validate_folder(stage / "submission")
        if problems:
            raise PublishError(f"{out}: hepdata-validator refuses the submission "
                               f"({'; '.join(problems[:3])}); nothing was written")
        (stage / "submission.tar.gz").replace(archive)
        (stage / "submission").replace(out)
    return Published(out, archive, tuple(t.name for t in tables))

