"""Bulk Data export jobs (FHIR Bulk Data Access IG, system-level ``$export``).

A kick-off keeps a job in the store (``fhir_exports``) and runs it in a
thread of its own that writes one NDJSON file per resource type into the
blob store (a blob of the record, streamed), with ``_since`` (things
updated after it) and ``_type``. The status URL answers 202 while it runs, then the
manifest, whose file URLs need the same bearer token; a DELETE of the status
URL removes the job and its files.

Jobs are kept in the store, not in the server's memory: they outlive a
restart, and every server process of a shared store answers for them. A
runner beats a heartbeat into its job's row every :data:`HEARTBEAT`
seconds; a job still running whose heartbeat stopped for :data:`STALE`
seconds (its process ended) is run again by the next process asked about
it. The files are written where the job runs: a process of a shared store
with another data folder answers 404 for them.
"""

from __future__ import annotations

import datetime as dt
import json
import math
import secrets
import threading
import time
import uuid
from collections.abc import Iterator
from typing import Any

from ..context import Platform
from ..store.rows import COMMITTED, RECORD_BLOB, BlobRow, FhirExport
from ..xmltime import iso
from . import exporting
from .access import Caller
from .errors import FhirError

#: Jobs kept at once per record (a kick-off beyond them is answered 429).
MAX_JOBS = 4
#: Seconds between a runner's heartbeats.
HEARTBEAT = 5.0
#: Seconds without a heartbeat after which a running job is run again.
STALE = 60.0


def instant(value: str) -> float:
    """Epoch seconds of a ``_since`` (a FHIR instant; UTC when it names no zone)."""
    try:
        moment = dt.datetime.fromisoformat(value.strip())
    except ValueError:
        raise FhirError(400, f"_since: {value!r} is not an instant (YYYY-MM-DDThh:mm:ss+zz:zz)") from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=dt.UTC)
    return moment.timestamp()


def owns(job: FhirExport, caller: Caller) -> bool:
    """Whether the job is the caller's (the same record, the same view)."""
    return job.record_id == caller.record_id and job.app_id == (caller.app_id or "")


def counts(job: FhirExport) -> dict[str, int]:
    """Resources in each type's file."""
    return {kind: int(found[0]) for kind, found in _files(job).items()}


def blob_of(job: FhirExport, kind: str) -> str | None:
    """The blob holding a type's file."""
    found = _files(job).get(kind)
    return None if found is None else str(found[1])


def _files(job: FhirExport) -> dict[str, list[Any]]:
    found: dict[str, list[Any]] = json.loads(job.counts or "{}")  # type: [count, blob id]
    return found


class ExportJobs:
    """The export jobs of a store, as one server process runs and answers for them."""

    def __init__(self, platform: Platform, stale: float = STALE, heartbeat: float = HEARTBEAT) -> None:
        self.platform = platform
        self.stale = stale
        self.heartbeat = heartbeat

    def start(self, caller: Caller, types: list[str], since: float | None, request: str) -> FhirExport | None:
        """Keep a new job and run it; None when the record has :data:`MAX_JOBS` already."""
        now = time.time()
        job = FhirExport(
            secrets.token_hex(16), caller.record_id, caller.app_id or "", tuple(types), since, "running", "",
            "{}", now, now, request,
        )  # fmt: skip
        with self.platform.store.write() as tx:
            if sum(1 for j in tx.fhir.exports() if j.record_id == caller.record_id) >= MAX_JOBS:
                return None
            tx.fhir.add_export(job)
        self._spawn(job)
        return job

    def get(self, job_id: str, caller: Caller) -> FhirExport | None:
        """The caller's job; one whose runner stopped is run again here."""
        with self.platform.store.read() as tx:
            job = tx.fhir.export(job_id)
        if job is None or not owns(job, caller):
            return None
        if job.state == "running" and job.heartbeat < time.time() - self.stale:
            with self.platform.store.write() as tx:
                taken = tx.fhir.claim_export(job.job_id, time.time(), time.time() - self.stale)
            if taken:
                self._spawn(job)
        return job

    def remove(self, job_id: str, caller: Caller) -> bool:
        with self.platform.store.write() as tx:
            job = tx.fhir.export(job_id)
            if job is None or not owns(job, caller):
                return False
            tx.fhir.remove_export(job_id)
            gone = tx.blobs.drop_unreferenced(str(f[1]) for f in _files(job).values())
        for blob_id in gone:
            self.platform.files.delete(blob_id)
        return True

    def _spawn(self, job: FhirExport) -> None:
        name = f"fhir-export-{job.job_id[:8]}"
        threading.Thread(target=self.run, args=(job,), name=name, daemon=True).start()

    def run(self, job: FhirExport) -> None:
        """Write the job's files and say how it ended (its heartbeat beats meanwhile)."""
        stop = threading.Event()
        beating = threading.Thread(target=self._beat, args=(job.job_id, stop), daemon=True)
        beating.start()
        written: dict[str, list[Any]] = {}
        state, error = "done", ""
        try:
            caller = Caller(job.record_id, job.app_id or None)
            for kind in job.types:
                lines = exporting.lines(self.platform, caller, kind, job.since)
                count = [0]

                def counted(lines: Iterator[bytes] = lines, count: list[int] = count) -> Iterator[bytes]:
                    for line in lines:
                        count[0] += 1
                        yield line

                blob_id = str(uuid.uuid4())
                size = self.platform.files.put(blob_id, counted())
                with self.platform.store.write() as tx:
                    tx.blobs.add(_blob_row(job.record_id, blob_id, size))
                written[kind] = [count[0], blob_id]
        except Exception as exc:  # the status URL says why
            state, error = "failed", f"the export failed: {exc}"
        finally:
            stop.set()
            beating.join()
        with self.platform.store.write() as tx:
            tx.fhir.finish_export(job.job_id, state, error, json.dumps(written))

    def _beat(self, job_id: str, stop: threading.Event) -> None:
        while not stop.wait(self.heartbeat):
            try:
                with self.platform.store.write() as tx:
                    tx.fhir.claim_export(job_id, time.time(), math.inf)
            except Exception:  # beat again later
                continue


def _blob_row(record_id: str, blob_id: str, size: int) -> BlobRow:
    """The row of an export file: a committed blob of the record (forgotten with its job)."""
    now = time.time()
    return BlobRow(blob_id, record_id, RECORD_BLOB, None, COMMITTED, size, size, None, 0, b"", None, now, now)


def manifest(job: FhirExport, base: str) -> dict[str, Any]:
    return {
        "transactionTime": iso(job.started),
        "request": job.request,
        "requiresAccessToken": True,
        "output": [
            {"type": kind, "url": f"{base}/$export-files/{job.job_id}/{kind}.ndjson", "count": count}
            for kind, count in counts(job).items()
            if count
        ],
        "error": [],
    }
