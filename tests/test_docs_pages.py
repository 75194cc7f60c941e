"""The manual stays true to the checkout: every page is in the site's
navigation, the README stays short, the folders and files docs/architecture.md
and CONTRIBUTING.md name exist, and CONTRIBUTING says where each kind of
change goes."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import pytest

from . import architecture
from .conftest import ROOT

PATH_LIKE = re.compile(r"`([^`\s]+)`")


def _tracked() -> tuple[set[str], set[str]]:
    """The checkout's tracked files, and the folders holding them."""
    try:
        listed = subprocess.run(
            ["git", "ls-files"], cwd=ROOT, capture_output=True, text=True, check=True, timeout=60
        ).stdout.split()
    except (OSError, subprocess.CalledProcessError):
        pytest.skip("needs a git checkout (git ls-files)")
    files = {name for name in listed if (ROOT / name).exists()}
    folders = {"/".join(name.split("/")[:i]) for name in files for i in range(1, name.count("/") + 1)}
    return files, folders


def named_paths(text: str) -> list[str]:
    """What a document names in backticks that is a path in the checkout:
    something with a ``/`` or a ``.py`` name (not a URL, an option, a
    variable, a glob or a place outside the checkout)."""
    return sorted(
        {
            token
            for token in PATH_LIKE.findall(text)
            if ("/" in token or token.endswith(".py"))
            and not token.startswith(("/", "http", "$", "~", "-", "DATA", "../", "s3:", "postgresql:"))
            and not any(mark in token for mark in "*{}<>=?:")
        }
    )


def missing(paths: list[str], files: set[str], folders: set[str]) -> list[str]:
    """The paths that are no tracked file or folder, nor the end of one's path."""
    return [
        path
        for path in paths
        if not any(name == path.rstrip("/") or name.endswith("/" + path.rstrip("/")) for name in files | folders)
    ]


def test_named_paths_are_checked() -> None:
    text = "see `server/x.py`, `--data DIR`, `a/b/`, `http://h/p`, `*.xsd`, `store/sql/`, `tables.py`, `x`"
    assert named_paths(text) == ["a/b/", "server/x.py", "store/sql/", "tables.py"]
    files = {"server/hvgen_server/store/tables.py"}
    folders = {"server", "server/hvgen_server", "server/hvgen_server/store"}
    assert missing(["store/", "tables.py", "store/sql/", "server/x.py"], files, folders) == [
        "store/sql/",
        "server/x.py",
    ]


def test_the_architecture_names_what_exists() -> None:
    files, folders = _tracked()
    text = architecture.DOCUMENT.read_text(encoding="utf-8")
    assert missing(named_paths(text), files, folders) == []


def test_the_folder_table_lists_every_top_level_folder() -> None:
    files, folders = _tracked()
    listed = architecture.folders()
    assert missing(sorted(listed), files, folders) == []
    top = {name.split("/")[0] for name in folders if not name.startswith(".")} | {".ci"}
    assert top == {name.split("/")[0].rstrip("/") for name in listed if not name.startswith(".")} | {".ci"}


def test_contributing_says_where_each_kind_of_change_goes() -> None:
    text = (ROOT / "CONTRIBUTING.md").read_text(encoding="utf-8")
    table = text[text.index("## Where to make a change") :]
    rows = [line for line in table.splitlines() if line.startswith("| ")]
    kinds = " ".join(row.split("|")[1] for row in rows)
    for kind in ("a thing type", "a method", "a store backend", "a command", "a page of the manual"):
        assert kind in kinds
    files, folders = _tracked()
    assert missing(named_paths("\n".join(rows)), files, folders) == []
    # Paths are written from the checkout's root, so that a reader finds them.
    assert all((ROOT / path).exists() for path in named_paths("\n".join(rows)) if "/" in path)


def _nav_pages() -> list[str]:
    text = (ROOT / "mkdocs.yml").read_text(encoding="utf-8")
    return re.findall(r"^\s*- (?:[^:\n]+: )?(\S+\.md)\s*$", text, flags=re.MULTILINE)


def test_every_page_is_in_the_navigation_once() -> None:
    nav = _nav_pages()
    assert sorted(nav) == sorted(path.name for path in (ROOT / "docs").glob("*.md"))
    assert len(nav) == len(set(nav))


def test_the_readme_is_short() -> None:
    assert len((ROOT / "README.md").read_text(encoding="utf-8").splitlines()) <= 250


def unnamed_modules(package: Path, text: str) -> list[str]:
    """Modules and subpackages of ``package`` (one level) that ``text`` never names."""
    words = set(re.findall(r"[A-Za-z_][A-Za-z0-9_]*", text))
    found = [
        path.name
        for path in sorted(package.iterdir())
        if (path.suffix == ".py" and not path.name.startswith("__")) or (path / "__init__.py").is_file()
    ]
    return [name for name in found if name.removesuffix(".py") not in words]


@pytest.mark.parametrize(
    "folder",
    [
        "runtime",
        "generator/hvgen",
        "generator/hvgen/codegen",
        "server/hvgen_server",
        "server/hvgen_server/methods",
        "server/hvgen_server/store",
        "server/hvgen_server/store/sql",
        "server/hvgen_server/viewer",
        "server/hvgen_server/dicomweb",
        "imaging/hvgen_imaging",
        "cli/hvgen_cli",
    ],
)
def test_the_architecture_names_every_module(folder: str) -> None:
    """A module or a subpackage added to a package gets its line in
    docs/architecture.md."""
    text = architecture.DOCUMENT.read_text(encoding="utf-8")
    assert unnamed_modules(ROOT / folder, text) == []


