"""The kinds of option value the commands take, as argparse ``type=`` functions: every
command that takes a count, a size, a rate or a list of sizes uses the one here, so a value
no command can use (``--lr nan``, ``--files -1``, ``--batch-sizes 128,,256``) is refused the
same way everywhere, while the command line is parsed: before any work, any output or any
progress bar. :class:`OptionValueError` reaches the user as one line naming the option
(see :func:`fairhep.cli.main`)."""

from __future__ import annotations

import argparse
import math
from collections import Counter

from fairhep.errors import SettingError


class OptionValueError(SettingError, argparse.ArgumentTypeError):
    """A value an option's type refused; the message says what the option needs."""


def positive_int(text: str) -> int:
    """A whole number of at least 1 (a count, a size, an epoch number)."""
    try:
        value = int(text)
    except ValueError:
        raise OptionValueError(f"{text!r} is not a whole number; give one of at least 1"
                               ) from None
    if value < 1:
        raise OptionValueError(f"must be at least 1, got {value}")
    return value


def positive_float(text: str) -> float:
    """A finite number above 0 (a rate, a tolerance, a duration): ``nan``, ``inf`` and
    values that overflow a double are refused, which ``float`` alone would accept."""
    try:
        value = float(text)
    except ValueError:
        raise OptionValueError(f"{text!r} is not a number") from None
    if not math.isfinite(value):
        raise OptionValueError(f"must be a finite number above 0, got {text!r}")
    if value <= 0:
        raise OptionValueError(f"must be above 0, got {text!r}")
    return value


def _range(part: str, text: str) -> range:
    try:
        start, stop, step = (int(x) for x in part.split(":"))
    except ValueError:
        raise OptionValueError(f"{part!r} in {text!r} is not START:STOP:STEP with integers "
                               "(e.g. 200:2400:200)") from None
    if step < 1:
        raise OptionValueError(f"the step of {part!r} must be at least 1")
    if start > stop:
        raise OptionValueError(f"{part!r} is empty: its start {start} is above its stop {stop} "
                               f"(START:STOP:STEP counts up, e.g. {stop}:{start}:{step})")
    return range(start, stop + 1, step)


def int_list(text: str) -> tuple[int, ...]:
    """Sizes such as ``100,300,500`` or a range ``100:2400:200`` (stop inclusive), comma-
    joinable, in the order given. Every entry must name sizes of at least 1, and each size
    appears once: an empty entry (``128,,256``) or a repeated size is a typo, not a wish to
    measure something twice."""
    out: list[int] = []
    for part in (p.strip() for p in text.split(",")):
        if not part:
            raise OptionValueError(f"{text!r} has an empty entry; separate sizes by single "
                                   "commas, e.g. 128,256")
        if ":" in part:
            out.extend(_range(part, text))
            continue
        try:
            out.append(int(part))
        except ValueError:
            raise OptionValueError(f"{part!r} is not an integer") from None
    if min(out) < 1:
        raise OptionValueError(f"sizes must be at least 1, {text!r} gives {min(out)}")
    repeated = sorted(n for n, times in Counter(out).items() if times > 1)
    if repeated:
        raise OptionValueError(f"{text!r} names {', '.join(map(str, repeated))} more than "
                               "once; give each size once")
    return tuple(out)
