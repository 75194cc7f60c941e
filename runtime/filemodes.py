"""Files only their owner may read: stores, keys, blob bytes, spools, journals.

The local platform (``hvgen serve``), the DICOM listener and ``hvgen
migrate`` keep people's data and secrets in files. Every one of them is
made readable by its owner only, whatever the umask of the shell that
started the process: folders ``0700``, files ``0600``.

* :func:`private_umask` makes everything the process creates from then on
  owner-only (call it first thing in a command that writes such files);
* :func:`private_dir`, :func:`open_private` and :func:`write_private` create
  (or tighten) one folder or file, whatever the umask;
* :func:`tighten` takes group and other permissions away from a folder
  that exists already and everything in it (a store made by an older
  version, or under a looser umask), leaving symbolic links and what
  belongs to another user alone.
"""

from __future__ import annotations

import os
import stat
from collections.abc import Iterable
from pathlib import Path

#: Modes of private folders and files.
PRIVATE_DIR, PRIVATE_FILE = 0o700, 0o600
#: The umask that gives those modes.
PRIVATE_UMASK = 0o077
_LOOSE = stat.S_IRWXG | stat.S_IRWXO


def private_umask() -> int:
    """Make every folder and file this process creates owner-only; returns the umask before."""
    return os.umask(PRIVATE_UMASK)


def _tighten_one(path: Path, st: os.stat_result) -> bool:
    if st.st_mode & _LOOSE and st.st_uid == os.geteuid():
        os.chmod(path, stat.S_IMODE(st.st_mode) & ~_LOOSE, follow_symlinks=False)
        return True
    return False


def private_dir(path: Path | str) -> Path:
    """``path`` as a folder only its owner can enter (created with its parents if missing)."""
    folder = Path(path)
    folder.mkdir(parents=True, exist_ok=True, mode=PRIVATE_DIR)
    _tighten_one(folder, folder.stat())
    return folder


def open_private(path: Path | str, flags: int) -> int:
    """``os.open`` of a file only its owner can read (created so, or tightened)."""
    fd = os.open(path, flags | getattr(os, "O_CLOEXEC", 0), PRIVATE_FILE)
    try:
        st = os.fstat(fd)
        if st.st_mode & _LOOSE and st.st_uid == os.geteuid() and hasattr(os, "fchmod"):
            os.fchmod(fd, stat.S_IMODE(st.st_mode) & ~_LOOSE)
    except BaseException:
        os.close(fd)
        raise
    return fd


def write_private(path: Path | str, data: bytes) -> None:
    """Write ``data`` to a file only its owner can read (its folder made if missing)."""
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True, mode=PRIVATE_DIR)
    with os.fdopen(open_private(target, os.O_WRONLY | os.O_CREAT | os.O_TRUNC), "wb") as f:
        f.write(data)


def tighten(folder: Path | str, skip: Iterable[Path | str] = ()) -> int:
    """Take group and other permissions from ``folder`` and everything in it
    (the owner's own files and folders; symbolic links are not followed),
    except what is inside the folders of ``skip`` (tightened themselves,
    which keeps others out); returns how many were changed. A missing folder
    changes nothing."""
    root = Path(folder)
    skipped = {Path(p) for p in skip}
    try:
        changed = int(_tighten_one(root, root.stat()))
    except FileNotFoundError:
        return 0
    pending = [root]
    while pending:
        current = pending.pop()
        try:
            entries = list(os.scandir(current))
        except (FileNotFoundError, NotADirectoryError, PermissionError):
            continue
        for entry in entries:
            try:
                st = entry.stat(follow_symlinks=False)
            except FileNotFoundError:
                continue
            if stat.S_ISLNK(st.st_mode):
                continue
            changed += _tighten_one(Path(entry.path), st)
            if stat.S_ISDIR(st.st_mode) and Path(entry.path) not in skipped:
                pending.append(Path(entry.path))
    return changed
