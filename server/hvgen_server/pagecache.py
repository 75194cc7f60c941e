"""Compiled page templates kept from one start of the server to the next.

Jinja compiles each template to Python code the first time it is loaded
(the viewer's twelve take about 0.3 s of a start). :func:`bytecode_cache`
keeps that code in ``$XDG_CACHE_HOME/hvgen/pages`` (else
``~/.cache/hvgen/pages``), a folder of the user's own (mode 0700): Jinja
names each entry by its template and checks the template's source before
using it, so an edited template is compiled again. A folder that cannot be
made, or that others could write in, is not used (the code it holds runs in
the server), and templates are then compiled at each start as before.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path

from jinja2 import BytecodeCache, FileSystemBytecodeCache


def cache_folder() -> Path:
    """Where compiled templates are kept."""
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "hvgen" / "pages"


def bytecode_cache() -> BytecodeCache | None:
    """A cache of compiled templates in :func:`cache_folder`, or None where
    that folder cannot be made or is not the user's alone."""
    folder = cache_folder()
    try:
        folder.mkdir(mode=0o700, parents=True, exist_ok=True)
        mode = folder.lstat()
    except (OSError, RuntimeError):  # RuntimeError: no home folder to expand
        return None
    if not stat.S_ISDIR(mode.st_mode) or mode.st_uid != os.getuid() or mode.st_mode & 0o077:
        return None
    return FileSystemBytecodeCache(str(folder))
