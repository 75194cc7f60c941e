"""DocumentReference for file things, end to end over raw HTTP: a file
stored with the SDK is found and read as a valid R4 DocumentReference whose
attachment URL serves the file's bytes from the blob store, unchanged, in
constant memory (the server's RSS does not grow with the file), with the
same authorization as every FHIR read. A DocumentReference imported with
its bytes as base64 makes a file thing holding them (once per identifier,
a new version when the bytes change); one with a URL only is refused,
whole."""

from __future__ import annotations

import base64
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


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Any:
    base = tmp_path_factory.mktemp("documents")
    server = start_server(base / "srv")
    try:
        run = in_terminal(["token", "--json"], hvgen_env(base, server.profile_path), timeout=300)
        assert run.code == 0, run.output
        yield server, {"Authorization": "Bearer " + json.loads(run.output[run.output.index("{") :])["token"]}
    finally:
        server.stop()


def test_a_file_is_a_document_reference_whose_attachment_streams_its_bytes(served: Any, tmp_path: Path) -> None:
    server, headers = served
    path = tmp_path / "report.pdf"
    digest = hashlib.sha256()
    with open(path, "wb") as out:
        for n in range(SIZE // (1 << 20)):
            piece = hashlib.sha512(str(n).encode()).digest() * (1 << 14)  # 1 MiB
            out.write(piece)
            digest.update(piece)
    with server.client() as client:
        stored = transfer.put_file(client, path)
    found = httpx.get(server.url + "/fhir/DocumentReference", headers=headers, params={"_id": stored.thing_id})
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
    assert refused.status_code == 422 and "no data" in refused.json()["issue"][0]["diagnostics"]


def document(data: bytes, ident: str = "d-1") -> dict[str, Any]:
    return {
        "resourceType": "DocumentReference",
        "status": "current",
        "identifier": [{"system": "urn:example:docs", "value": ident}],
        "content": [
            {"attachment": {"contentType": "text/plain", "title": "note.txt", "data": base64.b64encode(data).decode()}}
        ],
    }


def test_a_document_reference_imported_with_its_bytes_makes_a_file_thing(served: Any) -> None:
    server, headers = served
    url = server.url + "/fhir/DocumentReference"
    made = httpx.post(url, json=document(b"first words\n"), headers=headers, timeout=60)
    assert made.status_code == 201, made.text
    construct("DocumentReference", copy.deepcopy(made.json()))
    (content,) = made.json()["content"]
    assert content["attachment"]["title"] == "note.txt" and content["attachment"]["size"] == 12
    assert httpx.get(content["attachment"]["url"], headers=headers, timeout=60).content == b"first words\n"
    again = httpx.post(url, json=document(b"first words\n"), headers=headers, timeout=60)
    assert again.status_code == 200 and again.json()["id"] == made.json()["id"]  # the same identifier: no second
    assert again.json()["meta"]["versionId"] == made.json()["meta"]["versionId"]  # nothing changed
    changed = httpx.post(url, json=document(b"other words\n"), headers=headers, timeout=60)  # the same size
    assert changed.status_code == 200 and changed.json()["id"] == made.json()["id"]
    assert changed.json()["meta"]["versionId"] != made.json()["meta"]["versionId"]
    (content,) = changed.json()["content"]
    assert httpx.get(content["attachment"]["url"], headers=headers, timeout=60).content == b"other words\n"
    by_url = document(b"x", "d-2")
    by_url["content"][0]["attachment"] = {"contentType": "text/plain", "url": content["attachment"]["url"]}
    bundle = {
        "resourceType": "Bundle",
        "type": "transaction",
        "entry": [{"resource": document(b"kept?", "d-3")}, {"resource": by_url}],
    }
    refused = httpx.post(server.url + "/fhir", json=bundle, headers=headers, timeout=60)
    assert refused.status_code == 422 and "no data" in refused.json()["issue"][0]["diagnostics"]
    listed = httpx.get(url, headers=headers, timeout=60).json()["entry"]
    idents = [i["value"] for e in listed for i in e["resource"]["identifier"] if i.get("system") == "urn:example:docs"]
    assert idents == ["d-1"]  # nothing of the refused Bundle was stored
