"""STOW-RS (PS3.18 10.5): storing instances sent as ``multipart/related;
type="application/dicom"``.

The body is streamed to a folder part by part (python-multipart's parser),
then stored as ``hvgen study upload`` stores a folder: scanned and
grouped by study (:func:`hvgen_imaging.dicom.scan`), built
(:func:`hvgen_imaging.study.build`, without previews: they are added in a
later version, :mod:`hvgen_server.ingest.previews`) and written in the
server's process by :class:`hvgen_server.ingest.Ingest` (PutThings' own
core, no HTTP round trip) as the gateway application (:mod:`.gateway`); the
answer is sent once the instances are stored and indexed. A study already in the record gets what it lacks; an
instance it already holds is not stored twice. Each study is stored whole or
not at all; the answer (the Store Instances Response Module, PS3.18 Annex I)
lists every instance stored and every one that failed, with its reason.
Previews are made afterwards within the decoding budget
(:mod:`hvgen_imaging.budget`); a study that could not get its share of it
would fail as out of resources (A700), and when nothing was stored for that
reason the answer is 413 with ``Retry-After``.
"""

from __future__ import annotations

import contextlib
import errno
import logging
import re
import shutil
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from python_multipart.multipart import MultipartParser
from starlette.concurrency import run_in_threadpool
from starlette.requests import ClientDisconnect, Request

from healthvault.errors import HealthVaultError
from hvgen_imaging import dicom
from hvgen_imaging.budget import OverBudget
from hvgen_imaging.results import StudyError
from hvgen_imaging.study import BuiltStudy, build

from .. import appview
from ..context import Platform
from ..errors import PlatformError
from ..ingest import Ingest
from ..ingest.previews import previews_of
from ..limits import timed_stream
from .gateway import Gateway
from .index import refresh
from .media import DICOM, DicomWebError, Urls, parse_media, warning

log = logging.getLogger("hvgen_server.dicomweb")

#: Parts one request may hold; more are refused (413) as soon as they begin.
MAX_PARTS = 10_000
#: Failures without UIDs (parts that are not DICOM files) listed in an answer,
#: and notes sent as Warning headers; the rest are counted.
MAX_LISTED = 100
MAX_NOTES = 20
#: Where a PS3.10 file's DICM prefix ends (after the 128-byte preamble).
_PREFIX_END = 132
#: A multipart boundary (RFC 2046 5.1.1): 1 to 70 characters, not ending in a space.
_BOUNDARY = re.compile(r"[0-9A-Za-z'()+_,\-./:=? ]{0,69}[0-9A-Za-z'()+_,\-./:=?]")

#: Failure reasons (PS3.18 Table I.2-2; C409 as other archives use it).
PROCESSING_FAILURE = 0x0110
CANNOT_UNDERSTAND = 0xC000
OUT_OF_RESOURCES = 0xA700
STUDY_MISMATCH = 0xC409


