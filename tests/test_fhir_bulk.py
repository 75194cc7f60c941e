"""Bulk export jobs kept in the store: a job outlives the server that ran it
(a restarted server answers its status and serves its files, and so does
another server process of the store, on each backend), a job whose
runner stopped is run again by the next process asked about it (and not one
whose runner still beats), and a job is only its own caller's."""

from __future__ import annotations

import json
import time
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import httpx
import pytest
from lxml import etree

from hvgen_server.fhir.access import Caller
from hvgen_server.fhir.bulk import ExportJobs, blob_of, counts
from hvgen_server.store import LocalBlobFiles
from hvgen_server.store.rows import FhirExport

from .fhirthings import FHIR
from .localserver import start_server
from .terminal import hvgen_env, in_terminal
from .test_fhir_stored import put

construct = pytest.importorskip("fhir.resources").construct_fhir_element
#: How long a job may take on a loaded machine (it is polled, not timed).
PATIENCE = 180.0


def wait_done(store: Any, job_id: str) -> FhirExport:
    deadline = time.monotonic() + PATIENCE
    while time.monotonic() < deadline:
        with store.read() as tx:
            job = tx.fhir.export(job_id)
        assert job is not None
        if job.state != "running":
            return job
        time.sleep(0.1)
    raise AssertionError("the export did not end")


def job_row(job_id: str, record: str, heartbeat: float) -> FhirExport:
    return FhirExport(job_id, record, "", ("Patient", "Observation"), None, "running", "", "{}", 1.0, heartbeat, "-")


def test_a_job_whose_runner_stopped_is_run_again_and_one_still_beating_is_not(new_store, tmp_path: Path) -> None:
    store = new_store()
    record = store.add_record("r", [store.add_application("a", "-", "T")])[0]
    weight = b"<weight><when><date><y>2024</y><m>3</m><d>1</d></date></when><value><kg>70</kg></value></weight>"
    put(store, record, etree.fromstring(weight))
    files = LocalBlobFiles(tmp_path / "blobs")
    platform: Any = SimpleNamespace(store=store, fhir=FHIR, files=files, config=SimpleNamespace(data_dir=tmp_path))
    with store.write() as tx:  # as a server that stopped while running it left it
        tx.fhir.add_export(job_row("stopped", record, heartbeat=1.0))
        tx.fhir.add_export(job_row("beating", record, heartbeat=time.time() + 3600))
    jobs = ExportJobs(platform)
    person = Caller(record, None)
    assert jobs.get("stopped", Caller(record, "another-app")) is None  # not its job
    assert jobs.get("stopped", person) is not None  # taken over, run here
    done = wait_done(store, "stopped")
    assert done.state == "done" and counts(done) == {"Patient": 1, "Observation": 1}
    blobs = [blob_of(done, kind) for kind in ("Patient", "Observation")]
    for kind, blob_id in zip(("Patient", "Observation"), blobs, strict=True):
        assert blob_id is not None
        (line,) = files.read_all(blob_id).decode().splitlines()  # a blob of the store's blob bytes
        construct(kind, json.loads(line))
    again = jobs.get("beating", person)
    assert again is not None and again.state == "running"
    time.sleep(0.5)
    with store.read() as tx:  # its own runner still beats: nothing ran it here
        beating = tx.fhir.export("beating")
    assert beating is not None and beating.state == "running" and beating.heartbeat > time.time() + 3000
    assert jobs.remove("stopped", person)
    with store.read() as tx:
        assert tx.fhir.export("stopped") is None and [j.job_id for j in tx.fhir.exports()] == ["beating"]
        assert all(tx.blobs.get(str(b)) is None for b in blobs)  # the files went with the job
    assert not any((tmp_path / "blobs" / str(b)[:2] / str(b)).exists() for b in blobs)


