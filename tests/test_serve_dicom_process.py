"""`hvgen serve --dicom-port`: the listener runs in a process of its own, hands
each study on as the association moves to the next one (stored while the
association goes on), is killed with the server, and is started again when
it ends by itself."""

from __future__ import annotations

import functools
import json
import os
import signal
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from hvgen_imaging.spool import file_name
from hvgen_server.store.rows import ThingSelection

from .dicomgen import make_study
from .localserver import EMBEDDED, RunningServer, free_port, start_server
from .test_dicom_listen import cli, scu, wait_for_study

pynetdicom = pytest.importorskip("pynetdicom")

import pydicom  # noqa: E402
from pydicom.uid import ExplicitVRLittleEndian  # noqa: E402
from pynetdicom.sop_class import CTImageStorage  # type: ignore[attr-defined]  # noqa: E402

AE_TITLE = "HVTEST"


def serve(base: Path, *options: str) -> tuple[RunningServer, int]:
    port = free_port()
    server = start_server(base, "--dicom-port", str(port), "--dicom-ae-title", AE_TITLE, *options, backend=EMBEDDED)
    return server, port


def listener_process(server: RunningServer) -> int:
    """The pid of the server's DICOM listener process (its child running ``hvgen_server.ingest.dicomchild``)."""
    pid = server.process.pid
    for task in os.listdir(f"/proc/{pid}/task"):
        for child in Path(f"/proc/{pid}/task/{task}/children").read_text().split():
            if b"hvgen_server.ingest.dicomchild" in Path(f"/proc/{child}/cmdline").read_bytes():
                return int(child)
    raise AssertionError("the server has no DICOM listener process")


def until(check: Callable[[], object], seconds: float, why: str, pause: float = 0.05) -> None:
    """Wait until ``check()`` is true; fail with ``why`` after ``seconds``."""
    deadline = time.monotonic() + seconds
    while not check():
        assert time.monotonic() < deadline, why
        time.sleep(pause)


