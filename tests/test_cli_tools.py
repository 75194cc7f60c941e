"""blob, thing, roundtrip and serve run as a user runs them: a separate
process, default flags, in a pseudo-terminal or piped; bad paths, busy
ports and wrong names give one-line errors and leave nothing behind."""

from __future__ import annotations

import json
import os
import socket
from pathlib import Path

import pytest

from healthvault import codec, crypto

from .dicomgen import make_study
from .localserver import RunningServer, free_port, start_server
from .terminal import assert_clean, hvgen_env, in_terminal, invoke, piped


@pytest.fixture(scope="module")
def platform(tmp_path_factory: pytest.TempPathFactory):
    running = start_server(tmp_path_factory.mktemp("tools-platform"))
    yield running
    running.stop()


@pytest.fixture
def env(platform: RunningServer, tmp_path: Path) -> dict[str, str]:
    return hvgen_env(tmp_path / "home", platform.profile_path)


@pytest.fixture
def stored(env: dict[str, str], tmp_path: Path) -> tuple[str, Path]:
    """A file stored with `hvgen blob put`: its thing id and the file."""
    data = bytes(range(256)) * 12000  # 3 MB: streamed, not inline
    path = tmp_path / "scan.bin"
    path.write_bytes(data)
    run = invoke(["blob", "put", str(path), "--json"], env)
    assert run.code == 0, run.stderr
    return json.loads(run.output)["thing_id"], path


def test_blob_put_get_hash_in_a_terminal_and_as_json(
    env: dict[str, str], stored: tuple[str, Path], tmp_path: Path
) -> None:
    thing_id, path = stored
    run = in_terminal(["blob", "put", str(path)], env)
    assert run.code == 0 and run.has_bar("uploading scan.bin"), run.output
    assert run.lines[-2].startswith("thing id: ") and run.lines[-1].startswith("url:      http")
    out = tmp_path / "copy.bin"
    run = in_terminal(["blob", "get", thing_id, str(out)], env)
    assert run.code == 0 and run.has_bar("downloading copy.bin"), run.output
    assert_clean(run)
    assert out.read_bytes() == path.read_bytes()
    run = piped(["blob", "get", thing_id, str(tmp_path / "j.bin"), "--json"], env)
    assert json.loads(run.output) == {
        "path": str(tmp_path / "j.bin"),
        "bytes": path.stat().st_size,
        "hash_checked": True,
        "thing_id": thing_id,
        "blob": "",
        "range": None,
    }
    run = piped(["blob", "get", thing_id, str(tmp_path / "r.bin"), "--range", "0-9", "--json"], env)
    assert json.loads(run.output)["range"] == [0, 9] and (tmp_path / "r.bin").read_bytes() == path.read_bytes()[:10]
    run = in_terminal(["blob", "hash", str(path)], env)
    assert run.code == 0 and run.has_bar("hashing scan.bin"), run.output
    digest = run.lines[-1]
    run = piped(["blob", "hash", str(path), "--json"], env)
    assert json.loads(run.output)["hash"] == digest and json.loads(run.output)["size"] == path.stat().st_size
    # the former option spellings still work
    run = piped(["blob", "put", str(path), "--name", "renamed.bin", "--json"], env)
    assert json.loads(run.output)["name"] == "renamed.bin"
    run = piped(["blob", "get", thing_id, str(tmp_path / "n.bin"), "--name", ""], env)
    assert run.code == 0, run.stderr


