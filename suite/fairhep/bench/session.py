"""One run of a portability mode, and resuming it after a kill.

Each backend's record is written as soon as that backend finishes (or is skipped), and names
its *session*: the mode's settings (``key``: run, data, grid, repeats, ..., and the campaign
task id when there is one) and the run's ``id``. A rerun of the same command looks for a
session with the same key whose records do not yet cover every backend it plans (the run was
killed), and continues it: backends with a record are not run again, so neither a measurement
nor a skip is ever written twice. A session that is complete is not continued: the same
command run again measures afresh (a new session).
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
import socket
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from fairhep.bench.options import BenchOptions
from fairhep.results import RecordError, ResultRecord, iter_record_files, read_record

CONFIG_KEY = "session"  # config.session = {"key": ..., "id": ...} in every record of a session


@dataclass(frozen=True)
class Session:
    """The session a mode writes into; ``done``: label -> (path, record) already written."""

    key: str
    id: str
    done: Mapping[str, tuple[Path, ResultRecord]] = field(default_factory=dict)

    @property
    def resumed(self) -> bool:
        return bool(self.done)

    def tag(self) -> dict[str, str]:
        return {"key": self.key, "id": self.id}


def settings_of(opts: BenchOptions, data_dir: Path, run_dir: Path, **mode: Any
                ) -> dict[str, Any]:
    """What makes two runs of a mode the same run: the options every mode shares and the
    mode's own (``mode``). The engine's settings count only when given, so that the key of
    a run without them is what it was before they existed (its sessions resume)."""
    engine = {} if opts.engine_settings is None else {
        "engine_settings": dataclasses.asdict(opts.engine_settings)}
    return {"run": str(run_dir), "data": str(data_dir), "max_jets": opts.max_jets,
            "backends": list(opts.backends), "device": opts.device,
            "host_memory": opts.host_memory, **engine, **mode}


def session_key(kind: str, settings: Mapping[str, Any]) -> str:
    """A hash of what makes two runs the same: the mode, its settings and the task id."""
    text = json.dumps({"kind": kind, "task": os.environ.get("FAIRHEP_TASK_ID"), **settings},
                      sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def new_session_id() -> str:
    """Starts with the UTC time, so that the newest session sorts last."""
    stamp = datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%SZ")
    return f"{stamp}_{socket.gethostname()}_{uuid.uuid4().hex[:6]}"


def open_session(results: Path, kind: str, settings: Mapping[str, Any],
                 labels: Sequence[str]) -> Session:
    """The newest unfinished session of these settings (its records so far), else a new one."""
    key = session_key(kind, settings)
    sessions: dict[str, dict[str, tuple[Path, ResultRecord]]] = {}
    for path in iter_record_files(results, kind):
        try:
            record = read_record(path)
        except RecordError:  # a report lists unreadable records; here they count as not done
            continue
        tag = record.config.get(CONFIG_KEY)
        if isinstance(tag, dict) and tag.get("key") == key and tag.get("id"):
            label = str(record.config.get("label"))
            sessions.setdefault(str(tag["id"]), {}).setdefault(label, (path, record))
    unfinished = sorted(sid for sid, done in sessions.items() if not set(labels) <= set(done))
    if unfinished:
        return Session(key, unfinished[-1], sessions[unfinished[-1]])
    return Session(key, new_session_id())