class Parts:
    """A multipart/related body written to a folder, one file per part, as it arrives.

    At most :data:`MAX_PARTS` parts (413 beyond); a part that is not a DICOM
    file (another media type, or no ``DICM`` prefix after the 128-byte
    preamble, PS3.10 7.1) is counted and never written. Every file is
    closed on every way out (:meth:`close`); a full disk is 507.
    """

    def __init__(self, folder: Path, boundary: str, max_bytes: int, max_parts: int = 0) -> None:
        self.folder = folder
        self.max_bytes = max_bytes
        self.max_parts = max_parts or MAX_PARTS
        self.received = 0
        self.count = 0
        self.rejected: list[str] = []  # why parts were not DICOM (the first MAX_LISTED)
        self.rejected_count = 0
        self.ended = False
        self._file: Any = None
        self._head: bytearray | None = None  # a part's first bytes, until its prefix is known
        self._header_name = b""
        self._header_value = b""
        self._headers: dict[str, str] = {}
        with _disk("receiving the instances"):
            folder.mkdir(parents=True, exist_ok=True)
        self.parser = MultipartParser(
            boundary,
            {
                "on_part_begin": self._begin,
                "on_header_field": self._field,
                "on_header_value": self._value,
                "on_header_end": self._header_end,
                "on_headers_finished": self._headers_done,
                "on_part_data": self._data,
                "on_part_end": self._end,
                "on_end": self._finished,
            },
            max_header_count=32,
        )

    def _begin(self) -> None:
        self.count += 1
        if self.count > self.max_parts:
            raise DicomWebError(
                413, f"the request has more than {self.max_parts} parts; send the instances in several requests"
            )
        self._headers = {}

    def _field(self, data: bytes, start: int, end: int) -> None:
        self._header_name += data[start:end]

    def _value(self, data: bytes, start: int, end: int) -> None:
        self._header_value += data[start:end]

    def _header_end(self) -> None:
        self._headers[self._header_name.decode("latin-1").strip().lower()] = self._header_value.decode(
            "latin-1"
        ).strip()
        self._header_name = self._header_value = b""

    def _reject(self, why: str) -> None:
        self.rejected_count += 1
        if len(self.rejected) < MAX_LISTED:
            self.rejected.append(why)

    def _headers_done(self) -> None:
        media = parse_media(self._headers.get("content-type", DICOM)).media_type
        self._file = self._head = None
        if media != DICOM:
            self._reject(f"part {self.count} is {media}, not {DICOM}")
            return
        self._head = bytearray()

    def _data(self, data: bytes, start: int, end: int) -> None:
        if self._head is not None:
            self._head += data[start:end]
            if len(self._head) < _PREFIX_END:
                return
            head, self._head = bytes(self._head), None
            if head[_PREFIX_END - 4 : _PREFIX_END] != b"DICM":
                self._reject(f"part {self.count} is not a DICOM file (no DICM prefix after its 128-byte preamble)")
                return
            with _disk("receiving the instances"):
                self._file = open(self.folder / f"part-{self.count:06d}.dcm", "wb")
                self._file.write(head)
        elif self._file is not None:
            with _disk("receiving the instances"):
                self._file.write(data[start:end])

    def _end(self) -> None:
        if self._head is not None:
            self._head = None
            self._reject(f"part {self.count} is not a DICOM file (shorter than a preamble and DICM prefix)")
        self._close_file()

    def _close_file(self) -> None:
        if self._file is not None:
            file, self._file = self._file, None
            with _disk("receiving the instances"):
                file.close()

    def _finished(self) -> None:
        self.ended = True

    def write(self, chunk: bytes) -> None:
        self.received += len(chunk)
        if self.received > self.max_bytes:
            raise DicomWebError(
                413, f"the request is larger than {self.max_bytes} bytes; send the instances in several requests"
            )
        try:
            self.parser.write(chunk)
        except DicomWebError:
            raise
        except Exception as exc:
            raise DicomWebError(400, f"malformed multipart/related body: {exc}") from None

    def write_all(self, chunks: list[bytes]) -> None:
        for chunk in chunks:
            self.write(chunk)

    def finish(self) -> None:
        self._close_file()
        if not self.ended or self.count == 0:
            raise DicomWebError(400, "the multipart/related body ends before its closing boundary, or has no parts")

    def close(self) -> None:
        """Close the part being written, if any (on every way out, before the folder is removed)."""
        file, self._file = self._file, None
        if file is not None:
            try:
                file.close()
            except OSError:
                pass  # a full disk: the folder is removed next


@contextlib.contextmanager
def _disk(doing: str) -> Iterator[None]:
    """OSErrors of the server's own disk as DICOMweb answers: 507 when it is full, else 500."""
    try:
        yield
    except OSError as exc:
        if exc.errno in (errno.ENOSPC, errno.EDQUOT):
            log.error("disk full while %s", doing)
            raise DicomWebError(507, "the server's disk is full; nothing was stored (try again later)") from None
        log.error("storage error while %s: %s", doing, exc)
        raise DicomWebError(500, "the server could not write the instances; see the server log") from None