def test_blob_get_bad_outputs_and_ranges_leave_nothing(
    env: dict[str, str], stored: tuple[str, Path], tmp_path: Path
) -> None:
    thing_id, path = stored
    through_file = tmp_path / "plain"
    through_file.write_text("x")
    cases = {
        "/proc/hvgen-test/x.bin": "cannot write /proc/hvgen-test/x.bin: folder /proc/hvgen-test does not exist",
        str(through_file / "x.bin"): f"cannot write {through_file / 'x.bin'}: {through_file} is not a folder",
    }
    for out, message in cases.items():
        run = piped(["blob", "get", thing_id, out], env)
        assert run.code == 1, out
        assert_clean(run)
        assert run.stderr.strip() == f"Error: {message}"
    run = piped(["blob", "get", thing_id, str(tmp_path)], env)
    assert run.code == 2 and "is a directory" in run.stderr
    run = piped(["blob", "get", thing_id, "/proc/version"], env)  # a file that exists and cannot be replaced
    assert run.code == 1 and run.stderr.startswith("Error: cannot write /proc/") and "Traceback" not in run.stderr
    ranged = tmp_path / "r.bin"
    run = piped(["blob", "get", thing_id, str(ranged), "--range", "5-2"], env)
    assert run.code == 2 and "'5-2' ends before it starts" in run.stderr and not ranged.exists()
    run = piped(["blob", "get", thing_id, str(ranged), "--range", f"{10**9}-"], env)
    assert run.code == 1 and "outside the blob" in run.stderr and not ranged.exists()
    ranged.write_bytes(b"keep me")
    run = piped(["blob", "get", thing_id, str(ranged), "--range", f"{10**9}-{10**9 + 5}"], env)
    assert run.code == 1 and ranged.read_bytes() == b"keep me", "a failed download leaves the old file as it was"
    assert not list(tmp_path.glob(".*.part"))
    run = piped(["blob", "get", thing_id, str(ranged), "--blob", "nope"], env)
    assert (
        run.code == 1
        and run.stderr.strip() == f"Error: thing {thing_id} has no blob named 'nope'; its blobs: the default blob"
    )


def test_thing_get_list_put_remove(env: dict[str, str], stored: tuple[str, Path], tmp_path: Path) -> None:
    thing_id, _ = stored
    run = invoke(["thing", "list", "--type", "file"], env)
    assert run.code == 0, run.stderr
    assert run.output.splitlines()[0].split() == ["TYPE", "DATE", "THING", "ID"]
    assert any(line.startswith("file ") and line.endswith(thing_id) for line in run.output.splitlines())
    rows = json.loads(invoke(["thing", "list", "--json"], env).output)
    assert {"thing_id": thing_id, "type": "file"}.items() <= next(r for r in rows if r["thing_id"] == thing_id).items()
    run = invoke(["thing", "list", "--type", "nosuch"], env)
    assert run.code == 2 and "'nosuch' is neither a type id nor a known type" in run.stderr
    xml_path = tmp_path / "thing.xml"
    run = invoke(["thing", "get", thing_id, "-o", str(xml_path), "--section", "blobpayload"], env)
    assert run.code == 0, run.stderr
    thing = codec.read_thing(xml_path.read_bytes())
    assert thing.thing_id.value == thing_id and thing.blob_payload.blob[0].blob_info.name == ""
    shown = json.loads(invoke(["thing", "get", thing_id, "--json"], env).output)
    assert shown["type"] == "file" and codec.read_thing(shown["xml"].encode()).thing_id.value == thing_id
    # update: the data changes, the blob stays
    thing.data_xml[0].any_element.name = "renamed.bin"
    thing.blob_payload = None
    xml_path.write_bytes(codec.write_thing(thing))
    run = invoke(["thing", "put", str(xml_path)], env)
    assert run.code == 0 and run.output.startswith(f"updated thing {thing_id} (version "), run.stderr
    run = invoke(["thing", "put", str(xml_path)], env)  # the version stamp is stale now
    assert run.code == 1 and "VERSION_STAMP_MISMATCH" in run.stderr
    assert invoke(["blob", "get", thing_id, str(tmp_path / "still.bin")], env).code == 0
    # create: no thing id
    thing.thing_id = None
    xml_path.write_bytes(codec.write_thing(thing))
    created = json.loads(invoke(["thing", "put", str(xml_path), "--json"], env).output)
    assert created["created"] and created["thing_id"] != thing_id
    run = invoke(["thing", "remove", created["thing_id"]], env)
    assert run.code == 0 and run.output.strip() == f"removed thing {created['thing_id']} (file)"
    run = invoke(["thing", "get", created["thing_id"]], env)
    assert run.code == 1 and run.stderr.strip() == f"Error: no thing {created['thing_id']} in the record"
    (tmp_path / "bad.xml").write_text("<thing><nope/></thing>")
    run = invoke(["thing", "put", str(tmp_path / "bad.xml")], env)
    assert run.code == 1 and run.stderr.startswith(f"Error: {tmp_path / 'bad.xml'}: ")


