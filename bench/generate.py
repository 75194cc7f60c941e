"""Wall time and peak memory of `hvgen generate`.

For the project's own schemas and, when ../shared/reference is present, for
the whole published thing-type catalog (as published, defects included):

* cold: a fresh process writing into an empty folder with empty caches;
* unchanged: a fresh process whose output is already up to date;
* baseline, in the same run: plain `xsdata generate --recursive` over a copy
  of the same folder, in a fresh process (it formats with ruff too).

Peak memory is the largest resident set of each process.

    .venv/bin/pip install -e ".[bench]"
    .venv/bin/python bench/generate.py [--runs N]
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench._common import ROOT

BIN = Path(sys.executable).parent
CATALOG = ROOT.parent / "shared" / "reference" / "catalog" / "xsd"

#: Runs a command and prints the peak resident set (KiB) of its process tree.
_PEAK = "import resource, subprocess, sys; r = subprocess.run(sys.argv[1:]); print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss); sys.exit(r.returncode)"


def timed(cmd: list[str], cwd: Path, cache: Path) -> tuple[float, int]:
    env = {**os.environ, "PATH": f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}", "XDG_CACHE_HOME": str(cache)}
    started = time.perf_counter()
    result = subprocess.run([sys.executable, "-c", _PEAK, *cmd], cwd=cwd, capture_output=True, text=True, env=env)
    elapsed = time.perf_counter() - started
    if result.returncode != 0:
        raise SystemExit(f"{' '.join(cmd)} failed:\n{result.stderr[-2000:]}")
    return elapsed, int(result.stdout.strip().splitlines()[-1])


def measure(label: str, xsd: Path, package: str, runs: int) -> None:
    cold, warm, base = [], [], []
    for _ in range(runs):
        with tempfile.TemporaryDirectory() as tmp:
            out = Path(tmp) / "out"
            cmd = [str(BIN / "hvgen"), "generate", "--xsd", str(xsd), "--out", str(out), "--package", package]
            cache = Path(tmp) / "cache"  # empty: every file is compiled and formatted
            cold.append(timed(cmd, ROOT, cache))
            warm.append(timed(cmd, ROOT, cache))
            plain = Path(tmp) / "plain"
            plain.mkdir()
            shutil.copytree(xsd, plain / "xsd")
            base.append(
                timed(
                    [str(BIN / "xsdata"), "generate", "xsd", "--recursive", "--package", "plainpkg"],
                    plain,
                    Path(tmp) / "c2",
                )
            )
    (c, cm), (w, wm), (b, bm) = min(cold), min(warm), min(base)
    print(f"{label}")
    print(f"  hvgen generate, cold:            {c:6.2f} s   peak {cm / 1024:6.0f} MiB (best of {runs})")
    print(f"  hvgen generate, nothing changed: {w:6.2f} s   peak {wm / 1024:6.0f} MiB")
    print(f"  xsdata generate (baseline):      {b:6.2f} s   peak {bm / 1024:6.0f} MiB")
    print(f"  ratio cold / baseline:           {c / b:6.2f}")
    print(f"  ratio unchanged / baseline:      {w / b:6.2f}")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--runs", type=int, default=2)
    args = ap.parse_args()
    measure("project schemas (xsd/)", ROOT / "xsd", "healthvault", args.runs)
    if CATALOG.is_dir():
        measure(f"published catalog ({len(list(CATALOG.glob('*.xsd')))} schemas)", CATALOG, "hvcat", args.runs)
    else:
        print("published catalog: ../shared/reference is not present, skipped")


if __name__ == "__main__":
    main()
