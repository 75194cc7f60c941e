"""DICOMweb JSON answers are strict JSON (RFC 8259) whatever the instances hold:
a float value that is NaN or infinite (legal in FD and FL, and what pydicom reads
from a DS of "NaN") is sent as null, which every JSON parser reads, and not as
the ``NaN`` / ``Infinity`` Python's json writes, which strict parsers refuse."""

from __future__ import annotations

import json
import math
import uuid
from pathlib import Path
from typing import Any

import httpx
import pydicom
import pytest

from .dicomgen import make_study
from .localserver import start_server
from .test_dicomweb import token_of


def _strict(text: str) -> Any:
    def refuse(constant: str) -> Any:
        raise ValueError(f"{constant} is not JSON")

    return json.loads(text, parse_constant=refuse)


@pytest.mark.parametrize("how", ["stow", "upload"])
def test_metadata_and_qido_of_a_nan_value_are_strict_json(tmp_path: Path, how: str) -> None:
    made = make_study(tmp_path / "study", series=1, images=1, size=16, seed=5)
    path = next((tmp_path / "study").rglob("*.dcm"))
    ds = pydicom.dcmread(path)
    ds.DiffusionBValue = math.nan  # FD
    ds.SpacingBetweenSlices = "NaN"  # DS
    ds.save_as(path)
    server = start_server(tmp_path / "server")
    try:
        auth = {"Authorization": f"Bearer {token_of(server)}"}
        base = f"{server.url}/dicomweb"
        if how == "stow":  # metadata stored with the index row
            boundary = uuid.uuid4().hex
            body = (
                f"--{boundary}\r\nContent-Type: application/dicom\r\n\r\n".encode()
                + path.read_bytes()
                + f"\r\n--{boundary}--\r\n".encode()
            )
            stored = httpx.post(
                f"{base}/studies",
                content=body,
                headers={**auth, "Content-Type": f'multipart/related; type="application/dicom"; boundary={boundary}'},
                timeout=120,
            )
            assert stored.status_code == 200, stored.text
        else:  # metadata read from the file
            from .test_dicomweb import cli

            code, out = cli(server, "study", "upload", str(tmp_path / "study"), "--no-progress")
            assert code == 0, out
        answer = httpx.get(f"{base}/studies/{made['study_uid']}/metadata", headers=auth, timeout=60)
        assert answer.status_code == 200, answer.text
        (instance,) = _strict(answer.text)
        assert instance["00189087"] == {"vr": "FD", "Value": [None]}
        assert instance["00180088"]["Value"] == [None]
        found = httpx.get(f"{base}/instances", params={"includefield": "all"}, headers=auth, timeout=60)
        assert found.status_code == 200 and len(_strict(found.text)) == 1
    finally:
        server.stop()