def test_thing_put_keeps_a_signature_unless_told(env: dict[str, str], tmp_path: Path) -> None:
    folder = tmp_path / "CT"
    uids = make_study(folder, series=1, images=1, size=32, seed=71)
    key, cert = crypto.make_key_and_certificate("Signer")
    (tmp_path / "key.pem").write_bytes(crypto.key_pem(key))
    (tmp_path / "cert.pem").write_bytes(crypto.cert_pem(cert))
    assert (
        invoke(
            [
                "study",
                "upload",
                str(folder),
                "--sign",
                "--key",
                str(tmp_path / "key.pem"),
                "--cert",
                str(tmp_path / "cert.pem"),
            ],
            env,
        ).code
        == 0
    )
    thing_id = json.loads(invoke(["study", "list", "--json"], env).output)
    thing_id = next(s["thing_id"] for s in thing_id if s["study_uid"] == uids["study_uid"])
    assert invoke(["thing", "get", thing_id, "-o", str(tmp_path / "s.xml")], env).code == 0
    run = invoke(["thing", "put", str(tmp_path / "s.xml")], env)
    assert run.code == 1 and "is signed" in run.stderr and "--unsigned-ok" in run.stderr
    run = invoke(["thing", "put", str(tmp_path / "s.xml"), "--unsigned-ok"], env)
    assert run.code == 0, run.stderr


def test_sign_and_verify_refuse_unknown_blob_names_and_speak_json(tmp_path: Path) -> None:
    from .test_signing import thing_with

    env = hvgen_env(tmp_path / "home")
    data = b"D" * 5000
    (tmp_path / "scan.dcm").write_bytes(data)
    key, cert = crypto.make_key_and_certificate("Signer")
    (tmp_path / "key.pem").write_bytes(crypto.key_pem(key))
    (tmp_path / "cert.pem").write_bytes(crypto.cert_pem(cert))
    (tmp_path / "thing.xml").write_bytes(codec.write_thing(thing_with({"scan": data})))
    signer = ["--key", str(tmp_path / "key.pem"), "--cert", str(tmp_path / "cert.pem")]
    run = piped(["thing", "sign", str(tmp_path / "thing.xml"), *signer, "--blob", f"scna={tmp_path / 'scan.dcm'}"], env)
    assert run.code == 1 and run.stderr.strip() == "Error: the thing has no blob named 'scna'; its blobs: 'scan'"
    signed = tmp_path / "signed.xml"
    run = piped(
        [
            "thing",
            "sign",
            str(tmp_path / "thing.xml"),
            *signer,
            "--blob",
            f"scan={tmp_path / 'scan.dcm'}",
            "-o",
            str(signed),
            "--json",
        ],
        env,
    )
    assert run.code == 0 and json.loads(run.output)["output"] == str(signed) and signed.exists()
    run = piped(["thing", "verify", str(signed), "--blob", f"other={tmp_path / 'scan.dcm'}"], env)
    assert run.code == 1 and "no blob named 'other'" in run.stderr and "valid" not in run.output
    run = piped(["thing", "verify", str(signed), "--blob", f"scan={tmp_path / 'scan.dcm'}", "--json"], env)
    result = json.loads(run.output)
    assert run.code == 0 and result["valid"] and result["blobs_checked"] == ["scan"] and result["problems"] == []
    (tmp_path / "scan.dcm").write_bytes(b"E" + data[1:])
    run = piped(["thing", "verify", str(signed), "--blob", f"scan={tmp_path / 'scan.dcm'}", "--json"], env)
    assert run.code == 1 and json.loads(run.output)["problems"][0]["part"] == "blob:scan"