def test_an_export_job_survives_a_restart_and_is_served_by_every_process_of_the_store(
    new_server, tmp_path: Path
) -> None:
    server = new_server()
    run = in_terminal(["token", "--json"], hvgen_env(tmp_path, server.profile_path), timeout=300)
    assert run.code == 0, run.output
    headers = {"Authorization": "Bearer " + json.loads(run.output[run.output.index("{") :])["token"]}
    kicked = httpx.get(
        server.url + "/fhir/$export",
        params={"_type": "Patient", "_since": "2020-01-01T00:00:00Z"},
        headers={**headers, "Prefer": "respond-async"},
        timeout=60,
    )
    assert kicked.status_code == 202, kicked.text
    status = kicked.headers["Content-Location"]
    deadline = time.monotonic() + PATIENCE
    while (answer := httpx.get(status, headers=headers, timeout=60)).status_code == 202:
        assert time.monotonic() < deadline, "the export did not end"
        time.sleep(0.2)
    assert answer.status_code == 200, answer.text
    manifest = answer.json()
    assert "_since=2020-01-01" in manifest["request"]
    server.stop()
    server.start()  # a new process: the job is read from the store
    after = httpx.get(status, headers=headers, timeout=60)
    assert after.status_code == 200 and after.json() == manifest
    second = server.another_process(tmp_path / "second")
    try:  # another process of the store answers for the job and serves its file
        there = httpx.get(status.replace(server.url, second.url), headers=headers, timeout=60)
        assert there.status_code == 200, there.text
        (output,) = there.json()["output"]
        assert output["url"].startswith(second.url)
        got = httpx.get(output["url"], headers=headers, timeout=60)
        assert got.status_code == 200 and got.headers["content-type"].startswith("application/fhir+ndjson")
        (line,) = got.text.splitlines()
        construct("Patient", json.loads(line))
        assert httpx.get(output["url"], timeout=60).status_code == 401  # the same token is needed
    finally:
        second.stop()
    bad = httpx.get(
        server.url + "/fhir/$export",
        params={"_since": "yesterday"},
        headers={**headers, "Prefer": "respond-async"},
        timeout=60,
    )
    assert bad.status_code == 400 and "_since" in bad.json()["issue"][0]["diagnostics"]
    assert httpx.delete(status, headers=headers, timeout=60).status_code == 202
    assert httpx.get(status, headers=headers, timeout=60).status_code == 404


def bp(ident: str, systolic: int) -> str:
    quantity = '"system": "http://unitsofmeasure.org", "code": "mm[Hg]", "unit": "mmHg"'
    return json.dumps(
        {
            "resourceType": "Observation",
            "status": "final",
            "identifier": [{"system": "urn:example:cuff", "value": ident}],
            "code": {"coding": [{"system": "http://loinc.org", "code": "85354-9"}]},
            "effectiveDateTime": "2024-03-01T08:00:00Z",
            "component": [
                {"code": {"coding": [{"system": "http://loinc.org", "code": c}]}, "valueQuantity": json.loads(q)}
                for c, q in (
                    ("8480-6", f'{{"value": {systolic}, {quantity}}}'),
                    ("8462-4", f'{{"value": 80, {quantity}}}'),
                )
            ],
        }
    )


def test_hvgen_fhir_export_since_its_last_time_gets_only_what_changed(tmp_path: Path) -> None:
    server = start_server(tmp_path / "srv")
    env = hvgen_env(tmp_path, server.profile_path)
    try:
        (tmp_path / "one.ndjson").write_text(bp("r-1", 120) + "\n")
        assert in_terminal(["fhir", "import", str(tmp_path / "one.ndjson")], env, timeout=300).code == 0
        first = in_terminal(["fhir", "export", "--out", str(tmp_path / "all"), "--json"], env, timeout=300)
        assert first.code == 0, first.output
        since = json.loads(first.output[first.output.index("{") :])["transactionTime"]
        assert len((tmp_path / "all" / "Observation.ndjson").read_text().splitlines()) == 1
        nothing = in_terminal(
            ["fhir", "export", "--out", str(tmp_path / "none"), "--since", since, "--type", "Observation"],
            env,
            timeout=300,
        )
        assert nothing.code == 0, nothing.output
        assert "next time: --since 20" in nothing.output and not (tmp_path / "none" / "Observation.ndjson").exists()
        (tmp_path / "two.ndjson").write_text(bp("r-2", 130) + "\n")
        assert in_terminal(["fhir", "import", str(tmp_path / "two.ndjson")], env, timeout=300).code == 0
        changed = in_terminal(
            ["fhir", "export", "--out", str(tmp_path / "new"), "--since", since, "--type", "Observation"],
            env,
            timeout=300,
        )
        assert changed.code == 0, changed.output
        (line,) = (tmp_path / "new" / "Observation.ndjson").read_text().splitlines()
        resource = json.loads(line)
        construct("Observation", resource)
        assert {"system": "urn:example:cuff", "value": "r-2"} in resource["identifier"]
        assert not (tmp_path / "new" / "Patient.ndjson").exists()  # --type: Observation only
        # into the folder of the whole export: the files this export did not write are named
        again = in_terminal(
            ["fhir", "export", "--out", str(tmp_path / "all"), "--type", "Observation"], env, timeout=300
        )
        assert again.code == 0, again.output
        assert f"note: {tmp_path / 'all' / 'Patient.ndjson'} is not from this export" in again.output, again.output
        # what the platform refuses of --since or --type is a usage error (exit 2)
        for option, value in (("--since", "yesterday"), ("--type", "NoSuchType")):
            bad = in_terminal(["fhir", "export", "--out", str(tmp_path / "bad"), option, value], env, timeout=300)
            assert bad.code == 2 and "Invalid value for '--since' / '--type'" in bad.output, bad.output
            assert "Traceback" not in bad.output
    finally:
        server.stop()
