"""Toy campaign files for the runner and task tests: the `smoke` campaign made smaller still
(a tiny IN on a few synthetic jets, CPU), each test changing only what it is about."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

# Every section a toy campaign needs; None drops a key, a section {"enabled": False} a kind.
TOY: dict[str, dict[str, Any]] = {
    "data": {"source": "synthetic", "files": 2, "jets_per_file": 40, "test_files": 1,
             "seed": 11},
    "train": {"seeds": [0], "splits": ["kfold"], "fold_files": 1, "epochs": 1,
              "batch_size": 20, "lr": 3e-3, "hidden": 4, "de": 2, "do": 2, "device": "cpu"},
    "evaluate": {"device": "cpu"},
    "export": {"enabled": False},
    "frameworks": {"enabled": False},
    "sweep": {"enabled": False},
}


def toml_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return json.dumps(value)  # strings, numbers and lists of them are the same in TOML


def write_campaign(path: Path, description: str, **sections: dict[str, Any]) -> Path:
    """``path`` with the toy campaign, each section updated by ``sections``."""
    lines = [f"description = {toml_value(description)}"]
    for name in dict.fromkeys([*TOY, *sections]):
        table = {**TOY.get(name, {}), **sections.get(name, {})}
        lines.append(f"[{name}]")
        lines += [f"{k} = {toml_value(v)}" for k, v in table.items() if v is not None]
    path.write_text("\n".join(lines) + "\n")
    return path
