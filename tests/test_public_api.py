"""The curated public names of ``healthvault`` and ``hvgen_imaging``: each one
exists and is documented, and importing the package imports none of them."""

from __future__ import annotations

import importlib
import inspect
import json
import subprocess
import sys

import pytest

#: Package -> names its ``__all__`` must hold (what the README and the commands use).
ESSENTIAL = {
    "healthvault": {
        "HealthVaultClient",
        "ThingQuery",
        "Profile",
        "read_thing",
        "write_thing",
        "read_document",
        "ThingBlobs",
        "StatusCode",
        "HealthVaultError",
        "HealthVaultStatusError",
        "HealthVaultXmlError",
        "load_generated",
    },
    "hvgen_imaging": {
        "scan",
        "build_study",
        "make_preview",
        "Studies",
        "UploadResult",
        "StudyDetails",
        "create_package",
        "pick_up",
        "Listener",
        "ImagingError",
        "StudyError",
    },
}


def undocumented(value: object) -> bool:
    if not (inspect.isclass(value) or inspect.isroutine(value)):
        return True  # only classes and functions are public here
    doc = value.__dict__.get("__doc__") if inspect.isclass(value) else value.__doc__
    # A dataclass without a docstring gets its signature as one.
    return not doc or not doc.strip() or doc.startswith(f"{value.__name__}(")


@pytest.mark.parametrize("package", sorted(ESSENTIAL))
def test_every_public_name_exists_and_is_documented(package: str) -> None:
    module = importlib.import_module(package)
    names = [n for n in module.__all__ if not n.startswith("__")]
    assert ESSENTIAL[package] <= set(names)
    assert len(names) == len(set(names))
    assert [n for n in names if undocumented(getattr(module, n))] == []
    assert set(names) <= set(dir(module))
    star: dict[str, object] = {}
    exec(f"from {package} import *", star)
    assert {n: star[n] for n in names} == {n: getattr(module, n) for n in names}


def test_the_checker_refuses_what_is_not_documented() -> None:
    from dataclasses import dataclass

    @dataclass
    class Bare:
        x: int

    def bare() -> None:
        pass

    def documented() -> None:
        """Does nothing."""

    assert undocumented(Bare) and undocumented(bare) and undocumented(42)
    assert not undocumented(documented) and not undocumented(ValueError)


@pytest.mark.parametrize("package", sorted(ESSENTIAL))
def test_importing_the_package_imports_none_of_its_names(package: str) -> None:
    code = f"""
import json, sys
import {package}
before = sorted(m for m in sys.modules if m.startswith("{package}."))
heavy = sorted(m for m in ("pydicom", "numpy", "PIL", "httpx", "lxml") if m in sys.modules)
try:
    {package}.no_such_name
    missing = False
except AttributeError:
    missing = True
print(json.dumps({{"before": before, "heavy": heavy, "missing": missing}}))
"""
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    assert report == {"before": [], "heavy": [], "missing": True}


def test_submodules_import_as_before() -> None:
    result = subprocess.run(
        [
            sys.executable,
            "-c",
            "from healthvault import codec, status; import hvgen_imaging.results as r; print(r.__name__)",
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "hvgen_imaging.results"
