"""The ``fairhep`` command line.

Each module in this package adds one or more sub-commands through ``register(subparsers)``
and sets ``func`` on its parsers; modules are discovered, so adding a command touches no
central list. Handlers import heavy libraries (torch, onnxruntime) inside themselves so that
``fairhep --help`` and the light commands start fast.
"""

from __future__ import annotations

import argparse
import importlib
import os
import pkgutil
import signal
import sys
from collections.abc import Sequence
from typing import NoReturn, TypeAlias

from fairhep import __version__
from fairhep.cli._values import OptionValueError
from fairhep.errors import FairhepError

# What ``register`` receives. A string: argparse's class is generic only in its type stubs.
Subparsers: TypeAlias = "argparse._SubParsersAction[argparse.ArgumentParser]"


def add_device_option(p: argparse.ArgumentParser) -> None:
    """``--device auto|cpu|cuda`` (see :func:`fairhep.devices.resolve_device`)."""
    p.add_argument("--device", choices=["auto", "cpu", "cuda"], default="auto")


def add_progress_option(p: argparse.ArgumentParser) -> None:
    """``--no-progress``: sets ``args.progress`` to False."""
    p.add_argument("--no-progress", dest="progress", action="store_false",
                   help="no progress bar")


class _Parser(argparse.ArgumentParser):
    """argparse's parser (its sub-command parsers are of the same class), except that a
    value one of :mod:`fairhep.cli._values`' types refused leaves as an
    :class:`OptionValueError` naming the option, which :func:`main` prints as one line; the
    usage would only hide that line. argparse's own errors (an unknown or a missing option)
    still show the usage."""

    def error(self, message: str) -> NoReturn:
        # Called inside argparse's `except ArgumentError`, whose context is what the type
        # function raised.
        exc = sys.exc_info()[1]
        if isinstance(exc, argparse.ArgumentError) and isinstance(exc.__context__,
                                                                   OptionValueError):
            raise _RefusedValue(self.prog, f"{exc.argument_name}: {exc.__context__}") from None
        super().error(message)


class _RefusedValue(OptionValueError):
    def __init__(self, prog: str, message: str) -> None:
        super().__init__(message)
        self.prog = prog


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="fairhep",
        description="Benchmark suite for the FAIR H->bb interaction network "
        "(Duarte et al. 2023): data, training, portability, containers, Slurm, reports.",
    )
    parser.add_argument("--version", action="version", version=f"fairhep {__version__}")
    parser.add_argument(
        "--traceback", action="store_true",
        help="show the full traceback of an error (also FAIRHEP_TRACEBACK=1)",
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for info in sorted(pkgutil.iter_modules(__path__), key=lambda m: m.name):
        if info.name.startswith("_"):
            continue
        module = importlib.import_module(f"{__name__}.{info.name}")
        module.register(sub)
    return parser


def _chosen_parser(parser: argparse.ArgumentParser,
                   args: argparse.Namespace) -> argparse.ArgumentParser:
    """The deepest sub-command parser ``args`` selected (``fairhep containers build`` ...)."""
    while True:
        sub = next((a for a in parser._actions  # argparse keeps its sub-parsers only here
                    if isinstance(a, argparse._SubParsersAction)), None)
        chosen = None if sub is None else getattr(args, sub.dest, None)
        if sub is None or chosen not in sub.choices:
            return parser
        parser = sub.choices[chosen]


def _parse(parser: argparse.ArgumentParser, argv: Sequence[str] | None) -> argparse.Namespace:
    """Parse like ``parse_args``, but report unknown arguments with the usage of the
    sub-command they were given to, not the top level's."""
    args, extra = parser.parse_known_args(argv)
    if extra:
        _chosen_parser(parser, args).error(f"unrecognized arguments: {' '.join(extra)}")
    return args


def _quiet_broken_pipe() -> int:
    """The reader of our stdout went away (``fairhep sites list | head -1``): stop quietly.
    Python would otherwise print a second traceback when it flushes stdout at exit."""
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, sys.stdout.fileno())
    os.close(devnull)
    return 128 + signal.SIGPIPE  # what a command killed by SIGPIPE reports, like `yes | head`


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    if not (sys.argv[1:] if argv is None else argv):
        parser.print_help()  # `fairhep` alone: the commands, not an error about them
        return 0
    try:
        args = _parse(parser, argv)
    except _RefusedValue as exc:
        print(f"{exc.prog}: error: {exc}", file=sys.stderr)
        return 1
    try:
        code = int(args.func(args) or 0)
        sys.stdout.flush()  # inside the try: a closed pipe surfaces here, not at exit
        return code
    except BrokenPipeError:
        return _quiet_broken_pipe()
    except FairhepError as exc:
        if args.traceback or os.environ.get("FAIRHEP_TRACEBACK"):
            raise
        print(f"fairhep {args.command}: error: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        # A command whose rerun continues says so (set_defaults(on_interrupt=...)).
        hint = getattr(args, "on_interrupt", None)
        print(f"fairhep {args.command}: interrupted" + (f"; {hint}" if hint else ""),
              file=sys.stderr)
        return 130


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
