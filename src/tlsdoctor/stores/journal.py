"""What ``trust add`` changed, so that ``trust remove`` undoes exactly that.

One JSON object per line in ``<data dir>/trust-journal.jsonl``: the time, the action, the
store, the label used and the CA's fingerprint. Append-only: an undo is a new line.
"""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import dataclass
from pathlib import Path

from tlsdoctor.models import rfc3339
from tlsdoctor.stores.system import tlsdoctor_data_dir


@dataclass(frozen=True)
class Entry:
    time: str
    action: str  # "add" or "remove"
    store: str
    label: str
    sha256: str
    subject: str


class Journal:
    """The journal file; ``Journal()`` is the user's."""

    def __init__(self, path: Path | None = None) -> None:
        self.path = path or tlsdoctor_data_dir() / "trust-journal.jsonl"

    def record(self, action: str, store: str, label: str, sha256: str, subject: str) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        entry = Entry(
            rfc3339(dt.datetime.now(dt.timezone.utc)), action, store, label, sha256, subject
        )
        with open(self.path, "a", encoding="utf-8") as handle:
            handle.write(json.dumps(entry.__dict__) + "\n")

    def entries(self) -> list[Entry]:
        try:
            lines = self.path.read_text(encoding="utf-8").splitlines()
        except FileNotFoundError:
            return []
        return [Entry(**json.loads(line)) for line in lines if line.strip()]

    def added(self, sha256: str) -> dict[str, str]:
        """Store id -> label, for the stores where this CA is (still) added by tlsdoctor."""
        current: dict[str, str] = {}
        for entry in self.entries():
            if entry.sha256 != sha256:
                continue
            if entry.action == "add":
                current[entry.store] = entry.label
            else:
                current.pop(entry.store, None)
        return current
