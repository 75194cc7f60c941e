"""What a user sees when a command cannot finish, run as a user runs it:
URLs that cannot work and platforms that are not there (one line each,
saying what is wrong and what to check, before any other work), Ctrl-C in
the middle of a transfer (one line saying what is true of the work), a
--public-url that is not one, and the default blob named in words."""

from __future__ import annotations

import json
import threading
from pathlib import Path

import pytest

from healthvault import codec, crypto

from .dicomgen import make_study
from .localserver import RunningServer, free_port
from .relay import Counter, Relay
from .terminal import Run, assert_clean, hvgen_env, in_terminal, interrupted_in_terminal, invoke, piped

MIB = 1024 * 1024
#: What the profile of a platform that is not there is told, after "Error: ".
HINT = "is `hvgen serve` running?"


@pytest.fixture(scope="module")
def relayed(tmp_path_factory: pytest.TempPathFactory):
    """A platform whose clients reach it through a relay (its public URL),
    so that a test can stall a transfer part way."""
    base = tmp_path_factory.mktemp("failures-platform")
    port = free_port()
    relay = Relay(port)
    server = RunningServer(
        data=base / "data", port=port, profile_path=base / "profile.json", options=["--public-url", relay.url]
    )
    try:
        server.start()
        yield server, relay
    finally:
        server.stop()
        relay.close()


@pytest.fixture
def relay(relayed: tuple[RunningServer, Relay]):
    relay = relayed[1]
    yield relay
    relay.release()


@pytest.fixture
def env(relayed: tuple[RunningServer, Relay], tmp_path: Path) -> dict[str, str]:
    return hvgen_env(tmp_path / "home", relayed[0].profile_path)


def profile_at(tmp_path: Path, url: str) -> Path:
    """A complete profile (a real key and certificate) naming ``url``."""
    key, cert = crypto.make_key_and_certificate("app")
    (tmp_path / "key.pem").write_bytes(crypto.key_pem(key))
    (tmp_path / "cert.pem").write_bytes(crypto.cert_pem(cert))
    path = tmp_path / "profile.json"
    path.write_text(
        json.dumps(
            {
                "url": url,
                "app_id": "0be8c065-0c97-40b4-8670-aeefb04efcbf",
                "record_id": "393717c3-e84d-4083-a067-564def2a7d7e",
                "key_path": str(tmp_path / "key.pem"),
                "cert_path": str(tmp_path / "cert.pem"),
            }
        )
    )
    return path


