"""The upload journal: which blobs of a study upload are finished, and the
one being sent, so that an interrupted upload resumes.

An append-only file of JSON lines in the user's cache folder, keyed by
record and study, so that recording a blob costs the same however many
came before it.

Each line is flushed to the operating system before the upload goes on, so
it outlives the command however it ends (an interruption, a lost
connection, a kill). It is not forced to the disk: a machine that loses
power may lose the last lines, and the blobs they named are then sent again,
which costs time and nothing else. Forcing every line cost more than the
upload of the small blobs it records.
"""

from __future__ import annotations

import json
import os
import re
from pathlib import Path
from typing import Any

from healthvault import codec, safexml, wire
from healthvault.bindings.thing import BlobPayloadItem

__all__ = ["Journal", "cache_dir", "safe_name"]


def cache_dir() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "hvgen" / "uploads"


class Journal:
    """Finished and in-progress blobs of one study upload."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.done: dict[str, str] = {}
        self.pending: dict[str, Any] | None = None
        try:
            lines = path.read_text().splitlines()
        except OSError:
            lines = []
        for line in lines:
            try:
                entry = json.loads(line)
            except ValueError:
                continue  # a line cut short by a crash
            if "done" in entry:
                self.done[entry["done"]] = entry["item"]
                self.pending = None
            elif "pending" in entry:
                self.pending = entry["pending"]

    def _append(self, entry: dict[str, Any]) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with open(self.path, "a", encoding="utf-8") as f:
            f.write(json.dumps(entry) + "\n")

    def start(self, pending: dict[str, Any]) -> None:
        self.pending = pending
        self._append({"pending": pending})

    def finished(self, name: str, item: BlobPayloadItem) -> None:
        text = wire.to_string(item, "blob")
        self.done[name] = text
        self.pending = None
        self._append({"done": name, "item": text})

    def item(self, name: str) -> BlobPayloadItem | None:
        text = self.done.get(name)
        if text is None:
            return None
        return codec.bind(safexml.parse(text), BlobPayloadItem, what="journal")

    def clear(self) -> None:
        self.path.unlink(missing_ok=True)


def safe_name(name: str) -> str:
    """``name`` usable as a file name."""
    return re.sub(r"[^A-Za-z0-9._-]", "_", name)[:150]
