"""Housekeeping of blobs: abandoned uploads and bytes no row names."""

from __future__ import annotations

import threading
import time

from .context import Platform

#: Seconds blob bytes with no row are kept (their row may not be committed yet).
ORPHAN_AGE = 3600.0


def sweep(platform: Platform) -> int:
    """Remove uploads past their expiry that nothing holds, and blob bytes
    with no row written over an hour ago; returns how many uploads went.
    No write transaction is held while the folder is listed."""
    now = time.time()
    with platform.store.write() as tx:
        gone = tx.blobs.drop_expired(now)
    for blob_id in gone:
        platform.files.delete(blob_id)
    with platform.store.read() as tx:
        known = tx.blobs.ids()
    platform.files.remove_orphans(known, now - ORPHAN_AGE)
    return len(gone)


def sweeper(platform: Platform, interval: float, stop: threading.Event) -> None:
    """Sweep every ``interval`` seconds until ``stop`` is set."""
    while not stop.wait(interval):
        try:
            sweep(platform)
        except Exception:  # keep sweeping later
            time.sleep(1)
