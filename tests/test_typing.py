"""The generated package is typed (py.typed). That the packages are mypy-clean
(strict; the tests and benchmarks relaxed by pyproject.toml) is checked by the
mypy hook of pre-commit, the first half of the README's test command, over the
same paths: running it again inside pytest cost a minute per run."""

from __future__ import annotations

from .conftest import ROOT


def test_package_ships_py_typed() -> None:
    assert (ROOT / "generated" / "healthvault" / "py.typed").exists()
