"""Shared test fixtures and paths."""

from __future__ import annotations

import contextlib
import gc
import os
import tempfile
import time
from collections import Counter
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import pytest
from hypothesis import settings

from .launcher import Launcher

if TYPE_CHECKING:
    from hvgen_server.store import Store

    from .engines import Engines
    from .localserver import Backend, RunningServer

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / "shared"
REFERENCE = SHARED / "reference"
SEEDS = SHARED / "seeds"
GOLDEN = ROOT / "tests" / "golden"
#: The system's temporary folder, as it was before the session moved ``$TMPDIR``
#: into its own folders (for what another user must be able to enter).
SYSTEM_TMP = Path(tempfile.gettempdir())

needs_reference = pytest.mark.skipif(not REFERENCE.is_dir(), reason="../shared/reference is not present")
needs_seeds = pytest.mark.skipif(not SEEDS.is_dir(), reason="../shared/seeds is not present")


#: Hypothesis profiles. The default run tries a quarter of the examples a
#: property names (at least 5), so that the test command stays short;
#: ``--hypothesis-profile=deep`` tries them all: CI runs the tests marked
#: ``properties`` so, apart (.ci/run, docs/testing.md).
settings.register_profile("deep", settings.get_profile("default"))


def examples(deep: int) -> int:
    """How many examples a property tries: ``deep`` under the deep profile,
    else a quarter of it (at least 5, at most ``deep``)."""
    if settings.get_current_profile_name() == "deep":
        return deep
    return min(deep, max(5, deep // 4))


def pytest_configure(config: pytest.Config) -> None:
    """The Python processes the tests start (servers, commands, parallel
    workers: some hundreds a run) keep the bytecode of what they import in
    one folder of pytest's cache (``.pytest_cache/d/pycache``), also where
    the environment says not to write it (``PYTHONDONTWRITEBYTECODE``, set
    in some containers): otherwise each of them compiles the project's
    modules again, about 0.5 s of a server's start. The checkout gets no
    ``__pycache__`` folders. Without pytest's cache (``-p no:cacheprovider``)
    nothing changes."""
    cache = getattr(config, "cache", None)
    if cache is None or os.environ.get("PYTHONPYCACHEPREFIX"):
        return
    try:
        folder = cache.mkdir("pycache")
    except OSError:  # a checkout pytest cannot write in
        return
    os.environ["PYTHONPYCACHEPREFIX"] = str(folder)
    os.environ.pop("PYTHONDONTWRITEBYTECODE", None)


def pytest_xdist_auto_num_workers(config: pytest.Config) -> int:
    """``-n auto`` (pyproject.toml): a worker per core, at most 4 (each worker
    starts its own servers, PostgreSQL and S3 server)."""
    return max(1, min(4, len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1))


#: Open descriptors a test process may hold between tests (its own servers'
#: pipes, module fixtures, caches): past this, something a test opened is left open.
OPEN_FILES_BETWEEN_TESTS = 512


def open_descriptors() -> list[str]:
    """What this process holds open: the targets of /proc/self/fd (empty where there is no /proc)."""
    try:
        names = os.listdir("/proc/self/fd")
    except OSError:
        return []
    held = []
    for name in names:
        try:
            held.append(os.readlink(f"/proc/self/fd/{name}"))
        except OSError:
            continue
    return held


@pytest.fixture(autouse=True)
def _closes_what_it_opens() -> Iterator[None]:
    """After each test the process holds no more than
    :data:`OPEN_FILES_BETWEEN_TESTS` descriptors (once unreachable objects are
    collected): a test that leaves sockets or files open fails by name, rather
    than a later test failing for want of a descriptor (the default limit is 1,024)."""
    yield
    if len(open_descriptors()) <= OPEN_FILES_BETWEEN_TESTS:
        return
    gc.collect()
    held = open_descriptors()
    if len(held) > OPEN_FILES_BETWEEN_TESTS:
        kinds = Counter(target.split(":")[0] if ":" in target else os.path.dirname(target) for target in held)
        pytest.fail(f"{len(held)} descriptors are open after this test: {dict(kinds.most_common(5))}")


@pytest.fixture(scope="session", autouse=True)
def _own_folders(tmp_path_factory: pytest.TempPathFactory, pytestconfig: pytest.Config) -> Iterator[None]:
    """Everything a run writes stays in pytest's temporary folders: the
    compiler's and formatter's caches (``$XDG_CACHE_HOME``, else the user's
    ``~/.cache/hvgen``) and the temporary files of the tests, the servers and
    the tools they start (``$TMPDIR``). Parallel workers share the caches.
    Whole compilations (the published catalog's takes 25 s) are kept from
    run to run in pytest's cache folder (:func:`_kept_compilations`)."""
    base = tmp_path_factory.getbasetemp()
    shared = base.parent if os.environ.get("PYTEST_XDIST_WORKER") else base
    saved = {name: os.environ.get(name) for name in ("XDG_CACHE_HOME", "TMPDIR")}
    (shared / "cache").mkdir(exist_ok=True)
    _kept_compilations(pytestconfig, shared / "cache" / "hvgen" / "compiled")
    (base / "tmp").mkdir(exist_ok=True)
    os.environ["XDG_CACHE_HOME"] = str(shared / "cache")
    os.environ["TMPDIR"] = str(base / "tmp")
    tempfile.tempdir = None  # read $TMPDIR again
    yield
    for name, value in saved.items():
        if value is None:
            os.environ.pop(name, None)
        else:
            os.environ[name] = value
    tempfile.tempdir = None


@pytest.fixture(scope="session", autouse=True)
def _server_launcher() -> Iterator[None]:
    """The worker's launcher of test servers (:mod:`tests.launcher`) ends with
    the session, after every server fixture has stopped its server."""
    Launcher.enabled = True
    yield
    Launcher.close()


#: Compilations not written for this long leave pytest's cache folder.
KEPT_DAYS = 14


def _kept_compilations(config: pytest.Config, link: Path) -> None:
    """Point the run's cache of whole compilations (``hvgen/compiled`` under
    ``$XDG_CACHE_HOME``, keyed by the hashes of every input: schemas,
    templates, runtime, generator, tool versions) at a folder of pytest's
    cache (``.pytest_cache/d/hvgen-compiled``), so that a catalog compiled
    by one run is read by the next; entries older than :data:`KEPT_DAYS`
    are removed. Without pytest's cache (``-p no:cacheprovider``) the run
    keeps its own."""
    cache = getattr(config, "cache", None)
    if cache is None:
        return
    try:
        kept = Path(cache.mkdir("hvgen-compiled"))
    except OSError:  # a checkout pytest cannot write in
        return
    too_old = time.time() - KEPT_DAYS * 86400
    for entry in kept.iterdir():  # compilations, and the temporary files of writes cut short
        with contextlib.suppress(OSError):
            if entry.stat().st_mtime < too_old:
                entry.unlink()
    link.parent.mkdir(parents=True, exist_ok=True)
    with contextlib.suppress(FileExistsError):  # the other workers' link
        link.symlink_to(kept, target_is_directory=True)


@pytest.fixture(scope="session")
def engines() -> Iterator[Engines]:
    """PostgreSQL and an S3 server, started once for the test session (the
    tests that need them are skipped, with the reason, where their binaries
    cannot be found)."""
    from .engines import Engines, EngineUnavailable

    try:
        running = Engines()
    except EngineUnavailable as exc:
        pytest.skip(f"the shared store's engines are not available: {exc}")
    running.start()
    yield running
    running.stop()


@pytest.fixture(scope="session", params=["embedded", "shared"])
def backend(request: pytest.FixtureRequest) -> Backend:
    """Where the servers of a test keep their data: every server test runs
    on the embedded store (SQLite and files) and on the shared one
    (PostgreSQL and an S3 bucket)."""
    from .localserver import EMBEDDED, Backend

    if request.param == "embedded":
        return EMBEDDED
    return Backend("shared", request.getfixturevalue("engines"))


@pytest.fixture(scope="session")
def server(tmp_path_factory: pytest.TempPathFactory, backend: Backend) -> Iterator[RunningServer]:
    """The local platform, started once for the test session (per backend)."""
    from .localserver import start_server

    running = start_server(tmp_path_factory.mktemp("platform"), backend=backend)
    yield running
    running.stop()


@pytest.fixture
def new_server(tmp_path: Path, backend: Backend) -> Iterator[Callable[..., RunningServer]]:
    """Start a dedicated server with options: ``new_server("--session-ttl", "1")``."""
    from .localserver import start_server

    started: list[RunningServer] = []

    def start(*options: str) -> RunningServer:
        running = start_server(tmp_path / f"p{len(started)}", *options, backend=backend)
        started.append(running)
        return running

    yield start
    for running in started:
        running.stop()


@pytest.fixture
def new_store(tmp_path: Path, backend: Backend) -> Iterator[Callable[[], Store]]:
    """Open a new, empty store of the backend: ``store = new_store()``."""
    from hvgen_server.store import SqliteStore

    opened: list[Store] = []

    def open_one() -> Store:
        store: Store
        if backend.engines is None:
            store = SqliteStore(tmp_path / f"store{len(opened)}.sqlite")
        else:
            from hvgen_server.store.postgres import PostgresStore

            store = PostgresStore(backend.engines.postgres.new_database(), pool_size=4)
        opened.append(store)
        return store

    yield open_one
    for store in opened:
        store.close()


@pytest.fixture(scope="session")
def small_chunks(tmp_path_factory: pytest.TempPathFactory, backend: Backend) -> Iterator[RunningServer]:
    """A server with 2 MiB chunks, a 40 MiB blob limit and 1000-byte inline
    blobs, started once for the test session (per backend)."""
    from .blobdata import CHUNK, MIB
    from .localserver import start_server

    server = start_server(
        tmp_path_factory.mktemp("blobs"),
        "--chunk-size",
        str(CHUNK),
        "--max-blob-size",
        str(40 * MIB),
        "--inline-limit",
        "1000",
        backend=backend,
    )
    yield server
    server.stop()


from .dicomwebdata import imaging  # noqa: E402,F401  (one imaging platform per run, shared by the DICOMweb and OHIF tests)
