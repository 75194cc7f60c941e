"""How hvgen installs: the runtime without optional libraries, commands whose
extra is missing, and a wheel that generates the package outside a checkout."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import sysconfig
import textwrap
import zipfile
from pathlib import Path

import pytest

from .conftest import ROOT

#: Imports that only the extras bring.
OPTIONAL = ["ruff", "jinja2", "starlette", "uvicorn", "numpy", "pydicom", "PIL", "xsdata"]

BLOCKER = textwrap.dedent(
    """
    import sys
    from importlib.abc import MetaPathFinder

    class Blocker(MetaPathFinder):
        '''Acts as if these modules were not installed.'''

        def __init__(self, names):
            self.names = names

        def find_spec(self, fullname, path=None, target=None):
            if any(fullname == n or fullname.startswith(n + ".") for n in self.names):
                raise ModuleNotFoundError(f"No module named {fullname!r}", name=fullname)
            return None

    sys.meta_path.insert(0, Blocker(BLOCKED))
    """
)


def run_blocked(blocked: list[str], code: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    script = f"BLOCKED = {blocked!r}\n" + BLOCKER + textwrap.dedent(code)
    return subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, cwd=cwd, timeout=120)


def test_every_healthvault_module_imports_without_the_extras() -> None:
    result = run_blocked(
        OPTIONAL,
        """
        import importlib, json, pkgutil
        import healthvault
        names = sorted(m.name for m in pkgutil.walk_packages(healthvault.__path__, "healthvault."))
        for name in names:
            importlib.import_module(name)
        loaded = sorted(n for n in sys.modules if any(n == b or n.startswith(b + ".") for b in BLOCKED))
        print(json.dumps({"modules": names, "loaded": loaded}))
        """,
    )
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    assert {"healthvault.client", "healthvault.transfer", "healthvault.codec", "healthvault.blobs"} <= set(
        report["modules"]
    )
    assert len(report["modules"]) > 40
    assert report["loaded"] == []


def test_the_blocker_blocks() -> None:
    result = run_blocked(["pydicom"], "import pydicom\n")
    assert result.returncode == 1 and "No module named 'pydicom'" in result.stderr


def cli_blocked(blocked: list[str], *args: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    return run_blocked(
        blocked,
        f"""
        sys.argv = ["hvgen", *{list(args)!r}]
        from hvgen_cli import main
        main()
        """,
        cwd=cwd,
    )


SERVE = ["serve", "--data", "{tmp}/data", "--no-profile", "--init-only"]


@pytest.mark.parametrize(
    ("blocked", "args", "command", "extra"),
    [
        (["starlette", "uvicorn"], SERVE, "hvgen serve", "server"),
        (["uvicorn"], SERVE, "hvgen serve", "server"),
        (["pydicom"], ["study", "list"], "hvgen study list", "imaging"),
        (["PIL"], ["study", "upload", "{tmp}"], "hvgen study upload", "imaging"),
        (
            ["numpy"],
            ["package", "create", "{tmp}", "--question", "Q?", "--answer", "secret!", "--name", "x"],
            "hvgen package create",
            "imaging",
        ),
        (["ruff"], ["generate", "--out", "{tmp}/out"], "hvgen generate", "generate"),
        (["jinja2"], ["generate", "--check"], "hvgen generate", "generate"),
        (["xsdata"], ["generate", "--check"], "hvgen generate", "generate"),
    ],
)
def test_a_command_names_its_missing_extra(
    tmp_path: Path, blocked: list[str], args: list[str], command: str, extra: str
) -> None:
    result = cli_blocked(blocked, *(a.replace("{tmp}", str(tmp_path)) for a in args))
    assert result.returncode == 1, result.stderr
    assert result.stdout == ""
    assert result.stderr == f"Error: {command} needs the {extra} extra: pip install 'hvgen[{extra}]'\n"
    assert not (tmp_path / "out").exists() and not (tmp_path / "data").exists()


def test_help_and_core_commands_work_without_any_extra(tmp_path: Path) -> None:
    for args in (["--help"], ["serve", "--help"], ["study", "upload", "--help"], ["generate", "--help"]):
        result = cli_blocked(OPTIONAL, *args)
        assert result.returncode == 0 and "Usage: hvgen" in result.stdout, result.stderr
    sample = tmp_path / "blob.bin"
    sample.write_bytes(b"x" * 5000)
    result = cli_blocked(OPTIONAL, "blob", "hash", str(sample))
    assert result.returncode == 0, result.stderr
    from healthvault.blobhash import hash_file

    assert result.stdout.strip() == hash_file(sample)


def test_generate_from_the_checkout_finds_the_checkout_from_anywhere(tmp_path: Path) -> None:
    """An editable install compiles the checkout into its generated/, whatever the current folder."""
    for cwd in (ROOT, tmp_path):
        result = subprocess.run(
            [sys.executable, "-m", "hvgen_cli", "generate", "--check"],
            capture_output=True,
            text=True,
            cwd=cwd,
            timeout=300,
        )
        assert result.returncode == 0, result.stderr
        assert "up to date" in result.stdout
    assert not (tmp_path / "generated").exists()


def test_generate_compiles_the_runtime_it_is_given(tmp_path: Path) -> None:
    from click.testing import CliRunner

    from hvgen_cli import main

    runtime = tmp_path / "runtime"
    shutil.copytree(ROOT / "runtime", runtime)
    (runtime / "transfer.py").unlink()
    (runtime / "extra.py").write_text('"""An extra runtime module."""\n\nANSWER = 42\n')
    out = tmp_path / "out"
    result = CliRunner().invoke(main, ["generate", "--runtime", str(runtime), "--out", str(out)])
    assert result.exit_code == 0, result.output
    assert (out / "healthvault" / "extra.py").read_text() == (runtime / "extra.py").read_text()
    assert not (out / "healthvault" / "transfer.py").exists()
    assert (out / "healthvault" / "codec.py").read_bytes() == (ROOT / "runtime" / "codec.py").read_bytes()

    result = CliRunner().invoke(main, ["generate", "--runtime", str(tmp_path / "nowhere"), "--out", str(out)])
    assert result.exit_code == 2 and "'--runtime': Directory" in result.output and "does not exist" in result.output
    templates = tmp_path / "templates"
    templates.mkdir()
    result = CliRunner().invoke(main, ["generate", "--templates", str(templates), "--out", str(out)])
    assert result.exit_code == 1 and result.exception is not None and isinstance(result.exception, SystemExit)
    assert (
        result.output == f"Error: {templates}: 'module.jinja2' not found in search path: '{templates / 'bindings'}'\n"
    )


# -- an installed wheel -------------------------------------------------------------------------


def _copy_sources(dest: Path) -> None:
    skip = shutil.ignore_patterns("__pycache__", "*.egg-info", "build", "dist")
    for name in ("pyproject.toml", "README.md"):
        shutil.copy2(ROOT / name, dest / name)
    for name in ("generator", "generated", "server", "imaging", "cli", "xsd", "templates", "runtime"):
        shutil.copytree(ROOT / name, dest / name, ignore=skip)


@pytest.mark.install  # builds the wheel: CI runs it once, apart
def test_wheel_ships_its_inputs_and_generates_outside_a_checkout(tmp_path: Path) -> None:
    src, dist, venv, work = (tmp_path / n for n in ("src", "dist", "venv", "work"))
    for folder in (src, dist, work):
        folder.mkdir()
    _copy_sources(src)
    pip = [sys.executable, "-m", "pip", "--disable-pip-version-check", "--no-input"]
    subprocess.run(
        [*pip, "wheel", "--quiet", "--no-deps", "--no-build-isolation", "--no-index", "-w", str(dist), str(src)],
        check=True,
        capture_output=True,
        timeout=300,
    )
    (wheel,) = dist.glob("hvgen-*.whl")
    # Every file of the packages, and of the inputs, is in the wheel (the
    # package list in pyproject.toml is explicit).
    with zipfile.ZipFile(wheel) as archive:
        shipped = {n for n in archive.namelist() if not n.startswith("hvgen-")}
    expected = {"hvgen/py.typed"}
    for source, prefix in (
        ("generated", ""),
        ("generator", ""),
        ("server", ""),
        ("imaging", ""),
        ("cli", ""),
        ("xsd", "hvgen/data/xsd/"),
        ("templates", "hvgen/data/templates/"),
        ("runtime", "hvgen/data/runtime/"),
    ):
        for path in (ROOT / source).rglob("*"):
            if path.is_file() and "__pycache__" not in path.parts and ".egg-info" not in str(path):
                expected.add(prefix + path.relative_to(ROOT / source).as_posix())
    assert shipped == expected
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True, timeout=120)
    python = venv / "bin" / "python"
    subprocess.run(
        [*pip, "--python", str(python), "install", "--quiet", "--no-deps", "--no-index", str(wheel)],
        check=True,
        capture_output=True,
        timeout=300,
    )
    # The dependencies come from this environment (no download): a path
    # line after the new environment's own site-packages.
    site = subprocess.run(
        [python, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
        check=True,
        capture_output=True,
        text=True,
    ).stdout.strip()
    ours = {sysconfig.get_paths()["purelib"], sysconfig.get_paths()["platlib"]}
    (Path(site) / "deps.pth").write_text("\n".join(sorted(ours)) + "\n")
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "HVGEN_PROFILE")}

    def hvgen(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [venv / "bin" / "hvgen", *args], capture_output=True, text=True, cwd=work, env=env, timeout=300
        )

    result = hvgen("generate", "--help")
    assert "else ./generated" in " ".join(result.stdout.split())
    result = hvgen("generate")  # default output: ./generated
    assert result.returncode == 0, result.stderr
    out = work / "generated"
    assert f"files in {Path('generated') / 'healthvault'}" in result.stdout
    # The shipped copies of xsd/, templates/ and runtime/ give the committed package.
    made = sorted(p.relative_to(out).as_posix() for p in out.rglob("*") if p.is_file())
    committed = sorted(
        p.relative_to(ROOT / "generated").as_posix()
        for p in (ROOT / "generated").rglob("*")
        if p.is_file() and "__pycache__" not in p.parts
    )
    assert made == committed
    for rel in made:
        assert (out / rel).read_bytes() == (ROOT / "generated" / rel).read_bytes(), rel

    other = tmp_path / "other"
    result = hvgen("generate", "--out", str(other), "--package", "hvcopy")
    assert result.returncode == 0, result.stderr
    probe = textwrap.dedent(
        f"""
        import importlib, pkgutil, sys
        sys.path.insert(0, {str(other)!r})
        import hvcopy, hvgen
        assert hvcopy.__file__.startswith({str(other)!r}), hvcopy.__file__
        assert hvgen.__file__.startswith({str(venv)!r}), hvgen.__file__
        for m in pkgutil.walk_packages(hvcopy.__path__, "hvcopy."):
            importlib.import_module(m.name)
        from hvcopy import codec
        print(type(codec.read_document(b"<file><name>a</name><size>1</size></file>")).__name__)
        """
    )
    result = subprocess.run([python, "-c", probe], capture_output=True, text=True, cwd=work, env=env, timeout=120)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "File"

    # Without its package data, and with no checkout of its own, it says what to give.
    shutil.rmtree(Path(site) / "hvgen" / "data")
    result = hvgen("generate", "--out", str(tmp_path / "third"))
    assert result.returncode == 1
    assert result.stderr.startswith("Error: this hvgen has neither its schemas") and "--runtime" in result.stderr
    assert "Traceback" not in result.stderr
