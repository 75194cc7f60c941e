"""``hvgen ohif fetch DIR``: the built OHIF Viewer, from the npm registry, for ``hvgen serve --ohif``.

``npm pack @ohif/app@VERSION`` downloads the package's tarball (npm's own
cache and registry settings apply); its ``package/dist/`` is unpacked to
``DIR/dist`` (through a temporary folder, then renamed: a failed fetch
leaves no half-unpacked app), and the tarball is removed. Nothing of OHIF
is kept in hvgen itself.
"""

from __future__ import annotations

import shutil
import subprocess
import tarfile
import tempfile
from dataclasses import dataclass
from pathlib import Path

from .ohif import OhifError, check_dist

#: The OHIF release hvgen is tested with.
OHIF_VERSION = "3.13.2"
PACKAGE = "@ohif/app"
#: Seconds npm may take to download the package (about 50 MB).
NPM_TIMEOUT = 900


@dataclass(frozen=True)
class Fetched:
    dist: Path
    version: str
    files: int


def fetch(folder: Path, version: str = OHIF_VERSION, npm: str | None = None) -> Fetched:
    """Download and unpack OHIF ``version`` into ``folder/dist`` (replacing what is there)."""
    npm = npm or shutil.which("npm")
    if npm is None:
        raise OhifError("npm is not installed (it comes with Node.js: apt-get install npm)")
    folder = folder.expanduser().resolve()
    folder.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix=".ohif-", dir=folder) as work:
        try:
            done = subprocess.run(
                [npm, "pack", f"{PACKAGE}@{version}", "--pack-destination", work, "--silent"],
                capture_output=True,
                text=True,
                timeout=NPM_TIMEOUT,
                cwd=work,
            )
        except subprocess.TimeoutExpired:
            raise OhifError(f"npm pack {PACKAGE}@{version} took more than {NPM_TIMEOUT} s") from None
        tarballs = list(Path(work).glob("*.tgz"))
        if done.returncode != 0 or len(tarballs) != 1:
            lines = [line for line in (done.stderr or done.stdout).splitlines() if line.strip()]
            reason = lines[-1] if lines else f"exit status {done.returncode}"
            raise OhifError(f"npm pack {PACKAGE}@{version} failed: {reason}")
        unpacked = Path(work) / "unpacked"
        with tarfile.open(tarballs[0]) as tar:
            members = [m for m in tar.getmembers() if m.name.startswith("package/dist/")]
            tar.extractall(unpacked, members=members, filter="data")
        check_dist(unpacked / "package" / "dist")
        target = folder / "dist"
        if target.exists():
            shutil.rmtree(target)
        (unpacked / "package" / "dist").rename(target)
    count = sum(1 for p in target.rglob("*") if p.is_file())
    return Fetched(target, version, count)
