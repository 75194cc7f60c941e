"""The examples of the README and the manual (docs/*.md): found, and run.

An example is a fenced block whose info string starts with ``sh`` or
``python``. A block that cannot run in a test (it installs into the checkout,
needs a second machine...) is preceded by a line
``<!-- not-run: why -->``; tests/test_docs_examples.py lists those blocks, so
that they stay few.

The examples of one page run in order, in a folder of their own, against a
local platform started for that page where `hvgen serve` keeps its store and
writes its profile by default (``HOME`` and the ``XDG_*`` folders are the
test's), so commands need no ``--data`` or ``--profile``; the virtual
environment's ``bin`` is first on ``PATH`` and ``.venv`` in the folder leads
to it. Each ``sh`` block runs in a new ``bash -e -o pipefail`` (what it leaves
running is ended); the page's ``python`` blocks share one namespace, as in
one interpreter session. ``127.0.0.1:8080`` in an example stands for the
test's server, port ``11112`` for a free port. The folder holds what the
examples name: ``CT_HEAD/`` (a DICOM study: 2 series of 3 CT images of
DOE^JANE), ``scan.dcm`` (one of its files), ``key.pem`` and ``cert.pem`` (a
signer's RSA key and self-signed certificate) and ``ca.pem`` (that
certificate as a trust anchor).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

FENCE = re.compile(r"^(?P<indent> *)(?P<fence>```+)(?P<info>[^`]*)$")
NOT_RUN = re.compile(r"^\s*<!--\s*not-run:\s*(?P<why>.+?)\s*-->\s*$")
LANGUAGES = ("sh", "python")


@dataclass(frozen=True)
class Example:
    page: str
    line: int
    language: str
    code: str
    not_run: str | None

    @property
    def where(self) -> str:
        return f"{self.page}:{self.line}"


def pages() -> list[Path]:
    """The README and every page of the manual."""
    return [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]


def page_name(path: Path) -> str:
    return path.relative_to(ROOT).as_posix()


def examples(path: Path) -> list[Example]:
    """The page's fenced blocks of a language that runs, in order."""
    found: list[Example] = []
    lines = path.read_text(encoding="utf-8").splitlines()
    i = 0
    while i < len(lines):
        match = FENCE.match(lines[i])
        if not match:
            i += 1
            continue
        end = i + 1
        while end < len(lines) and lines[end].strip() != match["fence"]:
            end += 1
        language = match["info"].strip().split(" ")[0]
        if language in LANGUAGES:
            previous = next((line for line in reversed(lines[:i]) if line.strip()), "")
            marker = NOT_RUN.match(previous)
            indent = len(match["indent"])
            code = "\n".join(line[indent:] for line in lines[i + 1 : end]) + "\n"
            found.append(Example(page_name(path), i + 1, language, code, marker["why"] if marker else None))
        i = end + 1
    return found


def fences_without_language(path: Path) -> list[str]:
    """Opening fences that name no language: an example that would never run
    because its language was left out (diagrams say ``text``)."""
    found: list[str] = []
    inside = False
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        match = FENCE.match(line)
        if not match:
            continue
        if not inside and not match["info"].strip():
            found.append(f"{page_name(path)}:{number}")
        inside = not inside
    return found