def test_a_key_and_certificate_that_do_not_go_together_are_refused_before_signing(tmp_path: Path) -> None:
    """thing sign and study upload --sign check the pair first: nothing is written or sent (the
    upload used to send every blob, then fail with BAD_SIG); files swapped are named."""
    from .test_signing import thing_with

    env = hvgen_env(tmp_path / "home")
    key, _ = crypto.make_key_and_certificate("Signer")
    _, other_cert = crypto.make_key_and_certificate("Someone else")
    (tmp_path / "key.pem").write_bytes(crypto.key_pem(key))
    (tmp_path / "cert.pem").write_bytes(crypto.cert_pem(other_cert))
    (tmp_path / "thing.xml").write_bytes(codec.write_thing(thing_with({"scan": b"D" * 100})))
    out = tmp_path / "signed.xml"
    pair = ["--key", str(tmp_path / "key.pem"), "--cert", str(tmp_path / "cert.pem")]
    run = piped(["thing", "sign", str(tmp_path / "thing.xml"), *pair, "-o", str(out)], env)
    assert run.code == 2 and not out.exists(), run.stderr
    assert "is not of the key" in run.stderr and "would not verify" in run.stderr
    assert_clean(run)
    make_study(tmp_path / "study", series=1, images=1, size=16, seed=66)
    run = piped(
        ["study", "upload", str(tmp_path / "study"), "--sign", *pair, "--profile", str(tmp_path / "none.json")], env
    )
    assert run.code == 2 and "is not of the key" in run.stderr, run.stderr  # (before the profile is even read)
    swapped = ["--key", str(tmp_path / "cert.pem"), "--cert", str(tmp_path / "key.pem")]
    run = piped(["thing", "sign", str(tmp_path / "thing.xml"), *swapped, "-o", str(out)], env)
    assert run.code == 1 and f"{tmp_path / 'cert.pem'} is not an unencrypted PEM private key" in run.stderr, run.stderr
    assert_clean(run)


def test_roundtrip_warnings_are_one_line_and_json(tmp_path: Path) -> None:
    env = hvgen_env(tmp_path / "home")
    odd = tmp_path / "odd.xml"
    odd.write_text("<medical-image-study><when>x</when><bogus/></medical-image-study>")
    run = in_terminal(["roundtrip", str(odd)], env)
    assert run.code == 0
    assert_clean(run)
    (warning,) = [line for line in run.lines if line.startswith("warning: ")]
    assert warning.startswith("warning: kept <medical-image-study> as raw XML: ")
    assert "/medical-image-study/when (line 1): text 'x'" in warning and "(and 3 more)" in warning
    run = piped(["roundtrip", str(odd), "--json"], env)
    result = json.loads(run.output)
    assert result["kind"] == "RawElement" and result["identical"] and "<bogus/>" in result["xml"]
    assert run.stderr.startswith("warning: kept <medical-image-study>")


def test_profile_problems_are_one_line(tmp_path: Path) -> None:
    empty = tmp_path / "empty.json"
    empty.write_text("{}")
    run = piped(["study", "list", "--profile", str(empty)], hvgen_env(tmp_path / "home"))
    assert run.code == 1
    assert run.stderr.strip() == (
        f"Error: client profile {empty} is incomplete: it lacks url, app_id, record_id, "
        "key_path, cert_path (`hvgen serve` writes a complete one)"
    )
    empty.write_text("")
    source = "http://127.0.0.1:1/blob"  # a usable URL: only the profile can be wrong
    run = piped(["blob", "get", source, str(tmp_path / "o"), "--profile", str(empty)], hvgen_env(tmp_path / "home"))
    assert run.code == 1 and run.stderr.startswith(f"Error: client profile {empty} is not valid JSON")


