"""The one TOML reader of the suite, and a strict builder of frozen dataclasses from it.

Site, campaign, container-stack and published-value files are all read by :func:`read_toml`.

Site and campaign files are written by hand, so a typo must not be silently ignored: every
key must be a field of the target dataclass and every value must have the field's type.
Errors are one line naming the file and the dotted key (``site_configs/hal.toml: key
'slurm.partiton' is not a known setting; known: ...``).
"""

from __future__ import annotations

import dataclasses
import importlib
import sys
import types
import typing
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any, Protocol, TypeVar, Union, get_args, get_origin

from fairhep.errors import ConfigError

if TYPE_CHECKING:
    from _typeshed import DataclassInstance

T = TypeVar("T", bound="DataclassInstance")

_TYPE_WORDS: dict[type, str] = {
    str: "a string", int: "an integer", float: "a number", bool: "true or false",
}


class _TomlLoad(Protocol):
    """``tomllib.load``, or the same function of ``tomli`` (its backport for Python 3.10)."""

    def __call__(self, fp: IO[bytes], /, *,
                 parse_float: Callable[[str], object]) -> dict[str, Any]: ...


def _toml_module(path: Path) -> tuple[_TomlLoad, type[ValueError]]:
    """``load`` and ``TOMLDecodeError`` of tomllib, else of tomli. Imported by name: the type
    check targets Python 3.10, which has no tomllib, and tomli is not installed on 3.11."""
    name = "tomllib" if sys.version_info >= (3, 11) else "tomli"
    try:
        module = importlib.import_module(name)
    except ModuleNotFoundError:  # pragma: no cover - Python 3.10 (some container images)
        raise ConfigError(f"{path}: reading it needs Python >= 3.11 or the tomli "
                          "package (pip install tomli)") from None
    load: _TomlLoad = module.load
    decode_error: type[ValueError] = module.TOMLDecodeError
    return load, decode_error


def read_toml(path: Path, parse_float: Callable[[str], object] = float) -> dict[str, Any]:
    """The parsed file; ``parse_float=decimal.Decimal`` keeps printed digits exactly."""
    load, decode_error = _toml_module(path)
    try:
        with open(path, "rb") as fh:
            return load(fh, parse_float=parse_float)
    except FileNotFoundError:
        raise ConfigError(f"{path}: file not found") from None
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read ({exc.strerror or exc})") from None
    except decode_error as exc:
        raise ConfigError(f"{path}: not valid TOML ({exc}); fix the syntax") from None


def build(cls: type[T], data: Mapping[str, object], source: Path, prefix: str = "") -> T:
    """Instantiate dataclass ``cls`` from ``data``; unknown keys and wrong types are errors."""
    hints = typing.get_type_hints(cls)
    known = {f.name: f for f in dataclasses.fields(cls) if f.init}
    kwargs: dict[str, object] = {}
    for key, value in data.items():
        where = f"{prefix}{key}"
        if key not in known:
            raise ConfigError(
                f"{source}: key '{where}' is not a known setting; known: "
                f"{', '.join(sorted(known))}"
            )
        kwargs[key] = _convert(hints[key], value, source, where)
    try:
        return cls(**kwargs)
    except (TypeError, ValueError) as exc:
        raise ConfigError(f"{source}: {prefix.rstrip('.') or 'top level'}: {exc}") from None


# A field's type hint (``int``, ``tuple[str, ...]``, ``Stack | None``, a dataclass): typed as
# object, because Python has no type for "a type expression".
_Hint = object


def _describe(tp: _Hint) -> str:
    if isinstance(tp, type) and tp in _TYPE_WORDS:
        return _TYPE_WORDS[tp]
    origin = get_origin(tp)
    if origin in (tuple, list):
        return f"a list of {_describe(get_args(tp)[0]).removeprefix('a ').removeprefix('an ')}s"
    if origin is dict:
        return "a table"
    if dataclasses.is_dataclass(tp):
        return "a table"
    return str(tp)


def _convert(tp: _Hint, value: object, source: Path, where: str) -> object:
    origin = get_origin(tp)
    if origin in (Union, types.UnionType):
        args = [a for a in get_args(tp) if a is not type(None)]
        # TOML has no null: an optional setting is simply left out.
        return _convert(args[0], value, source, where)
    if isinstance(tp, type) and dataclasses.is_dataclass(tp):
        if not isinstance(value, dict):
            raise _type_error(tp, value, source, where)
        return build(tp, value, source, f"{where}.")
    if origin in (tuple, list):
        if not isinstance(value, list):
            raise _type_error(tp, value, source, where)
        item = get_args(tp)[0]
        return tuple(_convert(item, v, source, f"{where}[{i}]") for i, v in enumerate(value))
    if origin is dict:
        if not isinstance(value, dict):
            raise _type_error(tp, value, source, where)
        vtype = get_args(tp)[1]
        return {str(k): _convert(vtype, v, source, f"{where}.{k}") for k, v in value.items()}
    if tp is float:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise _type_error(tp, value, source, where)
        return float(value)
    if tp is int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise _type_error(tp, value, source, where)
        return value
    if tp is str or tp is bool:
        if not isinstance(value, tp):
            raise _type_error(tp, value, source, where)
        return value
    if tp is typing.Any:
        return value
    raise TypeError(f"configfile: unsupported field type {tp!r} for {where}")  # programming error


def _type_error(tp: _Hint, value: object, source: Path, where: str) -> ConfigError:
    shown = repr(value)
    if len(shown) > 40:
        shown = shown[:37] + "..."
    return ConfigError(
        f"{source}: key '{where}' must be {_describe(tp)}, got {type(value).__name__} {shown}"
    )
