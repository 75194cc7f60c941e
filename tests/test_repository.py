"""What is committed: no symbolic link that leads out of the checkout (a
link to a machine path, such as a virtual environment elsewhere, works on
one machine only and points another at whatever is there)."""

from __future__ import annotations

import os
import posixpath
import shutil
import subprocess
from pathlib import Path

import pytest

from .conftest import ROOT

SYMLINK_MODE = "120000"


def _git(repo: Path, *args: str, stdin: bytes | None = None) -> bytes:
    return subprocess.run(
        ["git", "-C", str(repo), *args], input=stdin, capture_output=True, check=True, timeout=60
    ).stdout


def links_leaving(repo: Path) -> dict[str, str]:
    """The symbolic links git tracks in ``repo`` (``git ls-files -s``, mode
    120000) whose target lies outside it: {path: target}."""
    listed = _git(repo, "ls-files", "-s", "-z").split(b"\0")
    links: list[tuple[str, str]] = []
    for entry in listed:
        if not entry:
            continue
        meta, _, name = entry.partition(b"\t")
        mode, blob, _stage = meta.decode().split()
        if mode == SYMLINK_MODE:
            links.append((name.decode("utf-8", "surrogateescape"), blob))
    leaving = {}
    for path, blob in links:
        target = _git(repo, "cat-file", "blob", blob).decode("utf-8", "surrogateescape")
        inside = posixpath.normpath(posixpath.join(posixpath.dirname(path), target))
        if posixpath.isabs(target) or inside == ".." or inside.startswith("../"):
            leaving[path] = target
    return leaving


needs_git_checkout = pytest.mark.skipif(
    shutil.which("git") is None or not (ROOT / ".git").exists(), reason="not a git checkout"
)


@needs_git_checkout
def test_no_committed_symbolic_link_leads_out_of_the_checkout() -> None:
    assert links_leaving(ROOT) == {}


@pytest.mark.skipif(shutil.which("git") is None, reason="git is not installed")
def test_links_leading_out_are_found(tmp_path: Path) -> None:
    repo = tmp_path / "repo"
    (repo / "docs").mkdir(parents=True)
    (repo / "docs" / "guide.md").write_text("guide")
    links = {
        ".venv-main": "/home/someone/project/.venv",  # a machine path
        "docs/up": "../../elsewhere",  # out through ..
        "docs/guide-link.md": "guide.md",  # inside: fine
        "docs/readme": "../docs/guide.md",  # inside through ..: fine
    }
    for name, target in links.items():
        os.symlink(target, repo / name)
    _git(repo, "init", "-q")
    _git(repo, "add", "-A")
    assert links_leaving(repo) == {".venv-main": "/home/someone/project/.venv", "docs/up": "../../elsewhere"}
