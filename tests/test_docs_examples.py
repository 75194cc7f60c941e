"""Every shell and Python example of the README and the manual runs, as a
reader would run it, against a real local platform (see tests/docexamples.py
for what an example finds around it)."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from collections import Counter
from pathlib import Path

import pytest

from healthvault import crypto

from .docexamples import Example, examples, fences_without_language, page_name, pages
from .localserver import RunningServer, start_server

pytest.importorskip("pydicom")
from .dicomgen import make_study  # noqa: E402

#: The blocks that do not run, by page: each is marked in its page with
#: ``<!-- not-run: why -->``. Keep this short; a new one needs a reason a
#: test cannot serve.
NOT_RUN = {
    "README.md": 2,  # the install command and the test command themselves
    "docs/install.md": 2,  # the same two
}

RUNNABLE = [path for path in pages() if any(e.not_run is None for e in examples(path))]


def test_the_examples_that_do_not_run_are_the_listed_few() -> None:
    found = Counter(e.page for path in pages() for e in examples(path) if e.not_run is not None)
    assert dict(found) == NOT_RUN


def test_every_fence_names_its_language() -> None:
    assert [where for path in pages() for where in fences_without_language(path)] == []


def test_examples_and_their_markers_are_found(tmp_path: Path) -> None:
    page = tmp_path / "README.md"
    page.write_text(
        "# t\n\n```sh\necho one\n```\n\n<!-- not-run: needs a second machine -->\n"
        '```python title="x"\nprint(2)\n```\n\n```text\ndiagram\n```\n\n  ```sh\n  echo indented\n  ```\n',
        encoding="utf-8",
    )
    import tests.docexamples as docexamples

    root = docexamples.ROOT
    docexamples.ROOT = tmp_path
    try:
        found = examples(page)
    finally:
        docexamples.ROOT = root
    assert [(e.line, e.language, e.code, e.not_run) for e in found] == [
        (3, "sh", "echo one\n", None),
        (8, "python", "print(2)\n", "needs a second machine"),
        (16, "sh", "echo indented\n", None),
    ]


def _workspace(folder: Path) -> None:
    """What the examples name, as docexamples.py lists it."""
    folder.mkdir(parents=True)
    (folder / ".venv").symlink_to(sys.prefix, target_is_directory=True)
    make_study(folder / "CT_HEAD", series=2, images=3, size=64, patient="DOE^JANE")
    shutil.copy(sorted((folder / "CT_HEAD").rglob("*.dcm"))[0], folder / "scan.dcm")
    key, cert = crypto.make_key_and_certificate("Example Signer")
    (folder / "key.pem").write_bytes(crypto.key_pem(key))
    (folder / "cert.pem").write_bytes(crypto.cert_pem(cert))
    (folder / "ca.pem").write_bytes(crypto.cert_pem(cert))


def _environment(tmp_path: Path, server: RunningServer) -> dict[str, str]:
    home = tmp_path / "home"
    env = {
        **os.environ,
        "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}",
        "HOME": str(home),
        "XDG_CONFIG_HOME": str(home / ".config"),
        "XDG_CACHE_HOME": str(home / ".cache"),
        "XDG_DATA_HOME": str(home / ".local" / "share"),
        "HVGEN_PROFILE": str(server.profile_path),
        "PYTHONDONTWRITEBYTECODE": "1",
    }
    env.pop("VIRTUAL_ENV", None)
    return env


def _run_sh(example: Example, code: str, cwd: Path, env: dict[str, str]) -> None:
    done = subprocess.run(
        ["bash", "-e", "-o", "pipefail", "-c", code],
        cwd=cwd,
        env=env,
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert done.returncode == 0, f"{example.where} exited {done.returncode}:\n{code}\n{done.stdout}\n{done.stderr}"


def _run_python(
    example: Example, code: str, namespace: dict[str, object], env: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    try:
        exec(compile(code, example.where, "exec"), namespace)
    except Exception as error:
        raise AssertionError(f"{example.where} raised {error!r}:\n{code}") from error


@pytest.mark.parametrize("page", RUNNABLE, ids=page_name)
def test_the_examples_of_a_page_run(page: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    work = tmp_path / "work"
    _workspace(work)
    server = start_server(tmp_path / "server")
    try:
        env = _environment(tmp_path, server)
        monkeypatch.chdir(work)
        namespace: dict[str, object] = {"__name__": "__main__"}
        for example in examples(page):
            if example.not_run is not None:
                continue
            code = example.code.replace("127.0.0.1:8080", f"127.0.0.1:{server.port}")
            if example.language == "sh":
                _run_sh(example, code, work, env)
            else:
                _run_python(example, code, namespace, env, monkeypatch)
    finally:
        server.stop()
