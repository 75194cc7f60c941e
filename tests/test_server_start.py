"""What a server's start costs: a server on the SQLite file and the blob
folder does not import the shared store's libraries, and the page templates
it compiles are kept in the user's cache folder for the next start."""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
from pathlib import Path

import pytest

from hvgen_server import backends
from hvgen_server.config import ServerConfig

SHARED_LIBRARIES = ("psycopg", "psycopg_pool", "boto3", "botocore")


def run_python(code: str, cache: Path) -> str:
    env = {**os.environ, "XDG_CACHE_HOME": str(cache)}
    done = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    return done.stdout


def test_a_server_on_sqlite_imports_no_shared_store_library(tmp_path: Path) -> None:
    said = run_python(
        "import sys\n"
        "from hvgen_server.app import create_app\n"
        "from hvgen_server.config import ServerConfig\n"
        f"app = create_app(ServerConfig(data_dir={str(tmp_path / 'data')!r}))\n"
        f"print(sorted(name for name in {SHARED_LIBRARIES!r} if name in sys.modules))\n",
        tmp_path / "cache",
    )
    assert said.strip() == "[]"


def test_a_missing_shared_library_is_named(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == "psycopg_pool" else real(name))
    config = ServerConfig(data_dir=tmp_path, database_url="postgresql://me@localhost:5432/hv")
    with pytest.raises(ValueError, match=r"needs the shared extra \(psycopg_pool is missing\)"):
        backends.check(config)
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == "boto3" else real(name))
    with pytest.raises(ValueError, match=r"needs the shared extra \(boto3 is missing\)"):
        backends.check(ServerConfig(data_dir=tmp_path, blobs_url="s3://bucket"))


def test_compiled_pages_are_kept_for_the_next_start(tmp_path: Path) -> None:
    cache = tmp_path / "cache"
    first = run_python(
        "from hvgen_server.viewer import pages\n"
        "names = pages.templates.env.list_templates(filter_func=lambda name: name.startswith('viewer/'))\n"
        "for name in names: pages.templates.get_template(name)\n"
        "print(len(names))\n",
        cache,
    )
    kept = cache / "hvgen" / "pages"
    assert oct(kept.stat().st_mode & 0o777) == "0o700"
    assert len(list(kept.glob("*.cache"))) == int(first) > 10
    # the next start reads them: with Jinja's compiler broken, every page still loads
    second = run_python(
        "import jinja2\n"
        "from hvgen_server.viewer import pages\n"
        "def broken(*args, **kwargs): raise AssertionError('compiled again')\n"
        "jinja2.Environment.compile = broken\n"
        "names = pages.templates.env.list_templates(filter_func=lambda name: name.startswith('viewer/'))\n"
        "for name in names: pages.templates.get_template(name)\n"
        "print('loaded')\n",
        cache,
    )
    assert second.strip() == "loaded"


def test_a_cache_folder_others_can_write_in_is_not_used(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from hvgen_server import pagecache

    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    assert pagecache.bytecode_cache() is not None
    pagecache.cache_folder().chmod(0o777)
    assert pagecache.bytecode_cache() is None
    pagecache.cache_folder().chmod(0o700)
    (tmp_path / "elsewhere").mkdir()
    pagecache.cache_folder().rmdir()
    pagecache.cache_folder().symlink_to(tmp_path / "elsewhere")
    assert pagecache.bytecode_cache() is None
