"""Shared test fixtures and paths."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    from .localserver import RunningServer

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / "shared"
REFERENCE = SHARED / "reference"
SEEDS = SHARED / "seeds"
GOLDEN = ROOT / "tests" / "golden"

needs_reference = pytest.mark.skipif(not REFERENCE.is_dir(), reason="../shared/reference is not present")
needs_seeds = pytest.mark.skipif(not SEEDS.is_dir(), reason="../shared/seeds is not present")


@pytest.fixture(scope="session")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    """The local platform, started once for the test session."""
    from .localserver import start_server

    running = start_server(tmp_path_factory.mktemp("platform"))
    yield running
    running.stop()


@pytest.fixture
def new_server(tmp_path: Path) -> Iterator[Callable[..., RunningServer]]:
    """Start a dedicated server with options: ``new_server("--session-ttl", "1")``."""
    from .localserver import start_server

    started: list[RunningServer] = []

    def start(*options: str) -> RunningServer:
        running = start_server(tmp_path / f"p{len(started)}", *options)
        started.append(running)
        return running

    yield start
    for running in started:
        running.stop()
