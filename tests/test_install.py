"""The install a user gets: the wheel and sdist `python -m build` makes,
the wheel installed with `[all]` into a fresh virtual environment (its
dependencies from the package index, no checkout on the path), small enough,
and working there: `hvgen serve` answers, `hvgen study upload` stores a DICOM
folder in it, `hvgen generate --xsd` compiles a schema folder.

This downloads what `[all]` needs (pip's cache makes later runs quicker) and
takes minutes: it is marked ``install`` (``-m "not install"`` leaves it out
while you work) and CI runs it once, in the README's test command.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tarfile
import time
import zipfile
from pathlib import Path
from typing import Any

import httpx
import pytest

from .conftest import ROOT
from .localserver import free_port

pytest.importorskip("build", reason="the test extra's `build` makes the wheel and sdist")
from .dicomgen import make_study  # noqa: E402

pytestmark = pytest.mark.install

#: What a user's virtual environment of `.[all]` may take on disk (du).
MAX_VENV_MB = 450

SOURCES = ("generator", "generated", "server", "imaging", "cli", "xsd", "templates", "runtime")

SCHEMA = """<schema xmlns="http://www.w3.org/2001/XMLSchema" targetNamespace="urn:example.weight"
        elementFormDefault="unqualified">
  <element name="weight">
    <annotation><documentation><summary>A weighing.</summary></documentation></annotation>
    <complexType>
      <sequence>
        <element name="kg" type="decimal"/>
        <element name="note" type="string" minOccurs="0"/>
      </sequence>
    </complexType>
  </element>
</schema>
"""


def _run(*args: str | Path, **kwargs: Any) -> subprocess.CompletedProcess[str]:
    done = subprocess.run([str(a) for a in args], capture_output=True, text=True, stdin=subprocess.DEVNULL, **kwargs)
    assert done.returncode == 0, f"{' '.join(map(str, args))} exited {done.returncode}:\n{done.stdout}\n{done.stderr}"
    return done


def _du_mb(folder: Path) -> float:
    """Disk use as `du -s` counts it (blocks, hard links once)."""
    return int(_run("du", "-sk", folder, timeout=300).stdout.split()[0]) / 1024


@pytest.fixture(scope="module")
def installed(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A fresh venv with the built wheel and its `[all]` dependencies."""
    base = tmp_path_factory.mktemp("install")
    src, dist, venv = base / "src", base / "dist", base / "venv"
    src.mkdir()
    skip = shutil.ignore_patterns("__pycache__", "*.egg-info", "build", "dist")
    for name in ("pyproject.toml", "README.md"):
        shutil.copy2(ROOT / name, src / name)
    for name in SOURCES:
        shutil.copytree(ROOT / name, src / name, ignore=skip)
    # As CI builds them: the sdist, then the wheel from the sdist (so the
    # sdist must hold everything the wheel needs).
    _run(sys.executable, "-m", "build", "--no-isolation", "--outdir", dist, src, timeout=900)
    (wheel,) = dist.glob("hvgen-*.whl")
    (sdist,) = dist.glob("hvgen-*.tar.gz")
    with tarfile.open(sdist) as archive:
        names = archive.getnames()
    assert any(name.endswith("/generated/healthvault/__init__.py") for name in names)
    assert any(name.endswith("/xsd/thing.xsd") for name in names)
    with zipfile.ZipFile(wheel) as archive:
        assert "hvgen/data/xsd/thing.xsd" in archive.namelist()

    _run(sys.executable, "-m", "venv", venv, timeout=300)
    _run(
        venv / "bin" / "python",
        "-m",
        "pip",
        "install",
        "--quiet",
        "--disable-pip-version-check",
        f"{wheel}[all]",
        timeout=3600,
    )
    return venv


def _env(home: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV", "HVGEN_PROFILE")}
    return env | {"HOME": str(home), "XDG_CACHE_HOME": str(home / "cache"), "XDG_CONFIG_HOME": str(home / "config")}


def test_a_users_venv_stays_small(installed: Path) -> None:
    size = _du_mb(installed)
    assert size <= MAX_VENV_MB, f"a venv of .[all] takes {size:.0f} MB"


def test_the_installed_wheel_imports_nothing_from_the_checkout(installed: Path, tmp_path: Path) -> None:
    where = _run(
        installed / "bin" / "python",
        "-c",
        "import healthvault, hvgen, hvgen_server, hvgen_imaging, hvgen_cli; print(healthvault.__file__, hvgen_cli.__file__)",
        cwd=tmp_path,
        env=_env(tmp_path),
        timeout=300,
    ).stdout
    assert str(ROOT) not in where and str(installed) in where


def test_serve_answers_and_stores_an_uploaded_study(installed: Path, tmp_path: Path) -> None:
    env = _env(tmp_path) | {"HVGEN_PROFILE": str(tmp_path / "profile.json")}
    port = free_port()
    with open(tmp_path / "serve.log", "wb") as log:
        server = subprocess.Popen(
            [installed / "bin" / "hvgen", "serve", "--data", tmp_path / "data", "--port", str(port)],
            cwd=tmp_path,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    try:
        for _ in range(600):
            assert server.poll() is None, (tmp_path / "serve.log").read_text()
            try:
                if httpx.get(f"http://127.0.0.1:{port}/health", timeout=5).status_code == 200:
                    break
            except httpx.TransportError:
                time.sleep(0.2)
        else:
            pytest.fail("hvgen serve did not answer /health")
        uids = make_study(tmp_path / "CT", series=2, images=2, size=32)
        _run(installed / "bin" / "hvgen", "study", "upload", tmp_path / "CT", cwd=tmp_path, env=env, timeout=600)
        listed = _run(installed / "bin" / "hvgen", "study", "list", "--json", cwd=tmp_path, env=env, timeout=300)
        assert uids["study_uid"] in listed.stdout
    finally:
        server.terminate()
        try:
            server.wait(60)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait(60)


def test_generate_compiles_a_schema_folder(installed: Path, tmp_path: Path) -> None:
    schemas = tmp_path / "schemas"
    schemas.mkdir()
    (schemas / "weight.xsd").write_text(SCHEMA, encoding="utf-8")
    env = _env(tmp_path)
    hvgen = installed / "bin" / "hvgen"
    _run(
        hvgen,
        "generate",
        "--xsd",
        schemas,
        "--out",
        tmp_path / "out",
        "--package",
        "weights",
        cwd=tmp_path,
        env=env,
        timeout=900,
    )
    package = tmp_path / "out" / "weights"
    assert (package / "__init__.py").is_file()
    _run(installed / "bin" / "python", "-c", "import weights", cwd=tmp_path / "out", env=env, timeout=300)
