"""Format generated Python with ruff, the formatter the project uses.

ruff's formatter is black-compatible and fast; it runs once over all the
files that need it (in a temporary folder), and its results are cached by
content hash, so regenerating files that did not change costs nothing. The
ruff version is pinned with the generator's dependencies: the output must
not drift between machines.
"""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
import tempfile
from collections.abc import Iterable
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path

from ruff.__main__ import find_ruff_bin

from ..errors import SchemaError

LINE_LENGTH = 88


def _ruff() -> str:
    return str(find_ruff_bin())


def _ruff_version() -> str:
    try:
        return version("ruff")
    except PackageNotFoundError:  # pragma: no cover
        return "unknown"


def cache_dir() -> Path | None:
    """Where formatted files are cached (None when it cannot be created)."""
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    folder = Path(base) / "hvgen" / f"ruff-{_ruff_version()}-{LINE_LENGTH}"
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError:
        return None
    return folder


def _key(source: str) -> str:
    return hashlib.sha256(source.encode("utf-8")).hexdigest()


def _config(folder: Path) -> Path:
    path = folder / "ruff.toml"
    path.write_text(f'line-length = {LINE_LENGTH}\ntarget-version = "py311"\n', encoding="utf-8")
    return path


def format_sources(files: dict[str, str], cache: Path | None, skip: Iterable[str] = ()) -> dict[str, str]:
    """``files`` with every Python file not in ``skip`` formatted."""
    skipped = set(skip)
    python = [p for p, text in files.items() if p.endswith(".py") and text.strip() and p not in skipped]
    done: dict[str, str] = {}
    todo: list[str] = []
    for path in python:
        cached = cache / _key(files[path]) if cache else None
        if cached is not None and cached.is_file():
            done[path] = cached.read_text(encoding="utf-8")
        else:
            todo.append(path)
    if todo:
        done.update(_run_ruff({p: files[p] for p in todo}))
        if cache is not None:
            for path in todo:
                _store(cache / _key(files[path]), done[path])
    return {p: done.get(p, text) for p, text in sorted(files.items())}


def _store(target: Path, text: str) -> None:
    try:
        tmp = target.with_suffix(f".{os.getpid()}.tmp")
        tmp.write_text(text, encoding="utf-8")
        tmp.replace(target)
    except OSError:
        pass


def _run_ruff(sources: dict[str, str]) -> dict[str, str]:
    with tempfile.TemporaryDirectory(prefix="hvgen-format-") as tmp:
        root = Path(tmp)
        config = _config(root)
        names = {}
        for index, (path, text) in enumerate(sorted(sources.items())):
            name = root / "src" / f"m{index}.py"
            name.parent.mkdir(parents=True, exist_ok=True)
            name.write_text(text, encoding="utf-8")
            names[path] = name
        result = subprocess.run(
            [_ruff(), "format", "--config", str(config), "--no-cache", "--quiet", str(root / "src")],
            capture_output=True,
            text=True,
            env={**os.environ, "NO_COLOR": "1"},
        )
        if result.returncode != 0:
            message = (result.stderr or result.stdout).strip().splitlines()
            culprit = next((p for p, n in names.items() if str(n) in (result.stderr or "")), "generated code")
            print("\n".join(message[:20]), file=sys.stderr)
            raise SchemaError(culprit, None, "generated code does not parse (ruff format failed)")
        return {path: name.read_text(encoding="utf-8") for path, name in names.items()}