def boundary_of(content_type: str | None) -> str:
    """The boundary of a STOW-RS body's Content-Type; 415 for what is not
    ``multipart/related`` of DICOM files, 400 for a boundary RFC 2046 does not allow."""
    media = parse_media(content_type or "")
    if media.media_type != "multipart/related":
        raise DicomWebError(
            415,
            f'STOW-RS takes multipart/related; type="{DICOM}" bodies, not {media.media_type or "(no Content-Type)"}',
        )
    inner = media.params.get("type", DICOM).lower()
    if inner != DICOM:
        raise DicomWebError(
            415, f"only {DICOM} parts are stored (not {inner}: metadata with bulk data is not supported)"
        )
    boundary = media.params.get("boundary")
    if not boundary:
        raise DicomWebError(400, "the Content-Type has no boundary")
    if not _BOUNDARY.fullmatch(boundary):
        shown = boundary if len(boundary) <= 80 else boundary[:60] + f"... ({len(boundary)} characters)"
        raise DicomWebError(
            400, f"the boundary {shown!r} is not 1 to 70 characters of those RFC 2046 allows (not ending in a space)"
        )
    return boundary


@dataclass
class Outcome:
    """What a STOW-RS request stored, and what failed."""

    stored: list[tuple[str, str, str]] = field(default_factory=list)  # SOP class, SOP instance, URL
    failed: list[tuple[str, str, int]] = field(default_factory=list)  # SOP class, SOP instance, reason
    studies: set[str] = field(default_factory=set)
    notes: list[str] = field(default_factory=list)
    over_budget: bool = False  # a study was refused because the decoding budget was spent
    #: Failures without UIDs past the first MAX_LISTED, counted but not listed.
    unlisted: int = 0
    #: Notes past the first MAX_NOTES, counted.
    more_notes: int = 0
    _unnamed: int = 0

    @property
    def status(self) -> int:
        if self.over_budget and not self.stored:
            return 413  # nothing stored for want of memory: the same request may be sent again later
        if not self.failed and not self.unlisted:
            return 200 if self.stored else 400
        return 202 if self.stored else 409

    def note(self, text: str) -> None:
        if len(self.notes) < MAX_NOTES:
            self.notes.append(text)
        else:
            self.more_notes += 1

    def unreadable(self, count: int, reasons: Iterable[str]) -> None:
        """``count`` parts that are not DICOM files (no UIDs to name them by): the
        first MAX_LISTED of them are listed, with their ``reasons`` as notes."""
        given = list(reasons)
        for why in given:
            self.note(why)
        self.more_notes += max(0, count - len(given))
        for _ in range(count):
            if self._unnamed < MAX_LISTED:
                self.failed.append(("", "", CANNOT_UNDERSTAND))
            else:
                self.unlisted += 1
            self._unnamed += 1

    def body(self, urls: Urls) -> dict[str, Any]:
        def uid(value: str) -> dict[str, Any]:
            return {"vr": "UI", "Value": [value]} if value else {"vr": "UI"}

        out: dict[str, Any] = {}
        if len(self.studies) == 1:
            out["00081190"] = {"vr": "UR", "Value": [urls.study(next(iter(self.studies)))]}
        failed = [
            {"00081150": uid(c), "00081155": uid(i), "00081197": {"vr": "US", "Value": [r]}} for c, i, r in self.failed
        ]
        stored = [
            {"00081150": uid(c), "00081155": uid(i), "00081190": {"vr": "UR", "Value": [u]}} for c, i, u in self.stored
        ]
        out["00081198"] = {"vr": "SQ", "Value": failed} if failed else {"vr": "SQ"}
        out["00081199"] = {"vr": "SQ", "Value": stored} if stored else {"vr": "SQ"}
        return out

    def warnings(self) -> list[str]:
        notes = list(self.notes)
        if self.unlisted:
            notes.append(f"{self.unlisted} more part(s) that are not DICOM files failed (C000) and are not listed")
        if self.more_notes:
            notes.append(f"{self.more_notes} more note(s) left out")
        return [warning(n) for n in notes]


