"""Bulk export jobs (``fhir_exports``): kept in the store, so that a job
outlives the server process that started it and every process of a shared
store answers for it. A job's runner beats a heartbeat into its row; a
running job whose heartbeat stopped is taken over by the next process that
claims it (one only: the claim is a conditional update)."""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from ..rows import FhirExport
from .dialect import SqlTable

_COLUMNS = "job_id, record_id, app_id, types, since, state, error, counts, started, heartbeat, request"


def _job(r: Sequence[Any]) -> FhirExport:
    return FhirExport(
        str(r[0]),
        str(r[1]),
        str(r[2]),
        tuple(t for t in str(r[3]).split(",") if t),
        None if r[4] is None else float(r[4]),
        str(r[5]),
        str(r[6]),
        str(r[7]),
        float(r[8]),
        float(r[9]),
        str(r[10]),
    )


class FhirExports(SqlTable):
    """The export jobs of :class:`~..fhirtables.FhirExportTable`, mixed into the FHIR index table."""

    def add_export(self, job: FhirExport) -> None:
        self.db.run(
            f"INSERT INTO fhir_exports({_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (
                job.job_id,
                job.record_id,
                job.app_id,
                ",".join(job.types),
                job.since,
                job.state,
                job.error,
                job.counts or json.dumps({}),
                job.started,
                job.heartbeat,
                job.request,
            ),
        )

    def export(self, job_id: str) -> FhirExport | None:
        row = self.db.one(f"SELECT {_COLUMNS} FROM fhir_exports WHERE job_id = ?", (job_id,))
        return None if row is None else _job(row)

    def exports(self) -> list[FhirExport]:
        return [_job(r) for r in self.db.all(f"SELECT {_COLUMNS} FROM fhir_exports ORDER BY started, job_id")]

    def claim_export(self, job_id: str, heartbeat: float, stale_before: float) -> bool:
        return (
            self.db.run(
                "UPDATE fhir_exports SET heartbeat = ? WHERE job_id = ? AND state = 'running' AND heartbeat < ?",
                (heartbeat, job_id, stale_before),
            )
            == 1
        )

    def finish_export(self, job_id: str, state: str, error: str, counts: str) -> None:
        self.db.run(
            "UPDATE fhir_exports SET state = ?, error = ?, counts = ? WHERE job_id = ?", (state, error, counts, job_id)
        )

    def remove_export(self, job_id: str) -> bool:
        return self.db.run("DELETE FROM fhir_exports WHERE job_id = ?", (job_id,)) == 1