def test_serve_checks_port_and_paths_before_writing_anything(tmp_path: Path) -> None:
    env = hvgen_env(tmp_path / "home")
    running = start_server(tmp_path / "first")
    try:
        profile = tmp_path / "profile.json"
        profile.write_text("the running server's profile")
        other = tmp_path / "other-data"
        run = piped(
            ["serve", "--data", str(other), "--port", str(running.port), "--profile", str(profile)], env, timeout=60
        )
        assert run.code == 1
        assert run.stderr.strip() == (
            f"Error: cannot listen on 127.0.0.1:{running.port}: the address is already in use "
            "(another hvgen serve?); stop it or choose another --port"
        )
        assert profile.read_text() == "the running server's profile" and not other.exists()
    finally:
        running.stop()
    with socket.socket() as busy:  # any program holding the port
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        run = piped(
            ["serve", "--data", str(tmp_path / "d2"), "--port", str(busy.getsockname()[1]), "--no-profile"],
            env,
            timeout=60,
        )
        assert run.code == 1 and "already in use" in run.stderr and not (tmp_path / "d2").exists()
        dicom = busy.getsockname()[1]  # the DICOM service's port taken: its own option is named
        run = piped(
            [
                "serve",
                "--data",
                str(tmp_path / "d3"),
                "--port",
                str(free_port()),
                "--dicom-port",
                str(dicom),
                "--no-profile",
            ],
            env,
            timeout=60,
        )
        assert run.code == 1 and not (tmp_path / "d3").exists()
        assert run.stderr.strip() == (
            f"Error: cannot listen on 127.0.0.1:{dicom}: the address is already in use "
            "(another hvgen serve?); stop it or choose another --dicom-port"
        )
    port = str(free_port())
    run = piped(["serve", "--data", "/proc/hvgen-test", "--port", port, "--no-profile"], env)
    assert (
        run.code == 1
        and run.stderr.strip() == "Error: cannot create the store in /proc/hvgen-test: no such file or folder"
    )
    data = tmp_path / "data"
    assert piped(["serve", "--data", str(data), "--init-only", "--no-profile"], env).code == 0  # the store exists
    for target, why in (
        ("/proc/hvgen-test/profile.json", "no such file or folder"),
        (str(profile / "p.json"), f"{profile} is not a folder"),
    ):
        run = piped(["serve", "--data", str(data), "--port", port, "--profile", target], env)
        assert run.code == 1
        assert_clean(run)
        assert run.stderr.strip() == f"Error: cannot write the client profile {target}: {why}"
    run = piped(["serve", "--data", str(profile / "data"), "--port", port, "--no-profile"], env)
    assert (
        run.code == 1
        and run.stderr.strip() == f"Error: cannot use the store folder {profile / 'data'}: {profile} is not a folder"
    )
    run = piped(["serve", "--help"], env)
    assert "--trust" in run.output and "--signer-trust" not in run.output


@pytest.mark.skipif(os.geteuid() == 0, reason="root writes in read-only folders")
def test_serve_with_a_read_only_config_folder(tmp_path: Path) -> None:
    env = hvgen_env(tmp_path / "home")
    data, config = tmp_path / "data", tmp_path / "config"
    assert piped(["serve", "--data", str(data), "--init-only", "--no-profile"], env).code == 0
    config.mkdir()
    config.chmod(0o500)
    try:
        run = piped(
            ["serve", "--data", str(data), "--port", str(free_port()), "--profile", str(config / "p.json")], env
        )
    finally:
        config.chmod(0o700)
    assert (
        run.code == 1
        and run.stderr.strip() == f"Error: cannot write the client profile {config / 'p.json'}: permission denied"
    )
