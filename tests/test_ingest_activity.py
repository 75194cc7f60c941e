"""Previews wait while studies arrive: storing what a sender waits for comes
first (:mod:`hvgen_server.ingest.activity`), and the previews of a stored
study are made once the ingest is quiet."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from hvgen_imaging import dicom
from hvgen_imaging.study import build
from hvgen_server.context import Platform
from hvgen_server.dicomweb.gateway import ensure_gateway
from hvgen_server.ingest import Ingest, activity
from hvgen_server.ingest.activity import Activity
from hvgen_server.ingest.previews import previews_of, stop_previews

from .dicomgen import make_study
from .localserver import Backend, RunningServer, environment, start_server
from .test_ingest import versions


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory, backend: Backend) -> Iterator[RunningServer]:
    running = start_server(tmp_path_factory.mktemp("activity") / "server", backend=backend)
    yield running
    running.stop()


def test_previews_wait_while_the_ingest_is_busy(
    server: RunningServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    uid = str(make_study(tmp_path / "s", series=1, images=2, size=32, seed=71)["study_uid"])
    monkeypatch.setattr(activity, "PATIENCE", 600.0)  # (no burst while the test holds the ingest busy)
    with environment(server.backend.env):
        platform = Platform.open(server.config())
    try:
        ingest = Ingest(platform, ensure_gateway(platform).app_id, server.profile.record_id)
        done = ingest.store(build(dicom.scan(tmp_path / "s").studies[0], previews=False))
        assert done.status == "created"
        worker = previews_of(platform, ingest.app_id)
        activity.ACTIVITY.begin()  # instances arriving
        try:
            worker.add(ingest.record_id, uid)
            deadline = time.monotonic() + 3
            while time.monotonic() < deadline:
                assert len(versions(server, uid)) == 1, "previews were made while instances arrived"
                time.sleep(0.2)
        finally:
            activity.ACTIVITY.end()
        deadline = time.monotonic() + 120
        while len(versions(server, uid)) < 2:  # made once the ingest is quiet
            assert time.monotonic() < deadline, "the previews were not made after the ingest ended"
            time.sleep(0.2)
    finally:
        stop_previews(platform)
        platform.close()


def test_activity_counts_work_and_watched_checks() -> None:
    seen = Activity()
    assert not seen.active()
    with seen.busy():
        assert seen.active()
    assert seen.active()  # (just ended: not quiet yet)
    receiving = [True]

    def check() -> bool:
        return receiving[0]

    quiet = Activity()
    quiet.watch(check)
    assert quiet.active()
    receiving[0] = False
    quiet.unwatch(check)
    stopping = threading.Event()
    started = time.monotonic()
    quiet.wait_quiet(stopping, patience=600)  # returns once quiet (QUIET seconds after the last activity)
    assert time.monotonic() - started < 60
    assert not quiet.active()
    stopping.set()
    again = Activity()
    again.begin()
    again.wait_quiet(stopping, patience=600)  # a stop does not wait for quiet
    again.end()
