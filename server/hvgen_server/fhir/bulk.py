"""Bulk Data export jobs (FHIR Bulk Data Access IG, system-level ``$export``).

A kick-off starts a job in a thread of its own that writes one NDJSON file
per resource type into the server's data folder (``fhir-export/JOB``); the
status URL answers 202 while it runs, then the manifest, whose file URLs
need the same bearer token. A DELETE of the status URL removes the job and
its files. Jobs live as long as the server process.
"""

from __future__ import annotations

import secrets
import shutil
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..context import Platform
from ..xmltime import iso
from . import exporting
from .access import Caller

#: Jobs kept at once (a kick-off beyond them is answered 429).
MAX_JOBS = 4


@dataclass
class Job:
    job_id: str
    caller: Caller
    folder: Path
    types: list[str]
    started: float = field(default_factory=time.time)
    done: bool = False
    error: str | None = None
    counts: dict[str, int] = field(default_factory=dict)


class ExportJobs:
    def __init__(self) -> None:
        self._jobs: dict[str, Job] = {}
        self._lock = threading.Lock()

    def start(self, platform: Platform, caller: Caller, types: list[str]) -> Job | None:
        with self._lock:
            if len(self._jobs) >= MAX_JOBS:
                return None
            job_id = secrets.token_hex(16)
            job = Job(job_id, caller, platform.config.data_dir / "fhir-export" / job_id, types)
            self._jobs[job_id] = job
        threading.Thread(target=self._run, args=(platform, job), name=f"fhir-export-{job_id[:8]}", daemon=True).start()
        return job

    def get(self, job_id: str, caller: Caller) -> Job | None:
        job = self._jobs.get(job_id)
        return job if job is not None and job.caller == caller else None

    def remove(self, job_id: str, caller: Caller) -> bool:
        with self._lock:
            job = self._jobs.get(job_id)
            if job is None or job.caller != caller:
                return False
            del self._jobs[job_id]
        shutil.rmtree(job.folder, ignore_errors=True)
        return True

    def _run(self, platform: Platform, job: Job) -> None:
        try:
            job.folder.mkdir(parents=True, exist_ok=True)
            for kind in job.types:
                count = 0
                with open(job.folder / f"{kind}.ndjson", "wb") as out:
                    for line in exporting.lines(platform, job.caller, kind):
                        out.write(line)
                        count += 1
                job.counts[kind] = count
        except Exception as exc:  # the status URL says why
            job.error = f"the export failed: {exc}"
        job.done = True


def manifest(job: Job, base: str) -> dict[str, Any]:
    return {
        "transactionTime": iso(job.started),
        "request": f"{base}/$export",
        "requiresAccessToken": True,
        "output": [
            {"type": kind, "url": f"{base}/$export-files/{job.job_id}/{kind}.ndjson", "count": count}
            for kind, count in job.counts.items()
            if count
        ],
        "error": [],
    }
