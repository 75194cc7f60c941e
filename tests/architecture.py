"""The tables of docs/architecture.md, read as data: the package map (each
package's folder) and the layer rules (which package may import which).

The document is the one place these are written; tests/test_layout.py checks
the code against what is read here, and tests/test_docs_pages.py checks that
the folders it names exist.
"""

from __future__ import annotations

from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DOCUMENT = ROOT / "docs" / "architecture.md"


def tables(text: str) -> list[list[list[str]]]:
    """Every Markdown table of ``text``: its rows (header and separator left
    out), each a list of cells without their backticks."""
    found: list[list[list[str]]] = []
    rows: list[list[str]] = []
    for line in [*text.splitlines(), ""]:
        if line.startswith("|"):
            rows.append([cell.strip() for cell in line.strip().strip("|").split("|")])
            continue
        if len(rows) > 2:
            found.append(rows[2:])
        rows = []
    return found


def _table(header: str, text: str) -> list[list[str]]:
    """The table whose first header cells are ``header``."""
    all_rows: list[list[str]] = []
    lines = text.splitlines()
    for number, line in enumerate(lines):
        cells = [cell.strip() for cell in line.strip().strip("|").split("|")] if line.startswith("|") else []
        if cells[: len(header.split("|"))] == [h.strip() for h in header.split("|")]:
            for row in tables("\n".join(lines[number:]))[0]:
                all_rows.append(row)
            return all_rows
    raise AssertionError(f"docs/architecture.md has no table headed {header!r}")


def _name(cell: str) -> str:
    return cell.strip().strip("`")


def package_folders(text: str | None = None) -> dict[str, str]:
    """Package -> its folder, from the table headed ``package | folder``."""
    text = DOCUMENT.read_text(encoding="utf-8") if text is None else text
    return {_name(row[0]): _name(row[1]) for row in _table("package | folder", text)}


def may_import(text: str | None = None) -> dict[str, set[str]]:
    """Package -> the project's packages it may import, from the table headed
    ``package | may import`` (``—`` for none)."""
    text = DOCUMENT.read_text(encoding="utf-8") if text is None else text
    return {
        _name(row[0]): {_name(name) for name in row[1].split(",")} - {"—", ""}
        for row in _table("package | may import", text)
    }


def folders(text: str | None = None) -> dict[str, str]:
    """Folder -> what it holds, from the table headed ``folder | what``."""
    text = DOCUMENT.read_text(encoding="utf-8") if text is None else text
    return {_name(row[0]): row[1] for row in _table("folder | what", text)}
