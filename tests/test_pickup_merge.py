"""`hvgen package pickup` into a record that already holds the study: merged
or left as it is, never a second study thing with the same Study Instance
UID; the command says which."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pydicom

from healthvault import crypto

from .dicomgen import make_study
from .test_imaging import cli


def package(server, folder: Path, answer: str = "saint mary") -> str:
    code, out = cli(
        server, "package", "create", str(folder), "--question", "Clinic?", "--answer", answer, "--name", "CT",
        "--json", "--no-progress",
    )  # fmt: skip
    assert code == 0, out
    return str(json.loads(out)["package_id"])


def studies(server) -> list[dict]:
    code, out = cli(server, "study", "list", "--json")
    assert code == 0, out
    return json.loads(out)


def test_picking_up_a_study_the_record_holds_merges_or_leaves_it(new_server, tmp_path: Path) -> None:
    server = new_server()
    first = tmp_path / "first"
    uids = make_study(first, series=1, images=2, size=32, seed=41)
    study = str(uids["study_uid"])
    assert cli(server, "study", "upload", str(first), "--no-progress")[0] == 0
    held = studies(server)
    assert len(held) == 1

    # the same study with one more series: merged into the study the record holds
    more = tmp_path / "more"
    shutil.copytree(first, more)
    extra = make_study(more / "extra", series=1, images=3, size=32, seed=42, study_uid=study)
    code, out = cli(server, "package", "pickup", package(server, more), "--answer", "saint mary", "--no-progress")
    assert code == 0, out
    assert "added 0 thing(s)" in out, out
    assert (
        f"study {study}: patient DOE JANE, 2 series, 5 images (thing {held[0]['thing_id']}): merged into the study"
        in out
    ), out
    now = studies(server)
    assert len(now) == 1 and now[0]["thing_id"] == held[0]["thing_id"]
    assert now[0]["series"] == 2 and now[0]["images"] == 5
    copy = tmp_path / "copy"
    assert cli(server, "study", "download", study, str(copy), "--no-progress")[0] == 0
    for original in more.rglob("*.dcm"):
        sop = pydicom.dcmread(original, stop_before_pixels=True).SOPInstanceUID
        assert next(copy.rglob(f"{sop}.dcm")).read_bytes() == original.read_bytes()
    assert extra["series_uids"][0] in cli(server, "study", "show", study)[1]

    # the same again: the record has all of it, nothing is added
    code, out = cli(server, "package", "pickup", package(server, more), "--answer", "saint mary", "--json")
    assert code == 0, out
    answer = json.loads(out)
    assert answer["outcomes"] == [{"thing_id": held[0]["thing_id"], "outcome": "unchanged"}]
    assert studies(server) == now  # nothing changed

    # another study: a new thing, as before
    other = tmp_path / "other"
    make_study(other, series=1, images=1, size=32, seed=43)
    code, out = cli(server, "package", "pickup", package(server, other), "--answer", "saint mary", "--json")
    assert code == 0, out
    assert [o["outcome"] for o in json.loads(out)["outcomes"]] == ["created"]
    assert len(studies(server)) == 2


def test_merging_into_a_signed_study_says_its_signature_was_removed(new_server, tmp_path: Path) -> None:
    server = new_server()
    key, cert = tmp_path / "key.pem", tmp_path / "cert.pem"
    k, c = crypto.make_key_and_certificate("Radiologist")
    key.write_bytes(crypto.key_pem(k))
    cert.write_bytes(crypto.cert_pem(c))
    first = tmp_path / "first"
    uids = make_study(first, series=1, images=1, size=32, seed=44)
    code, out = cli(server, "study", "upload", str(first), "--sign", "--key", str(key), "--cert", str(cert))
    assert code == 0, out
    assert studies(server)[0]["signed"]
    more = tmp_path / "more"
    make_study(more, series=1, images=1, size=32, seed=45, study_uid=str(uids["study_uid"]))
    code, out = cli(server, "package", "pickup", package(server, more), "--answer", "saint mary", "--no-progress")
    assert code == 0, out
    assert "its signature, which did not cover what was added, was removed" in out
    [merged] = studies(server)
    assert merged["images"] == 2 and not merged["signed"]
