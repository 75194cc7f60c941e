"""The memory a process spends decoding images, kept within a budget.

Every decode (a preview, a rendered instance) reserves what it will hold at
most (:func:`.preview.estimate`) before it starts, and gives it back when it
ends. At most :data:`DECODES` decodes run at once and their reservations add
up to at most :data:`BUDGET_BYTES`; a decode that cannot get its share within
:data:`WAIT_SECONDS` raises :class:`OverBudget`, which the services answer as
out of resources (STOW-RS 413 with ``Retry-After``, C-STORE 0xA700, the
listener tries the study again later) instead of growing.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager

from .errors import ImagingError

#: Decodes running at once in one process.
DECODES = 2
#: Bytes all running decodes may hold together.
BUDGET_BYTES = 512 * 1024**2
#: Seconds a decode waits for its share before it is refused.
WAIT_SECONDS = 120.0


class OverBudget(ImagingError):
    """The memory a decode needs cannot be had now."""


class MemoryBudget:
    """Reservations of memory by running decodes, at most ``slots`` at once."""

    def __init__(self, total: int = BUDGET_BYTES, slots: int = DECODES, wait: float = WAIT_SECONDS) -> None:
        self.total, self.slots, self.wait = total, slots, wait
        self.used = 0
        self.running = 0
        self._changed = threading.Condition()

    @contextmanager
    def reserve(self, amount: int) -> Iterator[None]:
        """Hold ``amount`` bytes of the budget (and a slot) while the block runs."""
        amount = max(0, min(amount, self.total))  # one decode alone may always run: its own limits bound it
        deadline = time.monotonic() + self.wait
        with self._changed:
            while self.running >= self.slots or self.used + amount > self.total:
                left = deadline - time.monotonic()
                if left <= 0 or not self._changed.wait(left):
                    if self.running < self.slots and self.used + amount <= self.total:
                        break
                    raise OverBudget(
                        f"the server is decoding as many images as its memory budget allows "
                        f"({self.total >> 20} MiB, {self.slots} at once); try again later"
                    )
            self.used += amount
            self.running += 1
        try:
            yield
        finally:
            with self._changed:
                self.used -= amount
                self.running -= 1
                self._changed.notify_all()


#: The budget of this process.
BUDGET = MemoryBudget()