def gone(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return True
    return state == "Z"


def files(folder: Path) -> list[Path]:
    return sorted(folder.rglob("*.dcm"))


def studies(server: RunningServer, cache: Path) -> dict[str, int]:
    """The record's studies: Study Instance UID -> images (each study once)."""
    code, out = cli(server, cache, "study", "list", "--json")
    assert code == 0, out
    found: dict[str, int] = {}
    for study in json.loads(out):
        assert study["study_uid"] not in found, f"study {study['study_uid']} is stored twice"
        found[study["study_uid"]] = study["images"]
    return found


def associate(port: int) -> Any:
    """An association to ``port`` that sends CT images (Explicit VR Little Endian)."""
    ae = pynetdicom.AE(ae_title="PUSHER")
    ae.add_requested_context(CTImageStorage, ExplicitVRLittleEndian)
    assoc = ae.associate("127.0.0.1", port, ae_title=AE_TITLE)
    assert assoc.is_established
    return assoc


def test_a_study_is_stored_while_the_association_goes_on(tmp_path: Path) -> None:
    server, port = serve(tmp_path / "platform", "--dicom-idle-timeout", "120")
    cache = tmp_path / "cache"
    first = make_study(tmp_path / "a", series=1, images=2, size=32, seed=31)
    second = make_study(tmp_path / "b", series=1, images=2, size=32, seed=32)
    try:
        assoc = associate(port)
        try:
            for path in files(tmp_path / "a"):
                assert assoc.send_c_store(path).Status == 0x0000
            b1, b2 = files(tmp_path / "b")
            assert assoc.send_c_store(b1).Status == 0x0000  # the association moves on to the next study
            until(  # the association still open
                lambda: studies(server, cache).get(str(first["study_uid"])) == 2,
                60,
                "the first study was not stored while the association went on",
                pause=0.2,
            )
            assert str(second["study_uid"]) not in studies(server, cache)  # (its part is still being received)
            assert assoc.send_c_store(b2).Status == 0x0000
        finally:
            assoc.release()
        wait_for_study(server, cache, str(second["study_uid"]), 2)
        assert studies(server, cache) == {str(first["study_uid"]): 2, str(second["study_uid"]): 2}
    finally:
        server.stop()


def test_interleaved_studies_are_stored_whole_and_once(tmp_path: Path) -> None:
    """A, B, A, B, A: A's first part is handed on when B begins; once A comes back, the
    rest of the association is kept together (each study stored once, whole)."""
    server, port = serve(tmp_path / "platform")
    cache = tmp_path / "cache"
    a = make_study(tmp_path / "a", series=1, images=3, size=32, seed=41)
    b = make_study(tmp_path / "b", series=1, images=2, size=32, seed=42)
    c = make_study(tmp_path / "c", series=1, images=1, size=32, seed=43)
    a1, a2, a3 = files(tmp_path / "a")
    b1, b2 = files(tmp_path / "b")
    try:
        assoc = associate(port)
        try:
            for path in (a1, b1, a2, b2, a3, *files(tmp_path / "c")):
                assert assoc.send_c_store(path).Status == 0x0000
        finally:
            assoc.release()
        wait_for_study(server, cache, str(a["study_uid"]), 3)
        wait_for_study(server, cache, str(b["study_uid"]), 2)
        wait_for_study(server, cache, str(c["study_uid"]), 1)
        assert studies(server, cache) == {str(a["study_uid"]): 3, str(b["study_uid"]): 2, str(c["study_uid"]): 1}
        spool = server.data / "dicom" / "spool"
        until(
            lambda: not any((spool / "ready").iterdir()) and not any((spool / "incoming").iterdir()),
            30,
            "the spool still holds what was stored",
        )
    finally:
        server.stop()


def test_the_listener_process_ends_with_the_server(tmp_path: Path) -> None:
    server, port = serve(tmp_path / "platform")
    try:
        child = listener_process(server)
        assert scu("echoscu", port, "-aec", AE_TITLE).returncode == 0
        server.kill()
        until(lambda: gone(child), 10, "the listener process outlived the server it belongs to")
    finally:
        server.stop()


def test_a_listener_process_that_ends_by_itself_is_started_again(tmp_path: Path) -> None:
    server, port = serve(tmp_path / "platform")
    cache = tmp_path / "cache"
    try:
        made = make_study(tmp_path / "ct", series=1, images=2, size=32, seed=51)
        assert scu("storescu", port, str(tmp_path / "ct"), "-r", "-aec", AE_TITLE).returncode == 0
        wait_for_study(server, cache, str(made["study_uid"]), 2)
        child = listener_process(server)
        os.kill(child, signal.SIGKILL)

        def listening_again() -> bool:  # a new listener process, listening on the same port
            try:
                return listener_process(server) != child and scu("echoscu", port, "-aec", AE_TITLE).returncode == 0
            except AssertionError:  # (none yet)
                return False

        until(listening_again, 60, "the listener process was not started again", pause=0.2)
        assert "ended by itself" in server.log_path.read_text()
        more = make_study(tmp_path / "more", series=1, images=3, size=32, seed=52)
        assert scu("storescu", port, str(tmp_path / "more"), "-r", "-aec", AE_TITLE).returncode == 0
        wait_for_study(server, cache, str(more["study_uid"]), 3)
        assert server.process.poll() is None
    finally:
        server.stop()


def test_a_listener_splitting_studies_hands_each_on_until_they_interleave(tmp_path: Path) -> None:
    """The parts a listener with ``split_studies`` hands on: one per study while the
    studies come one after the other; once a study comes back, the rest in one part."""
    from hvgen_imaging.listener import Listener

    parts: list[list[str]] = []  # the studies of each part's files, in the order received
    folders: list[list[str]] = []  # the studies of the files each part's folder holds

    def hand_on(ready: Path, headers: dict) -> None:
        parts.append([str(h.StudyInstanceUID) for h in headers.values()])
        folders.append(sorted(str(pydicom.dcmread(p, stop_before_pixels=True).StudyInstanceUID) for p in files(ready)))

    listener = Listener(
        None,
        tmp_path / "spool",
        ae_title=AE_TITLE,
        port=0,
        hand_on=hand_on,
        split_studies=True,
    )
    uid = {}
    for n, name in enumerate("abcd"):
        uid[name] = str(make_study(tmp_path / name, series=1, images=3, size=16, seed=60 + n)["study_uid"])
    (a1, a2, a3), (b1, b2, b3), (c1, _, _), (d1, d2, _) = (files(tmp_path / name) for name in "abcd")
    listener.start()
    try:
        assoc = associate(listener.port)
        try:
            for path in (a1, a2, b1, b2, c1, b3, d1, a3, d2):  # a, b, c one after the other; then b comes back
                assert assoc.send_c_store(path).Status == 0x0000
        finally:
            assoc.release()
        until(lambda: len(folders) >= 3, 10, "fewer than 3 parts were handed on")  # (folders: noted last)
    finally:
        listener.stop()
    a, b, c, d = (uid[name] for name in "abcd")
    assert parts == [[a, a], [b, b], [c, b, d, a, d]]
    assert folders == [sorted(part) for part in parts]


def test_an_association_is_paced_fast_while_instances_arrive_then_as_pynetdicom_paces_it(tmp_path: Path) -> None:
    """While instances arrive, pynetdicom's network thread looks at the socket every
    BUSY_LOOP_DELAY; an association left idle goes back to pynetdicom's own pace."""
    from hvgen_imaging.listener import BUSY_LOOP_DELAY, IDLE_AFTER, Listener

    listener = Listener(None, tmp_path / "spool", ae_title=AE_TITLE, port=0, hand_on=lambda ready, headers: None)
    make_study(tmp_path / "ct", series=1, images=2, size=16, seed=70)
    first, second = files(tmp_path / "ct")
    listener.start()
    try:
        assoc = associate(listener.port)
        try:
            (served,) = listener._server.active_associations
            own_pace = served.dul._run_loop_delay
            assert own_pace > BUSY_LOOP_DELAY
            assert assoc.send_c_store(first).Status == 0x0000
            assert served.dul._run_loop_delay == BUSY_LOOP_DELAY
            until(
                lambda: served.dul._run_loop_delay == own_pace,
                10 * IDLE_AFTER,
                "an idle association kept the fast pace",
            )
            assert assoc.send_c_store(second).Status == 0x0000
            assert served.dul._run_loop_delay == BUSY_LOOP_DELAY
        finally:
            assoc.release()
    finally:
        listener.stop()


def test_the_contexts_copied_for_each_association_are_pynetdicoms_deep_copies() -> None:
    import copy

    from pynetdicom import ALL_TRANSFER_SYNTAXES, AllStoragePresentationContexts

    from hvgen_imaging.associations import copied_quickly

    ae = pynetdicom.AE()
    for context in AllStoragePresentationContexts:
        ae.add_supported_context(context.abstract_syntax, ALL_TRANSFER_SYNTAXES, scu_role=True, scp_role=True)
    contexts = ae.supported_contexts
    deep = copy.deepcopy(contexts)
    copied_quickly(contexts)
    quick = copy.deepcopy(contexts)
    assert [vars(c) for c in quick] == [vars(c) for c in deep]
    assert [type(c) for c in quick] == [type(c) for c in deep]
    quick[0].transfer_syntax.append("1.2.3")  # (an association's negotiation changes its own copy only)
    quick[1].context_id = 9
    assert "1.2.3" not in contexts[0].transfer_syntax and contexts[1].context_id is None


def test_what_a_listener_process_acknowledged_before_it_died_is_stored_by_the_next(tmp_path: Path) -> None:
    """The listener's process killed in the middle of an association: the one started
    again hands on what that association had acknowledged, and the server stores it
    (without a restart of the server)."""
    server, port = serve(tmp_path / "platform", "--dicom-idle-timeout", "120")
    cache = tmp_path / "cache"
    made = make_study(tmp_path / "ct", series=1, images=3, size=32, seed=81)
    try:
        child = listener_process(server)
        assoc = associate(port)
        try:
            for path in files(tmp_path / "ct")[:2]:
                assert assoc.send_c_store(path).Status == 0x0000
            os.kill(child, signal.SIGKILL)  # (the association is cut: its two instances were acknowledged)
        finally:
            assoc.abort()
        wait_for_study(server, cache, str(made["study_uid"]), 2)
        assert listener_process(server) != child
        assert scu("storescu", port, str(tmp_path / "ct"), "-r", "-aec", AE_TITLE).returncode == 0
        wait_for_study(server, cache, str(made["study_uid"]), 3)
        assert server.process.poll() is None
        assert "could not start" not in server.log_path.read_text()
    finally:
        server.stop()


def blob_files(server: RunningServer) -> dict[str, int]:
    """The blob store's files: blob id -> inode."""
    return {f.name: f.stat().st_ino for f in (server.data / "blobs").glob("*/*") if f.is_file()}


def spooled_name(path: Path) -> str:
    """The name the spool gives the instance of ``path``."""
    return file_name(str(pydicom.dcmread(path, stop_before_pixels=True).SOPInstanceUID))


def blobs_made_of(server: RunningServer, inodes: set[int]) -> bool:
    """Whether the blob store has a blob of each of those files."""
    return inodes <= set(blob_files(server).values())


def test_blobs_are_made_while_the_association_goes_on_and_none_is_left_over(tmp_path: Path) -> None:
    """Each received file becomes its blob while its association is still open (adopted and
    hashed ahead), but for the first of each study's part (a one-instance study is stored
    at once): those blobs are the ones the stored study names, and a blob made of an
    instance the study had already (sent again) is removed when the study is stored."""
    server, port = serve(tmp_path / "platform", "--dicom-idle-timeout", "120")
    cache = tmp_path / "cache"
    study = make_study(tmp_path / "a", series=1, images=4, size=32, seed=51)
    *first, last = files(tmp_path / "a")
    incoming = server.data / "dicom" / "spool" / "incoming"
    try:
        before = blob_files(server)
        made: dict[str, int] = {}
        for sent in (first, [*first, last]):  # the second association sends three again
            assoc = associate(port)
            try:
                for path in sent:
                    assert assoc.send_c_store(path).Status == 0x0000
                (part,) = incoming.iterdir()
                received = {(part / spooled_name(p)).stat().st_ino for p in sent[1:]}  # (not the first)
                until(  # the association still open, its study not stored
                    functools.partial(blobs_made_of, server, received),
                    30,
                    "the received files were not made blobs while the association went on",
                )
                made.update({b: i for b, i in blob_files(server).items() if i in received})
                first_file = (part / spooled_name(sent[0])).stat()  # (a part's first instance: not made ahead)
                assert first_file.st_nlink == 1 and first_file.st_ino not in blob_files(server).values()
            finally:
                assoc.release()
            wait_for_study(server, cache, str(study["study_uid"]), len(sent))
        assert len(made) == 5

        def stored() -> tuple[set[str], set[str]]:
            """Every blob id with a row; the blob ids the record's things name."""
            store = server.open_store()
            try:
                with store.read() as tx:
                    selected = tx.things.select(server.profile.record_id, ThingSelection(), [], with_xml=False)
                    named = {r.blob_id for m in selected for r in tx.things.blob_refs(m.version.version_stamp)}
                    return tx.blobs.ids(), named
            finally:
                store.close()

        until(lambda: set(blob_files(server)) - set(before) <= stored()[0], 30, "a blob made ahead was left over")
        named = stored()[1]
        kept = {b for b in made if b in blob_files(server)}
        assert len(kept) == 3 and kept <= named  # the study's images but the first sent: blobs made ahead
        until(  # the spool's name removed after the study was stored
            lambda: all(os.stat(server.data / "blobs" / b[:2] / b).st_nlink == 1 for b in kept),
            30,
            "the spool still names a stored blob",
        )
    finally:
        server.stop()
