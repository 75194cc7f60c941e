"""dcmtk's command-line tools (Debian's ``dcmtk``), found on PATH.

pynetdicom installs scripts of the same names (``storescu``, ``findscu``,
``getscu``, ``movescu``, ``echoscu``) into the environment's ``bin``, which
comes first on PATH in an activated virtual environment; a test that wants
dcmtk must not get one of those instead.
"""

from __future__ import annotations

import functools
import os
import shutil
import subprocess
import sys
from pathlib import Path


@functools.cache
def tool(name: str) -> str | None:
    """The path of dcmtk's ``name``, or None when dcmtk's is not installed."""
    ours = Path(sys.prefix, "bin").resolve()
    for folder in os.environ.get("PATH", "").split(os.pathsep):
        if not folder or Path(folder).resolve() == ours:
            continue
        found = shutil.which(name, path=folder)
        if found is None:
            continue
        try:
            said = subprocess.run([found, "--version"], capture_output=True, text=True, timeout=30)
        except OSError:
            continue
        if "dcmtk" in (said.stdout + said.stderr).lower():
            return found
    return None


def require(name: str) -> str:
    """dcmtk's ``name``, or skip the test saying how to install it."""
    import pytest

    found = tool(name)
    if found is None:
        pytest.skip(f"dcmtk's {name} is not installed (apt-get install dcmtk)")
    return found
