"""Files only their owner may read: stores, keys, blob bytes, spools, journals.

The local platform (``hvgen serve``), the DICOM listener and ``hvgen
migrate`` keep people's data and secrets in files. Every one of them is
made readable by its owner only, whatever the umask of the shell that
started the process: folders ``0700``, files ``0600``.

* :func:`private_umask` makes everything the process creates from then on
  owner-only (call it first thing in a command that writes such files);
* :func:`private_dir`, :func:`open_private` and :func:`write_private` create
  (or tighten) one folder or file, whatever the umask; a folder they make
  and a file :func:`write_private` writes are on disk when they return
  (:func:`flush_file` makes a file's bytes durable, :func:`flush_folder` a
  folder's names);
* :func:`tighten` takes group and other permissions away from a folder
  that exists already and everything in it (a store made by an older
  version, or under a looser umask), leaving symbolic links and what
  belongs to another user alone.
"""

from __future__ import annotations

import errno
import os
import stat
import uuid
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


#: What a file system says when it cannot flush a folder (SMB/CIFS and some FUSE
#: file systems): their names are as durable as that file system makes them.
_NO_FOLDER_FLUSH = {errno.EINVAL, errno.ENOTSUP, errno.EOPNOTSUPP, errno.EBADF}


def flush_folder(path: Path | str) -> None:
    """Make the names in a folder durable (files made, renamed or removed in it:
    after a crash they are as they were when this returned). A file system that
    cannot flush a folder, or a folder that cannot be opened for reading, is left
    to itself; an error of the disk is raised."""
    if os.name == "nt":  # (no folder flush there; NTFS journals names)
        return
    try:
        fd = os.open(path, os.O_RDONLY)
    except PermissionError:  # (a folder one may write to but not read)
        return
    try:
        os.fsync(fd)
    except OSError as exc:
        if exc.errno not in _NO_FOLDER_FLUSH:
            raise
    finally:
        os.close(fd)


def flush_file(path: Path | str) -> None:
    """Make a file's bytes durable."""
    with open(path, "r+b" if os.name == "nt" else "rb") as f:  # (Windows flushes only what it may write)
        os.fsync(f.fileno())


def flush_written(files: Iterable[Path | str], root: Path | str) -> None:
    """Make files written under ``root`` durable: their bytes, their names and the names
    of the folders between them and ``root`` (``root``'s own name too)."""
    top = Path(root)
    folders: set[Path] = {top, top.parent}
    for name in files:
        path = Path(name)
        flush_file(path)
        for folder in path.parents:
            folders.add(folder)
            if folder == top:
                break
    for folder in sorted(folders, key=lambda f: len(f.parts), reverse=True):  # (deepest first)
        flush_folder(folder)


def make_folder(path: Path | str) -> Path:
    """``path`` as a folder, made with its missing parents if need be (modes as the
    umask gives), each new one's name flushed in its parent; returns it."""
    folder = Path(path)
    _made(folder, 0o777)
    return folder


def _made(folder: Path, mode: int) -> None:
    """``folder`` and its missing parents made, each one's name flushed in its parent."""
    missing = [f for f in (folder, *folder.parents) if not f.exists()]
    folder.mkdir(parents=True, exist_ok=True, mode=mode)
    for made in reversed(missing):
        flush_folder(made.parent)


def private_dir(path: Path | str) -> Path:
    """``path`` as a folder only its owner can enter (created with its parents if missing)."""
    folder = Path(path)
    _made(folder, PRIVATE_DIR)
    _tighten_one(folder, folder.stat())
    return folder


def open_private(path: Path | str, flags: int) -> int:
    """``os.open`` of a file only its owner can read (created so, or tightened)."""
    fd = os.open(path, flags | getattr(os, "O_CLOEXEC", 0), PRIVATE_FILE)
    try:
        st = os.fstat(fd)
        if st.st_mode & _LOOSE and hasattr(os, "fchmod") and st.st_uid == os.geteuid():
            os.fchmod(fd, stat.S_IMODE(st.st_mode) & ~_LOOSE)
    except BaseException:
        os.close(fd)
        raise
    return fd


def write_private(path: Path | str, data: bytes) -> None:
    """Write ``data`` to a file only its owner can read (its folder made if missing),
    at once and durably: a crash leaves the file as it was before or with all of ``data``."""
    target = Path(path)
    _made(target.parent, PRIVATE_DIR)
    tmp = target.with_name(f".{target.name}.{uuid.uuid4().hex[:8]}.part")
    try:
        with os.fdopen(open_private(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0)), "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, target)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    flush_folder(target.parent)


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