def test_unnamed_modules_are_found(tmp_path: Path) -> None:
    (tmp_path / "a.py").write_text("")
    (tmp_path / "b.py").write_text("")
    (tmp_path / "__init__.py").write_text("")
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "__init__.py").write_text("")
    (tmp_path / "data").mkdir()
    assert unnamed_modules(tmp_path, "`a.py` does this") == ["b.py", "sub"]


def test_ci_runs_exactly_the_readmes_test_command() -> None:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    section = readme[readme.index("## Run the tests") :]
    command = section[section.index("```sh\n") + len("```sh\n") :].split("\n```", 1)[0].strip()
    assert "\n" not in command and ".[all,test]" in command
    assert command in (ROOT / ".ci" / "run").read_text(encoding="utf-8").splitlines()
    install = readme[readme.index("## Install and run") :]
    first = install[install.index("```sh\n") + len("```sh\n") :].split("\n```", 1)[0].strip()
    assert '".[all]"' in first and first.endswith("hvgen serve")


#: Options the pages name that belong to other tools (pre-commit, apt-get,
#: xmllint, the benchmarks' scripts) or to every command (--help).
OTHER_TOOLS_OPTIONS = {
    "--all-files",
    "--no-install-recommends",
    "--schema",
    "--help",
    "--each",
    "--mib",
    "--seconds",
    "--shared",
    "--repeat",  # bench/ingest.py's
    "--hypothesis-profile",  # pytest's, from hypothesis
    "--format",  # coverage report's
    "--include",
    "--sort",
}


def test_every_option_the_manual_names_exists() -> None:
    """An option renamed or removed leaves no stale mention behind."""
    click = pytest.importorskip("click")
    from hvgen_cli import main

    options: set[str] = set()

    def walk(command: object) -> None:
        for param in getattr(command, "params", []):
            options.update(name for name in [*param.opts, *param.secondary_opts] if name.startswith("--"))
        for sub in getattr(command, "commands", {}).values():
            walk(sub)

    assert isinstance(main, click.Group)
    walk(main)
    named = {
        f"{path.name}: {option}"
        for path in [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
        for option in re.findall(r"(?<![\w-])(--[a-z][a-z0-9-]*)", path.read_text(encoding="utf-8"))
        if option not in options | OTHER_TOOLS_OPTIONS
    }
    assert sorted(named) == []


def test_every_command_the_manual_names_exists() -> None:
    """`hvgen GROUP COMMAND` in code (inline or in a block) names a command
    that exists: a renamed or removed one leaves no stale mention behind."""
    click = pytest.importorskip("click")
    from hvgen_cli import main

    assert isinstance(main, click.Group)
    wrong = []
    for path in [ROOT / "README.md", ROOT / "CONTRIBUTING.md", *sorted((ROOT / "docs").glob("*.md"))]:
        text = path.read_text(encoding="utf-8")
        code = re.findall(r"```[a-z]*\n(.*?)```", text, flags=re.DOTALL) + re.findall(r"`([^`\n]+)`", text)
        for snippet in code:
            for first, second in re.findall(r"(?<![\w/.-])hvgen ([a-z][a-z-]*)(?: ([a-z][a-z-]*))?", snippet):
                command = main.commands.get(first)
                if command is None or (isinstance(command, click.Group) and second and second not in command.commands):
                    wrong.append(f"{path.name}: hvgen {first} {second}".strip())
    assert wrong == []


def python_names(text: str) -> set[str]:
    """Names in inline code that look like Python API (``a_name``,
    ``ClassName``, ``module.function()``): the last part of each."""
    found: set[str] = set()
    for token in re.findall(r"`([^`\n]+)`", text):
        match = re.fullmatch(r"([A-Za-z_]\w*(?:\.[A-Za-z_]\w*)*)(\(.*\))?", token.strip())
        if match:
            name = match.group(1).split(".")[-1]
            if "_" in name.strip("_") or re.search(r"[a-z][A-Z]", name):
                found.add(name)
    return found


def test_python_names_are_found() -> None:
    text = "`codec.read_thing(data)`, `HealthVaultClient`, `--json`, `hvgen serve`, `plain`, `UPPER`"
    assert python_names(text) == {"read_thing", "HealthVaultClient"}


def test_every_python_name_the_manual_shows_exists() -> None:
    """A function, class or field renamed in the code leaves no stale name in the pages."""
    folders = ["runtime", "server", "imaging", "cli", "generator", "generated/healthvault", "tests", "bench"]
    words = {
        word
        for folder in folders
        for path in (ROOT / folder).rglob("*.py")
        for word in re.findall(r"[A-Za-z_]\w*", path.read_text(encoding="utf-8"))
    }
    named = {
        f"{path.name}: {name}"
        for path in [ROOT / "README.md", ROOT / "CONTRIBUTING.md", *sorted((ROOT / "docs").glob("*.md"))]
        for name in python_names(path.read_text(encoding="utf-8"))
        if name not in words
    }
    assert sorted(named) == []
