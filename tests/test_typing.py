"""The generated package, the generator, the server and imaging are mypy-clean
(strict); the tests and benchmarks too, with the relaxed override of pyproject.toml."""

from __future__ import annotations

import subprocess
import sys

import pytest

from .conftest import ROOT

pytest.importorskip("mypy")


def test_mypy_strict_clean(tmp_path: object) -> None:
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "mypy",
            "--cache-dir",
            str(tmp_path),
            "generated/healthvault",
            "generator/hvgen",
            "server/hvgen_server",
            "imaging/hvgen_imaging",
            "cli/hvgen_cli",
            "tests",
            "bench",
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_package_ships_py_typed() -> None:
    assert (ROOT / "generated" / "healthvault" / "py.typed").exists()