def store(
    platform: Platform,
    gateway: Gateway,
    record_id: str,
    parts: Parts,
    study: str | None,
    urls: Urls,
    scanned: dicom.ScanResult | None = None,
    *,
    hidden_flags: int = appview.HIDDEN_FROM_APPLICATIONS,
) -> Outcome:
    """Store the instances of ``parts`` in the record, study by study, as ``hvgen study upload`` does
    (``scanned``: the scan of ``parts.folder``, when the caller made it already); studies of
    ``hidden_flags`` (by default the person's Personal ones, as for applications) are as if absent."""
    outcome = Outcome()
    outcome.unreadable(parts.rejected_count, parts.rejected)
    scanned = scanned if scanned is not None else dicom.scan(parts.folder)
    outcome.unreadable(len(scanned.skipped), (f"{path.stem}: {why}" for path, why in scanned.skipped[:MAX_NOTES]))
    if not scanned.studies:
        return outcome
    ingest = Ingest(platform, gateway.app_id, record_id, hidden_flags=hidden_flags)
    previews = previews_of(platform, gateway.app_id)
    wanted: list[tuple[dicom.DicomStudy, list[tuple[str, str, dicom.DicomImage]], BuiltStudy]] = []
    for found in scanned.studies:
        images = [(dicom.text(i.header, "SOPClassUID") or "", i.sop_instance_uid, i) for i in found.images]
        if study is not None and found.uid != study:
            outcome.failed.extend((c, s, STUDY_MISMATCH) for c, s, _ in images)
            outcome.note(f"{len(images)} instance(s) of study {found.uid}, not of study {study} as the URL says")
            continue
        try:
            wanted.append((found, images, build(found, previews=False)))  # previews are made afterwards
        except (StudyError, HealthVaultError, OSError, OverBudget) as exc:
            _failed(outcome, found.uid, images, exc)
    try:  # (marked as waiting for previews, on disk before the studies' commit)
        marked = previews.mark(record_id, *(found.uid for found, _, _ in wanted))
    except OSError as exc:
        for found, images, _ in wanted:
            _failed(outcome, found.uid, images, exc)
        wanted, marked = [], None
    # the request's studies in one transaction (each on its own when one fails)
    stored = ingest.store_many([b for _, _, b in wanted], marked) if wanted else []
    for (found, images, _), done in zip(wanted, stored, strict=True):
        if isinstance(done, Exception):
            _failed(outcome, found.uid, images, done)
            continue
        previews.add(record_id, done.study_uid)
        outcome.studies.add(found.uid)
        for c, s, image in images:
            series = dicom.text(image.header, "SeriesInstanceUID") or ""
            outcome.stored.append((c, s, urls.instance(found.uid, series, s)))
    refresh(platform, record_id)
    return outcome


def _failed(outcome: Outcome, study_uid: str, images: list[tuple[str, str, dicom.DicomImage]], exc: Exception) -> None:
    if isinstance(exc, OverBudget):
        outcome.over_budget = True
        outcome.failed.extend((c, s, OUT_OF_RESOURCES) for c, s, _ in images)
    else:
        log.warning("STOW-RS of study %s failed: %s", study_uid, exc)
        outcome.failed.extend((c, s, PROCESSING_FAILURE) for c, s, _ in images)
    outcome.note(f"study {study_uid} was not stored: {exc}")


def cleanup(folder: Path) -> None:
    shutil.rmtree(folder, ignore_errors=True)


#: How much of a body is parsed and written at a time (in a worker thread).
BODY_BATCH = 1024 * 1024


async def receive(request: Request, parts: Parts, timeout: float, gone: str) -> None:
    """Parse and write ``request``'s body into ``parts`` in a worker thread,
    a MiB at a time (the event loop serves others meanwhile). A sender that
    goes away is a 400 saying ``gone``; a body that stalls past ``timeout``, a 408."""
    try:
        batch: list[bytes] = []
        size = 0
        async for chunk in timed_stream(request, timeout):
            batch.append(chunk)
            size += len(chunk)
            if size >= BODY_BATCH:
                await run_in_threadpool(parts.write_all, batch)
                batch, size = [], 0
        await run_in_threadpool(parts.write_all, batch)
    except ClientDisconnect:
        raise DicomWebError(400, gone) from None
    except PlatformError as exc:  # the body stalled
        raise DicomWebError(408, exc.message) from None
