"""``fairhep sites list | show NAME | check [NAME]``: the site configurations."""

from __future__ import annotations

import argparse
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from fairhep.sites import Site


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser(
        "sites", help="list, show and check site configurations (site_configs/*.toml)",
        description="Site files are searched in --site-dir, $FAIRHEP_SITE_CONFIGS "
        "(':'-separated), ./site_configs and the source tree's site_configs; a path to a "
        ".toml file works wherever a site name does.",
    )
    p.add_argument("--site-dir", type=Path, help="look here first for site files")
    ssub = p.add_subparsers(dest="sites_command", metavar="ACTION", required=True)
    ssub.add_parser("list", help="known sites and where their files are").set_defaults(func=_list)
    show = ssub.add_parser("show", help="a site's settings, defaults filled in")
    show.add_argument("name")
    show.set_defaults(func=_show)
    check = ssub.add_parser(
        "check", help="validate sites: fails, as `submit` would, on CHANGE-ME values; warns "
        "about what the scheduler and container runtime find")
    check.add_argument("name", nargs="?", help="one site (default: all)")
    check.set_defaults(func=_check)


def _list(args: argparse.Namespace) -> int:
    from fairhep.errors import FairhepError
    from fairhep.sites import available_sites, load_site_file

    for name, path in available_sites(args.site_dir).items():
        try:
            site = load_site_file(path)
            summary = (f"{site.scheduler:<6} {site.cpu_arch:<8} {(site.gpu_model or '-'):<6} "
                       f"{site.container.runtime:<9} {site.description}")
        except FairhepError as exc:
            summary = f"INVALID: {exc}"
        print(f"{name:<10} {summary}  [{path}]")
    return 0


def _show(args: argparse.Namespace) -> int:
    from dataclasses import asdict

    from fairhep.sites import load_site

    site = load_site(args.name, args.site_dir)
    print(f"# {site.source}")
    _print_table(asdict(site))
    return 0


def _print_table(data: dict[str, Any], prefix: str = "") -> None:
    import json

    nested = {k: v for k, v in data.items() if isinstance(v, dict)}
    for key, value in data.items():
        if key in nested or key == "source":
            continue
        print(f"{key} = {json.dumps(list(value) if isinstance(value, tuple) else value)}")
    for key, value in nested.items():
        print(f"\n[{prefix}{key}]")
        _print_table(value, f"{prefix}{key}.")


def _check(args: argparse.Namespace) -> int:
    from functools import partial

    from fairhep.errors import FairhepError
    from fairhep.runners import check_site
    from fairhep.sites import (
        available_sites,
        load_site,
        load_site_file,
        placeholder_warnings,
        submit_refusal,
    )

    targets: list[tuple[str, Callable[[], Site]]]
    if args.name:
        targets = [(args.name, partial(load_site, args.name, args.site_dir))]
    else:
        targets = [(n, partial(load_site_file, p))
                   for n, p in available_sites(args.site_dir).items()]
    errors = 0
    for name, load in targets:
        try:
            site = load()
        except FairhepError as exc:
            print(f"{name}: ERROR {exc}")
            errors += 1
            continue
        # What `submit` refuses fails here, in its words; the rest are warnings.
        refusal = submit_refusal(site)
        placeholders = set(placeholder_warnings(site)) if refusal else set()
        warnings = [w for w in check_site(site) if w not in placeholders]
        if refusal:
            errors += 1
            print(f"{name}: NOT READY: {refusal}")
        else:
            print(f"{name}: ok ({site.source})" if not warnings else
                  f"{name}: ok with {len(warnings)} warning(s) ({site.source})")
        for w in warnings:
            print(f"  warning: {w}")
    return 1 if errors else 0
