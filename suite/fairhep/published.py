"""The paper's published tables, read from the data files in ``results/published/``.

Every float is parsed as :class:`decimal.Decimal`, so a value keeps the digits the paper
printed (``str(load("table5")["rows"][1]["val_loss"]) == "0.11757"``) and a comparison never
inherits binary rounding. Convert with ``float()`` where arithmetic is wanted.

Where the files are (first that exists): the ``directory`` argument, ``$FAIRHEP_PUBLISHED``,
``fairhep/_published`` inside an installed wheel (the build copies ``results/published`` there),
and ``results/published`` next to the source tree. ``results/published`` is the one place the
values are edited.
"""

from __future__ import annotations

import os
from decimal import Decimal
from functools import lru_cache
from pathlib import Path
from typing import Any

from fairhep.configfile import read_toml
from fairhep.errors import ConfigError

PUBLISHED_ENV = "FAIRHEP_PUBLISHED"
TABLES = ("table4", "table5", "table7", "table8", "table9", "table10", "figure4")

_PACKAGE_COPY = Path(__file__).resolve().parent / "_published"
# suite/fairhep/published.py -> repository root
_SOURCE_TREE = Path(__file__).resolve().parents[2] / "results" / "published"


def published_dir(directory: Path | str | None = None) -> Path:
    """The directory holding ``paper.toml`` and the table files."""
    candidates: list[Path] = []
    if directory is not None:
        candidates.append(Path(directory))
    elif os.environ.get(PUBLISHED_ENV):
        candidates.append(Path(os.environ[PUBLISHED_ENV]))
    else:
        candidates += [_PACKAGE_COPY, _SOURCE_TREE]
    for cand in candidates:
        if (cand / "paper.toml").is_file():
            return cand
    tried = ", ".join(str(c) for c in candidates)
    raise ConfigError(
        f"published values not found (looked in {tried}): set {PUBLISHED_ENV} to the "
        "results/published directory of a fairhep checkout"
    )


@lru_cache(maxsize=32)
def _load_file(path: Path) -> dict[str, Any]:
    if not path.is_file():
        raise ConfigError(
            f"{path}: cannot read published values (no such file); point --published or "
            f"{PUBLISHED_ENV} at a complete results/published directory"
        )
    return read_toml(path, parse_float=Decimal)


def load(name: str, directory: Path | str | None = None) -> dict[str, Any]:
    """One published table (``"table4"`` … ``"figure4"``) or ``"paper"``, as parsed TOML."""
    if name != "paper" and name not in TABLES:
        raise ConfigError(f"unknown published table {name!r}; known: paper, {', '.join(TABLES)}")
    return _load_file(published_dir(directory) / f"{name}.toml")


def citation(directory: Path | str | None = None) -> str:
    """One line naming the paper, with arXiv id and DOI."""
    p = load("paper", directory)["paper"]
    first = p["authors"].split(",")[0]
    return (
        f'{first} et al., "{p["title"]}", {p["journal"]} {p["volume"]} ({p["year"]}) '
        f"{p['article']}, doi:{p['doi']}, arXiv:{p['arxiv']}"
    )


def platform_key(label: str | None) -> str | None:
    """The published platform (``hal``/``dgx``/``thetagpu``) a site label names, if any."""
    if not label:
        return None
    low = label.lower().replace("-", "").replace("_", "")
    for key in load("paper")["platforms"]:
        if low == key or low.startswith(key):
            return str(key)
    return None


def model_metrics(directory: Path | str | None = None) -> list[dict[str, Any]]:
    """The paper's figures for its published model, with their source: Table 8's PyTorch row
    on all test jets (accuracy, AUC). What a card of that model quotes."""
    t8 = load("table8", directory)
    row = next(r for r in t8["rows"] if r["framework"] == "torch" and r["dataset"] == "all")
    source = (f"{citation(directory)}, Table 8 (PyTorch, all {int(row['n_jets']):,} test jets, "
              f"{t8['table']['platform']})")
    return [{"name": name, "value": float(row[name]), "n_jets": int(row["n_jets"]),
             "source": source} for name in ("accuracy", "auc")]
