"""Wall time of `hvgen generate` for the whole schema set.

Cold: a fresh process writing into an empty folder with an empty formatting
cache. Unchanged: a fresh process whose output is already up to date (nothing
written, formatting cache warm). Baseline, in the same
run: plain `xsdata generate --recursive` over the same schemas in a fresh
process (it formats with ruff instead of black and keeps only one medical
image study version).

    .venv/bin/pip install -e ".[bench]"
    .venv/bin/python bench/generate.py
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from _common import ROOT

BIN = Path(sys.executable).parent


def timed(cmd: list[str], cwd: Path, cache: Path | None = None) -> float:
    env = {**os.environ, "PATH": f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}"}
    if cache is not None:
        env["XDG_CACHE_HOME"] = str(cache)
    started = time.perf_counter()
    subprocess.run(cmd, cwd=cwd, check=True, capture_output=True, env=env)
    return time.perf_counter() - started


def main() -> None:
    runs = 3
    cold, warm, base = [], [], []
    for _ in range(runs):
        with tempfile.TemporaryDirectory() as tmp:
            out = Path(tmp) / "out"
            cmd = [str(BIN / "hvgen"), "generate", "--out", str(out)]
            cache = Path(tmp) / "cache"  # empty: black formats every file
            cold.append(timed(cmd, ROOT, cache))
            warm.append(timed(cmd, ROOT, cache))
            plain = Path(tmp) / "plain"
            plain.mkdir()
            shutil.copytree(ROOT / "xsd", plain / "xsd")
            base.append(
                timed(
                    [str(BIN / "xsdata"), "generate", "xsd", "--recursive", "--package", "plainpkg"],
                    plain,
                )
            )
    c, w, b = min(cold), min(warm), min(base)
    print(f"hvgen generate, cold:            {c:6.2f} s (best of {runs})")
    print(f"hvgen generate, nothing changed: {w:6.2f} s (best of {runs})")
    print(f"xsdata generate (baseline):      {b:6.2f} s (best of {runs})")
    print(f"ratio cold / baseline:           {c / b:6.2f}")
    print(f"ratio unchanged / baseline:      {w / b:6.2f}")


if __name__ == "__main__":
    main()
