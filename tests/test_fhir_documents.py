"""DocumentReference for file things, end to end over raw HTTP: a file
stored with the SDK is found and read as a valid R4 DocumentReference whose
attachment URL serves the file's bytes from the blob store, unchanged, in
constant memory (the server's RSS does not grow with the file), with the
same authorization as every FHIR read."""

from __future__ import annotations

import copy
import hashlib
import json
from pathlib import Path
from typing import Any

import httpx
import pytest

from healthvault import transfer

from .localserver import start_server
from .terminal import hvgen_env, in_terminal

construct = pytest.importorskip("fhir.resources").construct_fhir_element
#: The file: far larger than what the server may hold while it sends it.
SIZE = 48 * 1024 * 1024
#: How much the server's RSS may grow while it sends the file.
MOST_GROWTH = 16 * 1024 * 1024


def rss(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    raise AssertionError("no VmRSS")


def test_a_file_is_a_document_reference_whose_attachment_streams_its_bytes(tmp_path: Path) -> None:
    path = tmp_path / "report.pdf"
    digest = hashlib.sha256()
    with open(path, "wb") as out:
        for n in range(SIZE // (1 << 20)):
            piece = hashlib.sha512(str(n).encode()).digest() * (1 << 14)  # 1 MiB
            out.write(piece)
            digest.update(piece)
    server = start_server(tmp_path / "srv")
    try:
        with server.client() as client:
            stored = transfer.put_file(client, path)
        run = in_terminal(["token", "--json"], hvgen_env(tmp_path, server.profile_path), timeout=300)
        assert run.code == 0, run.output
        headers = {"Authorization": "Bearer " + json.loads(run.output[run.output.index("{") :])["token"]}
        found = httpx.get(server.url + "/fhir/DocumentReference", headers=headers, timeout=60)
        assert found.status_code == 200, found.text
        (entry,) = found.json()["entry"]
        document: dict[str, Any] = entry["resource"]
        construct("DocumentReference", copy.deepcopy(document))  # raises on anything R4 does not allow
        assert document["id"] == stored.thing_id
        read = httpx.get(server.url + f"/fhir/DocumentReference/{stored.thing_id}", headers=headers, timeout=60)
        assert read.json() == document
        (content,) = document["content"]
        attachment = content["attachment"]
        assert attachment["contentType"] == "application/pdf" and attachment["size"] == SIZE
        assert attachment["title"] == "report.pdf"
        assert attachment["url"] == f"{server.url}/fhir/DocumentReference/{stored.thing_id}/attachment"
        assert server.process is not None
        before = peak = rss(server.process.pid)
        got = hashlib.sha256()
        with httpx.stream("GET", attachment["url"], headers=headers, timeout=120) as answer:
            assert answer.status_code == 200
            assert answer.headers["content-type"] == "application/pdf"
            assert answer.headers["content-disposition"] == "attachment"
            assert answer.headers["content-length"] == str(SIZE)
            for piece in answer.iter_bytes(1 << 16):
                got.update(piece)
                peak = max(peak, rss(server.process.pid))
        assert got.hexdigest() == digest.hexdigest()
        assert peak - before < MOST_GROWTH, f"the server's RSS grew by {(peak - before) >> 20} MiB"
        assert httpx.get(attachment["url"], timeout=60).status_code == 401  # the same token as every read
        missing = httpx.get(
            server.url + "/fhir/DocumentReference/00000000-0000-0000-0000-000000000000/attachment",
            headers=headers,
            timeout=60,
        )
        assert missing.status_code == 404 and missing.json()["resourceType"] == "OperationOutcome"
        refused = httpx.post(server.url + "/fhir/DocumentReference", json=document, headers=headers, timeout=60)
        assert refused.status_code == 422 and refused.json()["resourceType"] == "OperationOutcome"
    finally:
        server.stop()
