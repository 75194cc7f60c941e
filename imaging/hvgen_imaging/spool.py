"""The DICOM listener's spool: what was received, what waits, what was set aside.

``incoming/ASSOC/`` holds what an open association brought, ``ready/ASSOC/``
what waits to be stored (with ``.hvgen-calling``, the calling AE title, and
``.hvgen-attempts.json``, the attempts made and the last error), and
``rejected/ID/`` what cannot be stored, set aside once with its reason
(``reason.json``). An instance's file is named by a digest of its SOP
Instance UID, so that two UIDs never share a file name (``1.2+3`` and
``1.2_3`` are two files). Instances refused at once (the sender was told so
by its C-STORE status) leave only their reason, not their bytes: the last
:data:`MAX_REFUSALS` of them are kept.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import os
import shutil
import uuid
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from healthvault import filemodes

#: Refusal records kept (their bytes are not kept: the sender was told and still has them).
MAX_REFUSALS = 1000
CALLING = ".hvgen-calling"
ATTEMPTS = ".hvgen-attempts.json"
REASON = "reason.json"


def file_name(sop_instance_uid: str) -> str:
    """The spool file of an instance: a digest of its UID (never two UIDs in one file)."""
    return hashlib.sha256(sop_instance_uid.encode("utf-8", "surrogateescape")).hexdigest()[:40] + ".dcm"


def _now() -> str:
    return dt.datetime.now(dt.UTC).isoformat(timespec="seconds")


def fsync_folder(folder: Path) -> None:
    """Make a rename or a new file in ``folder`` durable."""
    filemodes.flush_folder(folder)


@dataclass
class Rejection:
    """Something the listener did not store, and why."""

    id: str
    when: str
    reason: str
    kind: str  # "refused": the sender got a failure status; "set aside": acknowledged, then not storable
    calling_ae_title: str = ""
    address: str = ""
    status: str = ""  # the C-STORE status the sender got (refused ones)
    sop_instance_uids: list[str] = field(default_factory=list)
    study_uid: str = ""
    files: list[str] = field(default_factory=list)  # kept files (set-aside ones)

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class Attempts:
    """The tries to store a ready folder."""

    count: int = 0
    first: float = 0.0
    last_error: str = ""


class Spool:
    """The folders of a spool (created on first use)."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.incoming = root / "incoming"
        self.ready = root / "ready"
        self.rejected = root / "rejected"

    def create(self) -> None:
        """Make the spool's folders that are missing, each one's name flushed in its parent
        (what is acknowledged into them relies on their being on disk)."""
        for folder in (self.incoming, self.ready, self.rejected):
            filemodes.make_folder(folder)

    def recover(self) -> list[Path]:
        """Create the folders, and move what a stop cut off (associations still open:
        what they brought was acknowledged) to ``ready``; the folders moved."""
        self.create()
        moved = []
        for left in sorted(self.incoming.iterdir()):
            for partial in left.glob("*.part"):
                partial.unlink(missing_ok=True)
            left.rename(self.ready / left.name)
            moved.append(self.ready / left.name)
        return moved

    # -- attempts ----------------------------------------------------------------------------------

    def attempts(self, folder: Path) -> Attempts:
        try:
            data = json.loads((folder / ATTEMPTS).read_text())
            return Attempts(int(data["count"]), float(data["first"]), str(data.get("last_error", "")))
        except (OSError, ValueError, KeyError, TypeError):
            return Attempts()

    def record_attempt(self, folder: Path, attempts: Attempts) -> None:
        (folder / ATTEMPTS).write_text(json.dumps(asdict(attempts)))

    # -- what is not stored ------------------------------------------------------------------------

    def _new_entry(self) -> Path:
        stamp = dt.datetime.now(dt.UTC).strftime("%Y%m%dT%H%M%S")
        entry = self.rejected / f"{stamp}-{uuid.uuid4().hex[:8]}"
        entry.mkdir(parents=True)
        return entry

    def _write(self, entry: Path, rejection: Rejection, *, durable: bool = True) -> Rejection:
        """The entry's reason written, and (``durable``) the entry with the files moved
        into it on disk; a refusal's record is a courtesy (its sender has the files)."""
        partial = entry / (REASON + ".part")
        with open(partial, "w", encoding="utf-8") as f:
            f.write(json.dumps(rejection.as_dict(), indent=1))
            if durable:
                f.flush()
                os.fsync(f.fileno())
        partial.rename(entry / REASON)
        if durable:
            fsync_folder(entry)
            fsync_folder(self.rejected)
        return rejection

    def refuse(
        self, reason: str, status: int, *, calling: str = "", address: str = "", sop: str = "", study: str = ""
    ) -> Rejection:
        """Record an instance refused at once (its bytes are not kept)."""
        entry = self._new_entry()
        self._trim()
        return self._write(
            entry,
            Rejection(
                entry.name,
                _now(),
                reason,
                "refused",
                calling,
                address,
                f"0x{status:04X}",
                [sop] if sop else [],
                study,
            ),
            durable=False,
        )

    def set_aside(
        self, files: list[Path], reason: str, *, calling: str = "", sops: list[str], study: str = ""
    ) -> Rejection:
        """Move acknowledged files that cannot be stored to a rejected entry, with their reason."""
        entry = self._new_entry()
        kept = []
        for path in files:
            target = entry / path.name
            path.rename(target)
            kept.append(str(target))
        return self._write(
            entry, Rejection(entry.name, _now(), reason, "set aside", calling, "", "", sops, study, kept)
        )

    def _trim(self) -> None:
        refused = [e for e in self.entries() if e.kind == "refused"]
        for old in refused[: max(0, len(refused) - MAX_REFUSALS + 1)]:
            shutil.rmtree(self.rejected / old.id, ignore_errors=True)

    def entries(self) -> list[Rejection]:
        """Every rejection, oldest first."""
        out = []
        for entry in sorted(self.rejected.iterdir()) if self.rejected.is_dir() else []:
            try:
                data = json.loads((entry / REASON).read_text())
                out.append(Rejection(**data))
            except (OSError, ValueError, TypeError):
                continue
        return out

    def retry(self, rejection_id: str) -> Path:
        """Put the files of a set-aside entry back in ``ready`` (to be stored again); returns the folder."""
        entry = self.rejected / rejection_id
        found = next((r for r in self.entries() if r.id == rejection_id), None)
        if found is None or "/" in rejection_id or rejection_id.startswith("."):
            raise KeyError(rejection_id)
        if found.kind != "set aside" or not found.files:
            raise ValueError(f"{rejection_id} was refused at once: its sender has the files, and must send them again")
        folder = self.ready / f"retry-{rejection_id}"
        folder.mkdir(parents=True, exist_ok=True)
        for name in found.files:
            source = entry / Path(name).name
            if source.exists():
                source.rename(folder / source.name)
        (folder / CALLING).write_text(found.calling_ae_title)
        fsync_folder(folder)  # (the files' new names, then the folder's own, before the entry goes)
        fsync_folder(self.ready)
        shutil.rmtree(entry, ignore_errors=True)
        return folder

    def remove(self, rejection_id: str) -> None:
        """Forget a rejection (and delete the files it kept)."""
        if not any(r.id == rejection_id for r in self.entries()) or "/" in rejection_id:
            raise KeyError(rejection_id)
        shutil.rmtree(self.rejected / rejection_id)

    def waiting(self) -> list[tuple[Path, Attempts, int]]:
        """Ready folders with their attempts and instance count."""
        out = []
        for folder in sorted(self.ready.iterdir()) if self.ready.is_dir() else []:
            out.append((folder, self.attempts(folder), sum(1 for p in folder.glob("*.dcm"))))
        return out
