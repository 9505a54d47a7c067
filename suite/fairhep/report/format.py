"""How numbers and verdicts read in a report cell: one spelling for every section."""

from __future__ import annotations

import math
from collections.abc import Iterable
from typing import Any

MISSING = "missing"
NONE = "–"  # an empty cell
VERDICT_RANK = {"inconsistent": 3, "tension": 2, "undetermined": 1, "consistent": 0}


def num(d: Any, *keys: str) -> float | None:
    """A finite number at ``d[k1][k2]...``, else None."""
    for k in keys:
        if not isinstance(d, dict) or k not in d:
            return None
        d = d[k]
    if isinstance(d, bool) or not isinstance(d, (int, float)):
        return None
    return float(d) if math.isfinite(d) else None


def fmt(x: float | None, digits: int = 4, missing: str = NONE) -> str:
    return missing if x is None or not math.isfinite(x) else f"{x:.{digits}f}"


def fmt_p(p: float | None) -> str:
    return NONE if p is None or not math.isfinite(p) else f"{100 * p:.2f}%"


def worst(verdicts: Iterable[str]) -> str:
    vs = list(verdicts)
    return max(vs, key=lambda v: VERDICT_RANK.get(v, 1)) if vs else "undetermined"


def finite(**values: float | None) -> dict[str, float]:
    """The given numbers that are finite: the unrounded values behind a row's cells."""
    return {k: float(v) for k, v in values.items() if v is not None and math.isfinite(v)}


def jets(n: int) -> str:
    """A jet count as a table says it: 5.2M, or 300."""
    return f"{n / 1e6:.3g}M" if n >= 100_000 else str(n)
