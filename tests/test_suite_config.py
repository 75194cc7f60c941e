"""How the suite is run: the default run is short, CI's second stage deep."""

from __future__ import annotations

import os
import shlex
import subprocess
import sys
import time
import tomllib
from pathlib import Path

import pytest
from hypothesis import settings

from .conftest import KEPT_DAYS, ROOT, _kept_compilations, examples


def test_properties_try_a_quarter_of_their_examples_unless_deep() -> None:
    current = settings.get_current_profile_name()
    try:
        settings.load_profile("default")
        assert [examples(n) for n in (400, 60, 12, 3)] == [100, 15, 5, 3]
        settings.load_profile("deep")
        assert [examples(n) for n in (400, 60, 12, 3)] == [400, 60, 12, 3]
    finally:
        settings.load_profile(current)


def test_ci_runs_the_tests_the_default_run_leaves_out() -> None:
    """CI's second stage runs what pyproject's default leaves out (the slow
    and install tests) and every example of the properties."""
    lines = (ROOT / ".ci" / "run").read_text().splitlines()
    commands = [shlex.split(line.split("&&")[-1]) for line in lines if "-m pytest" in line]
    deep = [c for c in commands if c[:3] == ["python", "-m", "pytest"] and "--hypothesis-profile=deep" in c]
    assert deep and deep[0][deep[0].index("-m", 3) + 1] == "slow or install or properties", deep
    addopts = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["pytest"]["ini_options"]["addopts"]
    assert shlex.split(addopts)[shlex.split(addopts).index("-m") + 1] == "not slow and not install"


def test_whole_compilations_are_kept_in_pytests_cache_folder(pytestconfig: pytest.Config, tmp_path: Path) -> None:
    if getattr(pytestconfig, "cache", None) is None:
        pytest.skip("pytest's cache is turned off (-p no:cacheprovider)")
    kept = Path(pytestconfig.cache.mkdir("hvgen-compiled"))
    linked = Path(os.environ["XDG_CACHE_HOME"]) / "hvgen" / "compiled"
    assert linked.resolve() == kept.resolve()
    old, new = kept / f"{'0' * 63}1.json.gz", kept / f"{'0' * 63}2.json.gz"
    for entry in (old, new):
        entry.write_bytes(b"")
    os.utime(old, (time.time() - (KEPT_DAYS + 1) * 86400,) * 2)
    try:
        _kept_compilations(pytestconfig, tmp_path / "compiled")
        assert (tmp_path / "compiled").resolve() == kept.resolve()
        assert not old.exists() and new.exists()
    finally:
        old.unlink(missing_ok=True)
        new.unlink(missing_ok=True)


def test_the_benchmarks_import_the_test_helpers_alone() -> None:
    """bench/ imports tests.localserver first (not through pytest's conftest)."""
    done = subprocess.run(
        [sys.executable, "-c", "import tests.localserver, bench.load, bench.attacks"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr
