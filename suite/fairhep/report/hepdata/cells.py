"""How a report cell becomes a HEPData value and back: one spelling for writer and reader.

A cell that is a number (``0.9350``) or a number with a symmetric uncertainty
(``0.9545 ± 0.0005``) is written as a number (with ``errors``), so that HEPData's tools plot and
compare it; any other cell (``509 (128)``, ``consistent``, ``–``) is written as the text it
shows. A header's trailing ``[unit]`` becomes the variable's ``units``.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass

_NUMBER = r"[-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?"
_CELL = re.compile(rf"^\s*({_NUMBER})(?:\s*±\s*({_NUMBER}))?\s*$")
_UNIT = re.compile(r"^(.*\S)\s*\[([^\]]+)\]$")
UNCERTAINTY_LABEL = "spread over runs"


@dataclass(frozen=True)
class Value:
    """One cell as HEPData holds it: a number (with an optional symmetric error) or text."""

    value: float | str
    error: float | None = None

    def text(self) -> str:
        """The cell as a report prints it (numbers in their shortest exact spelling)."""
        if isinstance(self.value, str):
            return self.value
        main = _short(self.value)
        return main if self.error is None else f"{main} ± {_short(self.error)}"


def _short(x: float) -> str:
    return str(int(x)) if x.is_integer() and abs(x) < 1e15 else repr(x)


def parse(cell: str) -> Value:
    """The value a cell holds; text stays text."""
    m = _CELL.match(cell)
    if m is None:
        return Value(cell)
    value = float(m.group(1))
    if not math.isfinite(value):
        return Value(cell)
    return Value(value, float(m.group(2)) if m.group(2) else None)


def split_header(header: str) -> tuple[str, str]:
    """``"Time/batch 1 [ms]"`` -> ``("Time/batch 1", "ms")``; no unit -> ``(header, "")``."""
    m = _UNIT.match(header)
    return (m.group(1), m.group(2)) if m else (header, "")


def join_header(name: str, units: str) -> str:
    return f"{name} [{units}]" if units else name


def same(a: str, b: str) -> bool:
    """Whether two cells hold the same value (numbers compared as numbers: ``0.9350`` and
    ``0.935`` are one value, as a HEPData record keeps it)."""
    va, vb = parse(a), parse(b)
    return va == vb
