"""Every shell and Python example of the README and the manual runs, as a
reader would run it, against a real local platform (see tests/docexamples.py
for what an example finds around it)."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import httpx
import pytest

from healthvault import crypto

from .docexamples import Example, examples, fences_without_language, page_name, pages
from .localserver import free_port

pytest.importorskip("pydicom")
from .dicomgen import make_study  # noqa: E402

#: The blocks that do not run, by page: each is marked in its page with
#: ``<!-- not-run: why -->``. Keep this short; a new one needs a reason a
#: test cannot serve.
NOT_RUN = {
    "README.md": 2,  # the install command and the test command themselves
    "docs/install.md": 2,  # the same two
    "docs/generate.md": 2,  # writes the checkout's generated/; the published catalog
    "docs/xml.md": 1,  # the published catalog
    "docs/serve.md": 2,  # `hvgen serve` itself, which runs until stopped
    "docs/shared-store.md": 2,  # a PostgreSQL server and an S3 store elsewhere
    "docs/dicom-nodes.md": 4,  # another DICOM node (tests/test_dicom_peers.py runs them against Orthanc)
    "docs/dicomweb-ohif.md": 1,  # npm fetching OHIF, and `hvgen serve` (tests/test_ohif_browser.py runs both)
    "docs/testing.md": 2,  # the test suite itself
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


class _Platform:
    """`hvgen serve` where it keeps its store and writes its profile by
    default for the HOME of the examples: commands with no --data or
    --profile find it, as they do for a reader."""

    def __init__(self, home: Path) -> None:
        self.data = home / ".local" / "share" / "hvgen" / "platform"
        self.profile = home / ".config" / "hvgen" / "profile.json"
        self.log = home / "serve.log"
        self.data.parent.mkdir(parents=True)
        self.profile.parent.mkdir(parents=True)
        self.process: subprocess.Popen[bytes] | None = None
        self.port = 0

    def start(self, env: dict[str, str]) -> None:
        # Another process may take the free port first: then another port.
        for _ in range(5):
            self.port = free_port()
            with open(self.log, "wb") as log:
                self.process = subprocess.Popen(
                    [sys.executable, "-m", "hvgen_cli", "serve", "--data", str(self.data), "--port", str(self.port)],
                    env={**env, "HVGEN_PROFILE": str(self.profile)},
                    stdin=subprocess.DEVNULL,
                    stdout=log,
                    stderr=subprocess.STDOUT,
                )
            # No deadline a busy machine could miss: wait until it answers or exits.
            while self.process.poll() is None:
                try:
                    if httpx.get(f"http://127.0.0.1:{self.port}/health", timeout=10).status_code == 200:
                        return
                except httpx.TransportError:
                    time.sleep(0.2)
            if "already in use" not in self.log.read_text():
                break
        raise AssertionError(f"hvgen serve exited: {self.log.read_text()}")

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(120)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


def _environment(home: Path) -> dict[str, str]:
    env = {
        **os.environ,
        "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}",
        "HOME": str(home),
        "XDG_CONFIG_HOME": str(home / ".config"),
        "XDG_CACHE_HOME": str(home / ".cache"),
        "XDG_DATA_HOME": str(home / ".local" / "share"),
        "PYTHONDONTWRITEBYTECODE": "1",
    }
    for name in ("VIRTUAL_ENV", "HVGEN_PROFILE"):
        env.pop(name, None)
    return env


def _run_sh(example: Example, code: str, cwd: Path, env: dict[str, str]) -> None:
    """The block in a new bash, in a process group of its own: whatever it
    started in the background and left running is ended with it."""
    process = subprocess.Popen(
        ["bash", "-e", "-o", "pipefail", "-c", code],
        cwd=cwd,
        env=env,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )
    try:
        stdout, stderr = process.communicate(timeout=600)
    finally:
        try:
            os.killpg(process.pid, signal.SIGTERM)
        except ProcessLookupError:
            pass
        process.wait()
    assert process.returncode == 0, f"{example.where} exited {process.returncode}:\n{code}\n{stdout}\n{stderr}"


def _run_python(
    example: Example, code: str, namespace: dict[str, object], env: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    for name in os.environ.keys() - env.keys():
        monkeypatch.delenv(name)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    try:
        exec(compile(code, example.where, "exec"), namespace)
    except Exception as error:
        raise AssertionError(f"{example.where} raised {error!r}:\n{code}") from error


@pytest.mark.examples
@pytest.mark.parametrize("page", RUNNABLE, ids=page_name)
def test_the_examples_of_a_page_run(page: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    work = tmp_path / "work"
    _workspace(work)
    home = tmp_path / "home"
    server = _Platform(home)
    env = _environment(home)
    try:
        server.start(env)
        monkeypatch.chdir(work)
        namespace: dict[str, object] = {"__name__": "__main__"}
        dicom_port = str(free_port())
        for example in examples(page):
            if example.not_run is not None:
                continue
            code = example.code.replace("127.0.0.1:8080", f"127.0.0.1:{server.port}").replace("11112", dicom_port)
            if example.language == "sh":
                _run_sh(example, code, work, env)
            else:
                _run_python(example, code, namespace, env, monkeypatch)
    finally:
        server.stop()
