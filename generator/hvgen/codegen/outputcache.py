"""A cache of whole compilations, keyed by everything that goes into one.

Compiling a large schema set (the whole published catalog) takes seconds
even when nothing changed; ``hvgen generate`` on unchanged inputs then costs
only hashing the inputs and reading the cached result. The key covers every
schema file under the schema folder, the templates, the runtime, the
generator's own code and the versions of the tools it drives, so any change
to any of them is a miss.
"""

from __future__ import annotations

import gzip
import hashlib
import json
import os
import sys
from collections.abc import Iterable
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Any

from . import formatting

_GENERATOR = Path(__file__).resolve().parent.parent


def _tool_versions() -> str:
    found = []
    for name in ("xsdata", "ruff", "jinja2", "lxml"):
        try:
            found.append(f"{name}={version(name)}")
        except PackageNotFoundError:
            found.append(f"{name}=?")
    return ";".join(found) + f";python={sys.version_info[:2]}"


def key(inputs: Iterable[Path], settings: str) -> str:
    """The cache key of a compilation of ``inputs`` (files or folders)."""
    digest = hashlib.sha256()
    digest.update(settings.encode("utf-8"))
    digest.update(_tool_versions().encode("utf-8"))
    files: set[Path] = set()
    for item in [*inputs, _GENERATOR / "codegen", _GENERATOR / "w3c"]:
        if item.is_dir():
            files.update(p for p in item.rglob("*") if p.is_file() and "__pycache__" not in p.parts)
        elif item.is_file():
            files.add(item)
    for path in sorted(files):
        digest.update(str(path).encode("utf-8") + b"\0")
        digest.update(hashlib.sha256(path.read_bytes()).digest())
    return digest.hexdigest()


def _folder() -> Path | None:
    base = formatting.cache_dir()
    if base is None:
        return None
    folder = base.parent / "compiled"
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError:
        return None
    return folder


def load(cache_key: str) -> dict[str, Any] | None:
    folder = _folder()
    path = folder / f"{cache_key}.json.gz" if folder else None
    if path is None or not path.is_file():
        return None
    try:
        loaded: dict[str, Any] = json.loads(gzip.decompress(path.read_bytes()))
    except (OSError, ValueError):
        return None
    return loaded


def store(cache_key: str, value: dict[str, Any]) -> None:
    folder = _folder()
    if folder is None:
        return
    target = folder / f"{cache_key}.json.gz"
    tmp = target.with_suffix(f".{os.getpid()}.tmp")
    try:
        tmp.write_bytes(gzip.compress(json.dumps(value).encode("utf-8"), compresslevel=3))
        tmp.replace(target)
    except OSError:
        tmp.unlink(missing_ok=True)
