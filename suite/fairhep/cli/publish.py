"""``fairhep publish``: the report's result tables as a HEPData submission."""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

from fairhep.cli import Subparsers
from fairhep.results.location import RESULTS_ENV, default_results_dir


def register(sub: Subparsers) -> None:
    p = sub.add_parser(
        "publish",
        help="write the report's result tables as a HEPData submission (hepdata-validator "
        "checked)",
        description="Build the report's sections from the records under --results (as "
        "`fairhep report` does) and write Tables 4, 5/7, 8, 9, 10, Figure 4 (table and "
        "curves) and the scaling/latency sections where present as a HEPData submission: "
        "OUT/submission.yaml with one YAML per table (units; qualifiers naming platform, GPU, "
        "stack, image digest, fairhep version and the records' provenance) and OUT.tar.gz to "
        "upload. hepdata-validator checks it before anything is written. Read it back with "
        "`fairhep report --published OUT`.",
    )
    p.add_argument("--results", type=Path, nargs="+", default=[default_results_dir()],
                   metavar="DIR", help=f"results directories (default: ${RESULTS_ENV} or "
                   "./results), read as `fairhep report` reads them")
    p.add_argument("--out", type=Path, required=True,
                   help="submission folder to write (new); OUT.tar.gz is written beside it")
    p.add_argument("--bundle", type=Path, help="a model bundle (`fairhep package`) to attach "
                   "as an additional resource (a .tar.gz of the folder)")
    p.add_argument("--published", type=Path, help="directory with the paper's tables "
                   "(default: as `fairhep report`)")
    p.add_argument("--comment", default="", help="the submission's comment (default: what "
                   "fairhep wrote it from)")
    p.set_defaults(func=_run)


def _run(args: argparse.Namespace) -> int:
    from fairhep import __version__
    from fairhep.report import notices, report_sections
    from fairhep.report.hepdata.write import write_submission
    from fairhep.report.recordset import require_records

    require_records(args.results)
    with tempfile.TemporaryDirectory(prefix="fairhep-publish-figures-") as figs:
        records, sections = report_sections(args.results, Path(figs),
                                            published_dir=args.published)
        made = write_submission(
            sections, args.out, bundle=args.bundle, comment=args.comment,
            provenance=[
                f"Written by fairhep {__version__} from the records in "
                + ", ".join(str(d) for d in records.dirs),
                *notices(records),
            ])
    print(f"publish: {len(made.tables)} tables, accepted by hepdata-validator")
    print(f"publish: {made.folder}")
    print(f"publish: {made.archive} (upload this to HEPData)")
    return 0
