"""Picking up a connect package, as a job the caller follows.

PickUpConnectPackage checks the answer and, when it is right, starts a job
that decrypts the package's blobs into the record and then adds its things;
the call answers at once (or once the job is done, if that takes less than
:data:`WAIT`) with the job's state. The caller sends the same request again
to follow it. The job runs on the platform's pick-up threads, outside any
request thread and any store transaction (its progress is written in short
transactions as it goes).

Answers are counted before they are checked, in one statement
(:meth:`~.store.tables.PackageTable.reserve_attempt`: answers wrong or
being checked, at most three), so however many arrive at once exactly three
are checked before the package locks. Wrong answers are counted apart
(:meth:`~.store.tables.PackageTable.record_wrong`): the package locks at
the third wrong one, never while a right answer is still being checked, so
a right answer racing wrong ones that finish first still picks it up. Only
a pending package can become locked.

The job's state lives in the store. The key the answer gives is only in
memory: if the server stops, the next request with the right answer
resumes the job (any server process may: the one that finds it not
advanced for :data:`STALE` seconds claims it).
"""

from __future__ import annotations

import hashlib
import logging
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, replace
from typing import Any, Protocol

from healthvault import connectpackage
from healthvault.errors import HealthVaultError
from healthvault.status import HealthVaultStatusError, StatusCode

from .errors import PlatformError
from .store import Store
from .store.rows import Pickup


class JobContext(Protocol):
    """What a job needs of the request that started it (a :class:`~.context.Context`)."""

    now: float

    @property
    def store(self) -> Store: ...


log = logging.getLogger("hvgen_server")

#: Seconds a request waits for its job before answering with its progress.
WAIT = 1.0
#: Seconds without progress after which a running job is taken to be dead.
STALE = 30.0
#: PBKDF2 iteration counts a package may ask for (the platform's SDK used 20000).
ITERATIONS = range(1_000, 100_001)


@dataclass(frozen=True)
class Opened:
    """What the right answer gives: the cipher's key and IV, and the things' XML."""

    key: bytes
    iv: bytes
    things_xml: bytes

    @property
    def verifier(self) -> bytes:
        """A digest of the key, to recognise the right answer again."""
        return verifier(self.key, self.iv)


def verifier(key: bytes, iv: bytes) -> bytes:
    return hashlib.sha256(b"hvgen pick-up\0" + key + iv).digest()


def check_iterations(count: int) -> None:
    if count not in ITERATIONS:
        raise PlatformError(
            StatusCode.INVALID_PACKAGE_CONTENTS,
            f"the package asks for {count} key derivation iterations; "
            f"the platform accepts {ITERATIONS.start} to {ITERATIONS.stop - 1}",
        )


#: A job body: (context, opened package, progress callback) -> "thing-id version-stamp" lines.
Work = Callable[[Any, Opened, Callable[[int], None]], None]


class PickupJobs:
    """The pick-up jobs this process runs."""

    def __init__(self, workers: int = 1) -> None:
        self._pool = ThreadPoolExecutor(max_workers=max(1, workers), thread_name_prefix="pickup")
        self._running: dict[str, Future[None]] = {}
        self._guard = threading.Lock()  # the dict above only

    def close(self) -> None:
        self._pool.shutdown(wait=False, cancel_futures=True)

    def running_here(self, code: str) -> bool:
        with self._guard:
            future = self._running.get(code)
            return future is not None and not future.done()

    def start(self, ctx: JobContext, code: str, opened: Opened, work: Work) -> None:
        """Run ``work`` for the package (unless this process runs it already)."""
        with self._guard:
            future = self._running.get(code)
            if future is not None and not future.done():
                return
            self._running[code] = self._pool.submit(self._run, replace(ctx, now=time.time()), code, opened, work)  # type: ignore[type-var]

    def wait(self, code: str, seconds: float) -> None:
        with self._guard:
            future = self._running.get(code)
        if future is None:
            return
        try:
            future.result(timeout=seconds)
        except Exception:  # the job records its own failure
            pass

    def _run(self, ctx: JobContext, code: str, opened: Opened, work: Work) -> None:
        last = [0.0]

        def progress(done: int) -> None:
            now = time.time()
            if now - last[0] >= 0.25:
                last[0] = now
                with ctx.store.write() as tx:
                    tx.packages.pickup_progress(code, done, now)

        try:
            work(ctx, opened, progress)
            log.info("package %s picked up", code)
        except HealthVaultStatusError as exc:
            log.info("pick-up of %s failed: %s", code, exc)
            self._fail(ctx, code, exc.code, exc.message)
            return
        except Exception:
            log.exception("pick-up of %s failed", code)
            self._fail(ctx, code, StatusCode.FAILED, "internal error during the pick-up; see the server log")
            return

    @staticmethod
    def _fail(ctx: JobContext, code: str, status: int, message: str) -> None:
        try:
            with ctx.store.write() as tx:
                tx.packages.fail_pickup(code, status, message, time.time())
        except Exception:
            log.exception("could not record the failed pick-up of %s", code)


def new_pickup(code: str, record_id: str, opened: Opened, total: int) -> Pickup:
    now = time.time()
    return Pickup(
        identity_code=code,
        record_id=record_id,
        verifier=opened.verifier,
        state="running",
        done=0,
        total=total,
        error_code=None,
        error_message=None,
        thing_keys=None,
        started=now,
        updated=now,
    )


def derive(answer: str, salt: str, iterations: int) -> tuple[bytes, bytes]:
    """The key and IV an answer gives (a clear error for an answer too short)."""
    try:
        return connectpackage.derive(answer, salt, iterations)
    except connectpackage.WrongAnswer:
        raise
    except HealthVaultError as exc:
        raise PlatformError(StatusCode.ACCESS_DENIED, f"wrong answer: {exc}") from None
