"""The one TOML reader and the strict dataclass builder, on their own (site and campaign
files test them through their own settings)."""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path

import pytest

from fairhep.configfile import build, read_toml
from fairhep.errors import ConfigError


@dataclass(frozen=True)
class Inner:
    name: str
    weight: float = 1.0


@dataclass(frozen=True)
class Outer:
    count: int
    tags: tuple[str, ...] = ()
    inner: Inner | None = None
    limits: dict[str, int] = field(default_factory=dict)
    flag: bool = False


def test_read_toml_keeps_printed_digits_with_decimal(tmp_path: Path) -> None:
    path = tmp_path / "values.toml"
    path.write_text("auc = 0.9730\n[table]\nn = 3\n")
    assert read_toml(path) == {"auc": 0.973, "table": {"n": 3}}
    assert str(read_toml(path, parse_float=Decimal)["auc"]) == "0.9730"


def test_read_toml_errors_are_one_line_naming_the_file(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"absent\.toml: file not found"):
        read_toml(tmp_path / "absent.toml")
    bad = tmp_path / "bad.toml"
    bad.write_text("key = [1, 2\n")
    with pytest.raises(ConfigError) as err:
        read_toml(bad)
    assert str(err.value).startswith(f"{bad}: not valid TOML (")
    assert "\n" not in str(err.value)


def test_build_converts_nested_tables_lists_and_optionals(tmp_path: Path) -> None:
    data = {"count": 2, "tags": ["a", "b"], "inner": {"name": "x", "weight": 3},
            "limits": {"train": 5}, "flag": True}
    built = build(Outer, data, tmp_path / "f.toml")
    assert built == Outer(2, ("a", "b"), Inner("x", 3.0), {"train": 5}, True)
    assert isinstance(built.inner, Inner) and isinstance(built.inner.weight, float)
    assert build(Outer, {"count": 1}, tmp_path / "f.toml") == Outer(1)


@pytest.mark.parametrize(("data", "message"), [
    ({"count": 1, "cuont": 2}, "key 'cuont' is not a known setting; known: count, flag,"),
    ({"count": True}, "key 'count' must be an integer, got bool True"),
    ({"count": 1, "tags": "a"}, "key 'tags' must be a list of strings, got str 'a'"),
    ({"count": 1, "inner": {"name": 3}}, "key 'inner.name' must be a string, got int 3"),
    ({"count": 1, "inner": {"nmae": "x"}}, "key 'inner.nmae' is not a known setting"),
    ({"count": 1, "limits": {"train": "5"}}, "key 'limits.train' must be an integer"),
    ({"count": 1, "flag": 1}, "key 'flag' must be true or false, got int 1"),
    ({}, "top level: "),  # a required setting left out
])
def test_build_errors_name_the_file_and_the_dotted_key(
        tmp_path: Path, data: dict[str, object], message: str) -> None:
    source = tmp_path / "site.toml"
    with pytest.raises(ConfigError) as err:
        build(Outer, data, source)
    assert str(err.value).startswith(f"{source}: ")
    assert message in str(err.value)
