"""``fairhep report``: one Markdown + HTML report from the result records of one or more sites."""

from __future__ import annotations

import argparse
from pathlib import Path

from fairhep.errors import ConfigError
from fairhep.results.location import RESULTS_ENV, default_results_dir


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser(
        "report",
        help="combine result directories into a Markdown/HTML report against the paper's tables",
        description="Read the result records under each --results directory (or the results "
        "directories below it), compare them with the paper's published tables, and write "
        "report.md, report.html (self-contained), figures/*.png + *.csv and tables/*.csv.",
    )
    p.add_argument(
        "--results",
        type=Path,
        nargs="+",
        default=[default_results_dir()],
        metavar="DIR",
        help=f"results directories (default: ${RESULTS_ENV} or ./results); every results "
        "directory below each one is read too (a campaign's, a site's)",
    )
    p.add_argument("--out", type=Path, help="output directory (default: "
                   "RESULTS/reports/report-<UTC time>, in the first --results directory)")
    p.add_argument(
        "--published",
        type=Path,
        nargs="+",
        metavar="DIR_OR_SUBMISSION",
        help="the paper's published tables (a directory with paper.toml; default: "
        "$FAIRHEP_PUBLISHED, the installed copy, or results/published of the source tree) "
        "and/or HEPData submissions (a folder with submission.yaml, or the .zip/.tar.gz "
        "HEPData serves or `fairhep publish` writes) to set beside the local records, with a "
        "cross-platform summary",
    )
    p.add_argument(
        "--reference",
        metavar="PLATFORM",
        help="platform the cross-platform summary is normalised to (default: paper, the "
        "paper's A100 row)",
    )
    p.add_argument(
        "--p-method",
        choices=["normal", "student", "prediction", "empirical"],
        default="normal",
        help="p-value of the published Table 4 values (see fairhep.stats; default: normal)",
    )
    p.add_argument("--title", help="report title")
    p.set_defaults(func=_run)


def split_published(paths: list[Path]) -> tuple[Path | None, list[Path]]:
    """--published's paths: the paper's tables (a folder with paper.toml; at most one) and the
    HEPData submissions (everything else)."""
    paper = [p for p in paths if (p / "paper.toml").is_file()]
    if len(paper) > 1:
        raise ConfigError(
            f"--published {' '.join(map(str, paper))}: more than one folder of the paper's "
            "tables (paper.toml); give one"
        )
    return (paper[0] if paper else None), [p for p in paths if p not in paper]


def _run(args: argparse.Namespace) -> int:
    from fairhep.report import build_report
    from fairhep.results.location import new_report_dir

    paper, submissions = split_published(args.published or [])
    out = args.out or new_report_dir(args.results[0], "report")
    html = build_report(
        args.results,
        out,
        p_method=args.p_method,
        published_dir=paper,
        title=args.title,
        submissions=submissions,
        reference=args.reference,
    )
    print(f"report: {html.parent / 'report.md'}")
    print(f"report: {html}")
    return 0
