"""Housekeeping of blobs: abandoned uploads and bytes no row names."""

from __future__ import annotations

import threading
import time

from .context import Platform


def sweep(platform: Platform) -> int:
    """Remove uploads past their expiry that nothing holds, and blob bytes
    with no row; returns how many uploads went."""
    with platform.store.write() as tx:
        gone = tx.blobs.drop_expired(time.time())
        # Inside the transaction: no upload can begin between listing and removing.
        platform.files.remove_orphans(tx.blobs.ids())
    return len(gone)


def sweeper(platform: Platform, interval: float, stop: threading.Event) -> None:
    """Sweep every ``interval`` seconds until ``stop`` is set."""
    while not stop.wait(interval):
        try:
            sweep(platform)
        except Exception:  # keep sweeping later
            time.sleep(1)
