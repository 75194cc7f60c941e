"""Shared test fixtures and paths."""

from __future__ import annotations

from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / "shared"
REFERENCE = SHARED / "reference"
SEEDS = SHARED / "seeds"
GOLDEN = ROOT / "tests" / "golden"

needs_reference = pytest.mark.skipif(not REFERENCE.is_dir(), reason="../shared/reference is not present")
needs_seeds = pytest.mark.skipif(not SEEDS.is_dir(), reason="../shared/seeds is not present")


@pytest.fixture(scope="session")
def server(tmp_path_factory: pytest.TempPathFactory):  # type: ignore[no-untyped-def]
    """The local platform, started once for the test session."""
    from .platform import start_server

    running = start_server(tmp_path_factory.mktemp("platform"))
    yield running
    running.stop()


@pytest.fixture
def new_server(tmp_path: Path):  # type: ignore[no-untyped-def]
    """Start a dedicated server with options: ``new_server("--session-ttl", "1")``."""
    from .platform import start_server

    started = []

    def start(*options: str):  # type: ignore[no-untyped-def]
        running = start_server(tmp_path / f"p{len(started)}", *options)
        started.append(running)
        return running

    yield start
    for running in started:
        running.stop()