def one_error(run: Run) -> str:
    """The one line a failed command printed (stderr when piped), without ``Error: ``."""
    assert_clean(run)
    lines = [line for line in (run.stderr or run.output).splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("Error: "), lines
    return lines[0].removeprefix("Error: ")


def profile_commands(tmp_path: Path) -> list[list[str]]:
    """Every command that reaches the platform of the profile, with real arguments."""
    from .test_signing import thing_with

    folder = tmp_path / "dicom"
    uids = make_study(folder, series=1, images=2)
    (tmp_path / "file.bin").write_bytes(b"x" * 1000)
    (tmp_path / "thing.xml").write_bytes(codec.write_thing(thing_with({})))
    study, series, thing_id = str(uids["study_uid"]), uids["series_uids"][0], "00000000-0000-0000-0000-000000000001"
    return [
        ["blob", "put", str(tmp_path / "file.bin")],
        ["blob", "get", thing_id, str(tmp_path / "out.bin")],
        ["thing", "get", thing_id],
        ["thing", "list"],
        ["thing", "put", str(tmp_path / "thing.xml")],
        ["thing", "remove", thing_id],
        ["study", "upload", str(folder)],
        ["study", "list"],
        ["study", "show", study],
        ["study", "download", study, str(tmp_path / "copy")],
        ["study", "add-series", study, str(folder)],
        ["study", "remove-series", study, series],
        ["study", "delete", study],
        ["package", "create", str(folder), "--question", "Q?", "--answer", "answer1", "--friendly-name", "CT"],
        ["package", "pickup", "ABCD-EFGH-IJKL-MNOP-QRST", "--answer", "answer1"],
        ["token"],
        ["viewer", "--print"],
    ]


# -- URLs -------------------------------------------------------------------------------------


BAD_URLS = {
    "http//bad-url": "it does not start with http:// or https:// (did you mean http://bad-url?)",
    "ftp://x/y": "ftp:// is not supported (only http:// and https://)",
    "http://127.0.0.1:80a80/x": "its port '80a80' is not a number from 1 to 65535",
    "http://127.0.0.1:99999/x": "its port 99999 is not a number from 1 to 65535",
    "notaurl": "it does not start with http:// or https://",
}


def test_a_blob_url_that_cannot_work_is_one_line(env: dict[str, str], tmp_path: Path) -> None:
    out = tmp_path / "out.bin"
    for url, why in BAD_URLS.items():
        run = piped(["blob", "get", url, str(out)], env)
        assert run.code == 1 and run.output == ""
        assert one_error(run) == f"{url!r} is neither a thing id (a GUID) nor a blob URL: {why}"
    run = in_terminal(["blob", "get", "http//bad-url", str(out)], env)
    assert run.code == 1 and run.lines == [
        f"Error: 'http//bad-url' is neither a thing id (a GUID) nor a blob URL: {BAD_URLS['http//bad-url']}"
    ]
    port = free_port()
    run = piped(["blob", "get", f"http://127.0.0.1:{port}/blob/x", str(out)], env)
    assert run.code == 1 and one_error(run) == (
        f"cannot download from http://127.0.0.1:{port}: connection refused (nothing is listening there); "
        "is the server running, and the URL right?"
    )
    assert not out.exists() and not list(tmp_path.glob(".*.part"))
    # a blob URL needs no profile: a user without one is told about the URL, not about profiles
    alone = hvgen_env(tmp_path / "nobody-home", tmp_path / "no-such-profile.json")
    run = in_terminal(["blob", "get", "http//bad-url", str(out)], alone)
    assert run.code == 1 and run.lines == [
        f"Error: 'http//bad-url' is neither a thing id (a GUID) nor a blob URL: {BAD_URLS['http//bad-url']}"
    ]


def test_a_profile_whose_url_cannot_work_is_named_by_every_command(tmp_path: Path) -> None:
    commands = profile_commands(tmp_path)
    for url, why in BAD_URLS.items():
        profile = profile_at(tmp_path, url)
        env = hvgen_env(tmp_path / "home", profile)
        expected = (
            f"client profile {profile} has url {url!r}, which is not a usable URL: {why}; "
            "correct it (`hvgen serve` writes a correct one for the local platform)"
        )
        for args in commands:
            run = invoke(args, env)  # in this process: an exception that escapes fails here
            assert run.code == 1, args
            assert one_error(run) == expected, args
    run = in_terminal(["study", "list"], env)
    assert run.code == 1 and run.lines == [f"Error: {expected}"]
    # the listener reads the profile before it listens: it does not start with one that cannot work
    run = piped(["dicom", "listen", "--port", "0"], env, timeout=60)
    assert run.code == 1 and one_error(run) == expected


def test_a_platform_that_is_not_there_fails_every_command_at_once(tmp_path: Path) -> None:
    """Something that closes every connection stands for a platform that is
    not there: each command tries it once, says so, and does nothing else
    first (no scanning, no previews, no retries)."""
    commands = profile_commands(tmp_path)
    with Counter() as platform:
        profile = profile_at(tmp_path, platform.url)
        env = hvgen_env(tmp_path / "home", profile)
        expected = (
            f"cannot reach the platform at {platform.url}: the server closed the connection without answering; "
            f"{HINT} (the client profile {profile} names {platform.url})"
        )
        for args in commands:
            before = platform.connections
            run = invoke(args, env)
            assert run.code == 1 and one_error(run) == expected, args
            assert platform.connections - before == 1, (args, platform.connections - before)
        for args in (commands[6], commands[14]):  # study upload, package pickup: as a user runs them
            before = platform.connections
            run = in_terminal(args, env)
            assert run.code == 1 and run.lines == [f"Error: {expected}"], run.output
            assert "scanning" not in run.output and "previews" not in run.output  # not even for a moment
            assert platform.connections - before == 1
    refused = profile_at(tmp_path, f"http://127.0.0.1:{free_port()}")
    for args in (commands[6], commands[14]):
        run = piped(args, hvgen_env(tmp_path / "home", refused), timeout=60)
        assert run.code == 1 and run.output == ""
        assert one_error(run).endswith(
            f": connection refused (nothing is listening there); {HINT} (the client profile {refused} names {json.loads(refused.read_text())['url']})"
        )


# -- Ctrl-C -----------------------------------------------------------------------------------


def interrupted_line(run: Run) -> str:
    """The line an interrupted command ended with; the bar it was drawing is
    not drawn again after the terminal echoed ^C (a bar drawn again, as wide
    as the line, shows twice), and click's `Aborted!` is not printed."""
    assert run.code == 130, run.output
    assert_clean(run)
    assert "Aborted!" not in run.output
    assert "^C" in run.output
    after = run.output.rsplit("^C", 1)[1]
    assert "%|" not in after and "/s]" not in after, after
    assert run.lines[-1].startswith("interrupted: "), run.lines
    return run.lines[-1].removeprefix("interrupted: ")


def file_things(env: dict[str, str]) -> list[str]:
    run = piped(["thing", "list", "--type", "file", "--json"], env)
    assert run.code == 0, run.stderr
    return [t["thing_id"] for t in json.loads(run.output)]


def test_ctrl_c_during_blob_put_says_the_file_was_not_stored(env: dict[str, str], relay: Relay, tmp_path: Path) -> None:
    big = tmp_path / "big.bin"
    with open(big, "wb") as f:
        f.truncate(64 * MIB)  # sparse: no disk used
    before = file_things(env)
    relay.hold(up=10 * MIB)  # the upload stalls after two or three 4 MiB chunks
    run = interrupted_in_terminal(
        ["blob", "put", str(big)], env, lambda out: relay.held.is_set() and "uploading" in out
    )
    relay.release()
    assert run.has_bar("uploading big.bin")
    assert interrupted_line(run) == f"{big} was not stored; run the same command again to upload it (from the start)"
    assert [line for line in run.lines if "uploading big.bin" in line][:-1] == []
    assert file_things(env) == before
    again = piped(["blob", "put", str(big), "--json"], env)
    assert again.code == 0 and json.loads(again.output)["size"] == 64 * MIB


def test_ctrl_c_during_blob_get_leaves_nothing_behind(env: dict[str, str], relay: Relay, tmp_path: Path) -> None:
    data = bytes(range(256)) * (48 * 4096)  # 48 MiB
    (tmp_path / "data.bin").write_bytes(data)
    stored = piped(["blob", "put", str(tmp_path / "data.bin"), "--json"], env)
    thing_id = json.loads(stored.output)["thing_id"]
    out = tmp_path / "copy.bin"
    relay.hold(down=8 * MIB)
    run = interrupted_in_terminal(
        ["blob", "get", thing_id, str(out)], env, lambda text: relay.held.is_set() and "downloading" in text
    )
    relay.release()
    assert interrupted_line(run) == (
        f"{out} was not written (nothing was left behind); run the same command again to download it (from the start)"
    )
    assert not out.exists() and not list(tmp_path.glob(".*.part"))
    assert piped(["blob", "get", thing_id, str(out)], env).code == 0 and out.read_bytes() == data


def test_ctrl_c_during_study_upload_resumes_when_run_again(env: dict[str, str], relay: Relay, tmp_path: Path) -> None:
    folder = tmp_path / "study"
    uids = make_study(folder, series=2, images=4, size=512)  # 8 files of ~512 KiB
    relay.hold(up=2 * MIB + MIB // 2)  # some files are stored when it stalls
    run = interrupted_in_terminal(
        ["study", "upload", str(folder)], env, lambda out: relay.held.is_set() and "uploading" in out
    )
    relay.release()
    assert interrupted_line(run) == "run the same command again to resume the upload where it stopped"
    listed = json.loads(piped(["study", "list", "--json"], env).output)
    assert str(uids["study_uid"]) not in [s["study_uid"] for s in listed], "nothing half-visible"
    again = piped(["study", "upload", str(folder), "--json", "--no-progress"], env)
    assert again.code == 0, again.stderr
    (result,) = json.loads(again.output)["studies"]
    assert result["created"] and result["images"] == 8 and result["resumed_blobs"] >= 3
    listed = json.loads(piped(["study", "list", "--json"], env).output)
    assert [s["study_uid"] for s in listed].count(str(uids["study_uid"])) == 1
    copy = tmp_path / "copy"
    relay.hold(down=MIB)
    run = interrupted_in_terminal(
        ["study", "download", str(uids["study_uid"]), str(copy)],
        env,
        lambda out: relay.held.is_set() and "downloading" in out,
    )
    relay.release()
    assert interrupted_line(run) == (
        f"the files downloaded so far are in {copy}; run the same command again to download the study "
        "(every file is fetched again)"
    )
    assert not list(copy.rglob(".*.part"))
    assert piped(["study", "download", str(uids["study_uid"]), str(copy)], env).code == 0
    for original in folder.rglob("*.dcm"):
        (match,) = [p for p in copy.rglob("*.dcm") if p.read_bytes() == original.read_bytes()]
        assert match


def test_a_connection_lost_during_study_upload_says_what_running_it_again_does(
    env: dict[str, str], relay: Relay, tmp_path: Path
) -> None:
    """The platform goes away mid-upload (the network, or the server stopped): the error line
    says what Ctrl-C would, that running the command again resumes."""
    make_study(tmp_path / "study", series=1, images=4, size=512, seed=72)
    relay.hold(up=MIB)
    done: list[Run] = []
    worker = threading.Thread(target=lambda: done.append(piped(["study", "upload", str(tmp_path / "study")], env)))
    worker.start()
    assert relay.held.wait(60), "the upload did not start"
    relay.cut()  # (gone: the connections cut, new ones closed at once)
    worker.join(120)
    (run,) = done
    assert run.code == 1, run.output + run.stderr
    assert_clean(run)
    line = run.stderr.strip().splitlines()[-1]
    assert line.startswith("Error: ") and line.endswith(
        "(run the same command again to resume the upload where it stopped)"
    ), run.stderr


def test_ctrl_c_during_package_create_says_no_package_was_made(
    env: dict[str, str], relay: Relay, tmp_path: Path
) -> None:
    folder = tmp_path / "study"
    make_study(folder, series=1, images=4, size=512)
    relay.hold(up=MIB)
    run = interrupted_in_terminal(
        ["package", "create", str(folder), "--question", "Q?", "--answer", "answer1", "--friendly-name", "CT"],
        env,
        lambda out: relay.held.is_set() and "packaging" in out,
    )
    relay.release()
    assert interrupted_line(run) == "no package was made; run the same command again to make it (from the start)"


# -- serve --public-url -----------------------------------------------------------------------


def test_serve_refuses_a_public_url_that_cannot_work(tmp_path: Path) -> None:
    env = hvgen_env(tmp_path / "home")
    data = tmp_path / "data"
    for url, why in {
        "notaurl": "it does not start with http:// or https://",
        "ftp://example.org": "ftp:// is not supported (only http:// and https://)",
        "http://example.org:80a80": "its port '80a80' is not a number from 1 to 65535",
        "http://example.org/hv?x=1": "a base URL has no query or fragment (http[s]://HOST[:PORT][/PATH])",
    }.items():
        run = piped(["serve", "--data", str(data), "--port", str(free_port()), "--public-url", url], env, timeout=30)
        assert run.code == 2, run.stderr
        assert_clean(run)
        assert (
            run.stderr.strip().splitlines()[-1]
            == f"Error: Invalid value for '--public-url': {url!r} is not a usable URL: {why}"
        )
        assert not data.exists() and not (tmp_path / "home" / "config").exists()
    run = piped(["serve", "--data", str(data), "--init-only", "--public-url", "https://hv.example.org/base/"], env)
    assert run.code == 0 and "sign-in:      https://hv.example.org/base/signin" in run.output


def test_serve_refuses_a_port_out_of_range_before_writing_anything(tmp_path: Path) -> None:
    """A port past 65535 (which the address look-up would wrap) or below 1 is a usage error:
    no store is made and the client profile of a server already running is left as it was."""
    env = hvgen_env(tmp_path / "home")
    data = tmp_path / "data"
    for port in ("99999", "65536", "0", "-5"):
        run = piped(["serve", "--data", str(data), "--port", port], env, timeout=30)
        assert run.code == 2, (port, run.output)
        assert_clean(run)
        assert "Invalid value for '--port'" in run.stderr and "1<=x<=65535" in run.stderr, run.stderr
        assert not data.exists() and not (tmp_path / "home" / "config").exists()


def test_serve_refuses_a_server_key_cut_short(tmp_path: Path) -> None:
    env = hvgen_env(tmp_path / "home")
    data = tmp_path / "data"
    made = piped(["serve", "--data", str(data), "--init-only", "--no-profile"], env)
    assert made.code == 0, made.output
    key = data / "server.key"
    assert len(key.read_bytes()) == 32
    assert not [p.name for p in data.iterdir() if p.name.endswith(".part")]  # (written whole, then named)
    for cut in (b"", b"x" * 31):
        key.write_bytes(cut)  # (what a crash as it was written could leave)
        run = piped(["serve", "--data", str(data), "--port", str(free_port()), "--no-profile"], env, timeout=60)
        assert run.code != 0, run.output
        assert_clean(run)
        assert f"server.key holds {len(cut)} bytes, not a key of 32" in run.stderr
        assert "move it away and start again" in run.stderr
        assert key.read_bytes() == cut  # left for the operator to look at


# -- the default blob ----------------------------------------------------------------------------


def test_the_default_blob_has_a_spelling_and_a_name(env: dict[str, str], tmp_path: Path) -> None:
    from .test_signing import thing_with

    data = b"D" * 5000
    scan = tmp_path / "scan.dcm"
    scan.write_bytes(data)
    key, cert = crypto.make_key_and_certificate("Signer")
    (tmp_path / "key.pem").write_bytes(crypto.key_pem(key))
    (tmp_path / "cert.pem").write_bytes(crypto.cert_pem(cert))
    signer = ["--key", str(tmp_path / "key.pem"), "--cert", str(tmp_path / "cert.pem")]
    both, named = tmp_path / "both.xml", tmp_path / "named.xml"
    both.write_bytes(codec.write_thing(thing_with({"": data, "scan": data})))
    named.write_bytes(codec.write_thing(thing_with({"scan": data})))
    help_text = piped(["thing", "sign", "--help"], env).output
    assert "FILE alone for the default (unnamed) blob" in " ".join(help_text.split())

    run = piped(["thing", "sign", str(both), *signer, "--blob", f"x={scan}"], env)
    assert run.code == 1 and one_error(run) == "the thing has no blob named 'x'; its blobs: the default blob, 'scan'"
    run = piped(["thing", "sign", str(named), *signer, "--blob", str(scan)], env)
    assert run.code == 1 and one_error(run) == "the thing has no default blob; its blobs: 'scan'"
    run = piped(["thing", "sign", str(both), *signer, "--blob", str(scan), "--blob", f"={scan}"], env)
    assert run.code == 2 and "the default blob is given twice" in run.stderr

    signed = tmp_path / "signed.xml"
    run = in_terminal(
        ["thing", "sign", str(both), *signer, "--blob", str(scan), "--blob", f"scan={scan}", "-o", str(signed)], env
    )
    assert run.code == 0 and signed.exists(), run.output
    run = piped(["thing", "verify", str(signed), "--blob", str(scan), "--blob", f"scan={scan}", "--json"], env)
    assert run.code == 0 and json.loads(run.output)["blobs_checked"] == ["", "scan"]
    scan.write_bytes(b"E" + data[1:])
    run = in_terminal(["thing", "verify", str(signed), "--blob", str(scan), "--blob", f"scan={scan}"], env)
    assert run.code == 1
    assert run.lines[-2:] == [
        "default blob: its bytes do not match the signed hash",
        "blob:scan: its bytes do not match the signed hash",
    ]
    assert not any("blob::" in line or "''" in line for line in run.lines)

    stored = json.loads(piped(["blob", "put", str(scan), "--json"], env).output)
    run = piped(["blob", "get", stored["thing_id"], str(tmp_path / "o"), "--blob", "nope"], env)
    assert (
        run.code == 1
        and one_error(run) == f"thing {stored['thing_id']} has no blob named 'nope'; its blobs: the default blob"
    )
