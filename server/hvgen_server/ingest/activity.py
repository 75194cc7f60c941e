"""How busy this process's ingest is, so that previews wait for a quiet moment.

Storing what arrives (a DICOM association receiving instances, STOW-RS
bodies being read and stored, the listener's studies being written) comes
first: it is what a sender waits for. Previews (:mod:`.previews`) are made
in the same process, and each image's preview holds the interpreter while
it is made; so the preview worker makes them when the ingest has been quiet
for :data:`QUIET` seconds, and, while studies keep arriving, in bursts of
:data:`BURST` seconds after waiting at most :data:`PATIENCE` seconds (a
share of about a fifth of the time), so that previews are never starved.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager

#: Seconds without ingest after which previews are made freely.
QUIET = 0.3
#: The longest a preview worker waits for a quiet moment before it makes a burst of previews anyway.
PATIENCE = 2.0
#: Seconds of previews made between two looks at the ingest.
BURST = 0.5


class Activity:
    """Ingest work under way (:meth:`busy`), and checks of other work (:meth:`watch`)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._busy = 0
        self._last = 0.0
        self._checks: list[Callable[[], bool]] = []

    def begin(self) -> None:
        """Ingest work starts (each begin is followed by an :meth:`end`)."""
        with self._lock:
            self._busy += 1

    def end(self) -> None:
        with self._lock:
            self._busy -= 1
            self._last = time.monotonic()

    @contextmanager
    def busy(self) -> Iterator[None]:
        """Ingest work under way while the block runs."""
        self.begin()
        try:
            yield
        finally:
            self.end()

    def watch(self, check: Callable[[], bool]) -> None:
        """Count as ingest whenever ``check()`` is true (an association receiving instances)."""
        with self._lock:
            self._checks.append(check)

    def unwatch(self, check: Callable[[], bool]) -> None:
        with self._lock:
            if check in self._checks:
                self._checks.remove(check)

    def active(self) -> bool:
        """Whether ingest work is under way, or ended less than :data:`QUIET` seconds ago."""
        with self._lock:
            busy = self._busy > 0 or time.monotonic() - self._last < QUIET
            checks = list(self._checks)
        if busy:
            return True
        if any(check() for check in checks):
            with self._lock:
                self._last = time.monotonic()
            return True
        return False

    def wait_quiet(self, stopping: threading.Event, patience: float | None = None) -> None:
        """Return when the ingest is quiet, after ``patience`` seconds (:data:`PATIENCE`), or when ``stopping`` is set."""
        deadline = time.monotonic() + (PATIENCE if patience is None else patience)
        while self.active() and time.monotonic() < deadline and not stopping.is_set():
            stopping.wait(0.05)


#: This process's ingest.
ACTIVITY = Activity()
