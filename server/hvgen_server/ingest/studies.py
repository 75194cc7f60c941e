"""Writing one study into a record, in the server's process.

What :meth:`hvgen_imaging.workflow.Studies.upload` does through the
protocol, done here without it: find the record's study with the same Study
Instance UID (one at most: several are refused, as ``study upload`` refuses
them), merge what it lacks into it, write the blobs it lacks into the blob
store (hashed as they are written), then store the thing with PutThings' core
(:func:`~hvgen_server.methods.things.store_things`) in one transaction that
also adds the blobs' rows and, for a new study, its DICOM index rows, so that
a DICOMweb query right after sees it without catching up. The thing names
its new blobs by blob URLs of this platform, so it passes the very checks a
client's PutThings passes. Audits name the application ``app_id`` acting for
the record's person (``Offline``, as the DICOM gateway's own client did).
"""

from __future__ import annotations

import copy
import logging
import re
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from lxml import etree

from healthvault import codec
from healthvault.binding import element_of
from healthvault.bindings.thing import BlobInfo, BlobPayload, BlobPayloadItem, Thing2, ThingKey
from healthvault.bindings.things import medical_image_study_2 as v2
from healthvault.errors import HealthVaultError
from hvgen_imaging.budget import OverBudget
from hvgen_imaging.results import StudyError, study_of
from hvgen_imaging.study import DICOM_TYPE, PREVIEW_SUFFIX, PREVIEW_TYPE, BuiltStudy, build, merge, merged_equal

from .. import appview, thingxml, tokens
from ..context import Actor, Platform
from ..dicomweb.index import STUDY_TYPES, study_uid_in
from ..methods.blobs import inline_row
from ..methods.things import store_things
from ..store import Transaction
from ..store.rows import BlobRow, DicomInstance, ThingFilter, ThingSelection, ThingVersion
from .blobwrite import WAIT_FOR_STAGED, staged_of, sync, write_file
from .indexrows import index_row

log = logging.getLogger("hvgen_server.ingest")
#: Called before an ingest's commit: what must be on disk before its studies are.
BeforeCommit = Callable[[], object]
#: A stored study's Study Instance UID, looked for before its XML is parsed.
_UID = re.compile(rb"<study-instance-uid>([^<]*)</study-instance-uid>")
#: Things read by one query when looking studies up by their UIDs.
_LOOKED_UP = 500
#: Threads writing the blobs of one study side by side (bounded: each holds one piece of a file).
_WRITERS = ThreadPoolExecutor(max_workers=8, thread_name_prefix="ingest-blobs")
#: The children of a stored study a client's GetThings (core sections, data-xml)
#: returns and sends back when it updates the study.
_SENT_BACK = thingxml.kept(("core",), xml=True)


@dataclass
class Ingested:
    """What :meth:`Ingest.store` did with one study."""

    study_uid: str
    thing_id: str
    version_stamp: str
    status: str  # created, updated or unchanged
    series: int = 0  # series the study holds now
    images: int = 0  # images the study holds now
    added: int = 0  # blobs written (images and previews)
    warnings: list[str] = field(default_factory=list)


@dataclass
class _Plan:
    """One study to store: the thing to write and the blobs it lacks (or, ``done``, nothing to write)."""

    built: BuiltStudy
    existing: ThingVersion | None
    thing: Thing2
    missing: dict[str, tuple[str, Any]]
    notes: list[str]
    done: Ingested | None = None
    rows: list[BlobRow] = field(default_factory=list)


def _uid_of(built: BuiltStudy) -> str:
    uid = str(built.data.study_instance_uid or "")
    if not uid:
        raise StudyError("the study has no Study Instance UID (0020,000D); it cannot be matched later")
    return uid


class Ingest:
    """Stores studies in one record of a platform, as application ``app_id``.

    A study is added to the record's study of the same Study Instance UID, except
    one with any of ``hidden_flags``: by default the studies the person marked
    Personal, which are not there for applications (a new study is made; nothing
    says the other exists). The person's own uploads and the platform's own work
    on a stored study pass 0."""

    def __init__(
        self, platform: Platform, app_id: str, record_id: str, *, hidden_flags: int = appview.HIDDEN_FROM_APPLICATIONS
    ) -> None:
        self.platform = platform
        self.app_id = app_id
        self.record_id = record_id
        self.hidden_flags = hidden_flags

    @property
    def lock(self) -> str:
        """What one writer at a time holds for the record's studies (in every server process of a shared store)."""
        return f"ingest:{self.record_id}"

    def find(self, study_uid: str) -> list[ThingVersion]:
        """The current versions of the record's active studies with this Study Instance UID."""
        return self.find_all({study_uid}).get(study_uid, [])

    def find_all(self, study_uids: set[str]) -> dict[str, list[ThingVersion]]:
        """The current versions of the record's active studies with these Study Instance UIDs:
        those the DICOM index says may have them (not every study of the record), each read to be sure."""
        found: dict[str, list[ThingVersion]] = {}
        named: list[tuple[str, str, str]] = []  # (what the index did not know: kept for the next look-up)
        with self.platform.store.read() as tx:
            known = tx.dicom.study_things(self.record_id, study_uids, STUDY_TYPES)
            candidates = sorted(known)
            versions = (
                match.version
                for start in range(0, len(candidates), _LOOKED_UP)
                for match in tx.things.select(
                    self.record_id,
                    ThingSelection(
                        thing_ids=tuple(candidates[start : start + _LOOKED_UP]), hidden_flags=self.hidden_flags
                    ),
                    [ThingFilter(type_ids=STUDY_TYPES)],
                    with_xml=True,
                )
            )
            for version in versions:
                quick = _UID.search(version.xml)  # a quick look before parsing (not at a character reference)
                if (
                    known[version.thing_id] is not None
                    and quick
                    and b"&" not in quick.group(1)
                    and quick.group(1).decode("utf-8", "replace").strip() not in study_uids
                ):
                    continue
                uid = study_uid_in(thingxml.parse_stored(version.xml))
                if known[version.thing_id] is None:
                    named.append((version.thing_id, version.version_stamp, uid))
                if uid in study_uids:
                    found.setdefault(uid, []).append(version)
        if named:
            with self.platform.store.write() as tx:
                tx.dicom.name_studies(named)
        return found

    def store(self, built: BuiltStudy, before_commit: BeforeCommit | None = None) -> Ingested:
        """Store a built study: a new thing, or what an existing one lacks.

        One writer at a time for the studies of a record (:attr:`lock`), so
        that two senders of a new study (STOW-RS, C-STORE) cannot both create it."""
        study_uid = _uid_of(built)
        with self.platform.store.hold(self.lock):
            plan = self._plan(built, self.find(study_uid))
            if plan.done is not None:
                return plan.done
            return self._commit([plan], before_commit)[0]

    def store_many(
        self, builts: list[BuiltStudy], before_commit: BeforeCommit | None = None
    ) -> list[Ingested | Exception]:
        """Store several studies, in one transaction when they can be (one
        commit, one flush of the blobs' names for all); what each became, or
        why it failed (:class:`StudyError`, :class:`HealthVaultError`,
        :class:`OSError`, :class:`OverBudget`). When one of them fails, each
        is stored on its own, so that one study's failure is its own.
        ``before_commit`` is called before each commit (what must be on disk
        before the studies are: it raises OSError when it cannot be)."""
        failed: list[OSError] = []  # (what must be on disk first could not be: no study is committed)

        def first() -> None:
            if before_commit is not None:
                try:
                    before_commit()
                except OSError as exc:
                    failed.append(exc)
                    raise

        uids = [b.data.study_instance_uid or "" for b in builts]
        if len(builts) > 1 and all(uids) and len(set(uids)) == len(uids):
            plans: list[_Plan] = []
            try:
                with self.platform.store.hold(self.lock):
                    existing = self.find_all(set(uids))
                    plans = [self._plan(b, existing.get(u, [])) for b, u in zip(builts, uids, strict=True)]
                    results = self._commit([p for p in plans if p.done is None], first)
                    return [p.done or results.pop(0) for p in plans]
            except (StudyError, HealthVaultError, OSError, OverBudget) as exc:
                if failed:  # (one by one would fail alike, after writing their blobs again)
                    return [p.done or failed[0] for p in plans]
                log.info("%d studies stored one by one: %s", len(builts), exc)
        outcomes: list[Ingested | Exception] = []
        for built in builts:
            if failed:
                outcomes.append(failed[0])
                continue
            try:
                outcomes.append(self.store(built, first))
            except (StudyError, HealthVaultError, OSError, OverBudget) as exc:
                outcomes.append(exc)
        return outcomes

    def _plan(self, built: BuiltStudy, found: list[ThingVersion]) -> _Plan:
        """What storing ``built`` takes, given the record's studies with its UID."""
        study_uid = _uid_of(built)
        if len(found) > 1:
            raise StudyError(
                f"the record holds {len(found)} studies with Study Instance UID {study_uid}; "
                "delete the others or store the instances with `hvgen study upload --thing-id`"
            )
        existing = found[0] if found else None
        notes = list(built.warnings)
        have: set[str] = set()
        unchanged = False
        if existing is not None:
            thing, built, have, unchanged = self._merged(existing, built, notes)
        else:
            thing = copy.deepcopy(built.thing)
        wanted: dict[str, tuple[str, Any]] = {n: ("file", p) for n, p in built.images.items()}
        wanted.update({n: ("preview", p) for n, p in built.previews.items()})
        missing = {n: v for n, v in sorted(wanted.items()) if n not in have}
        plan = _Plan(built, existing, thing, missing, notes)
        if existing is not None and not missing and unchanged:
            plan.done = self._result(existing.thing_id, existing.version_stamp, "unchanged", thing, 0, notes)
        return plan

    def _commit(self, plans: list[_Plan], before_commit: BeforeCommit | None = None) -> list[Ingested]:
        """Write the blobs the plans lack, then their things in one transaction
        (with the DICOM index rows of the new studies)."""
        headers = {i.path: i.header for p in plans for i in p.built.dicom.images}
        missing = [(n, v) for p in plans for n, v in p.missing.items()]
        rows, items = write_blobs(self.platform, self.record_id, missing, headers)
        sent = []
        index: list[list[DicomInstance]] = []
        at = 0
        for plan in plans:
            mine, at = rows[at : at + len(plan.missing)], at + len(plan.missing)
            plan.thing.blob_payload = BlobPayload(blob=items[at - len(mine) : at])
            plan.thing.signature_info = None
            plan.rows = mine
            blob_ids = {name: row.blob_id for name, row in zip(plan.missing, mine, strict=True)}
            index.append(_index_rows(plan.built, blob_ids))
            sent.append(plan.thing)

        def also(tx: Transaction, keys: list[ThingKey]) -> None:
            for key, plan, rows_of in zip(keys, plans, index, strict=True):
                stamp, uid = key.version_stamp or "", _uid_of(plan.built).strip()
                if plan.existing is None:
                    tx.dicom.replace(self.record_id, key.value, stamp, rows_of, uid)
                else:  # the images it adds (when the stored version is not indexed, the next query catches up)
                    tx.dicom.extend(self.record_id, key.value, plan.existing.version_stamp, stamp, rows_of, uid)

        actor = Actor(self.platform, app_id=self.app_id, record_id=self.record_id)
        if before_commit is not None:
            before_commit()
        keys = write_things(actor, sent, also, rows)
        return [
            self._result(
                key.value,
                key.version_stamp or "",
                "created" if plan.existing is None else "updated",
                plan.thing,
                len(plan.rows),
                plan.notes,
            )
            for key, plan in zip(keys, plans, strict=True)
        ]

    def _merged(
        self, existing: ThingVersion, built: BuiltStudy, notes: list[str]
    ) -> tuple[Thing2, BuiltStudy, set[str], bool]:
        """The stored study as a client gets it and sends it back, with what
        ``built`` adds; the built study (rebuilt in the stored version), the
        blob names the stored study has, and whether its data is unchanged."""
        if thingxml.child(thingxml.parse_stored(existing.xml), "signature-info") is not None:
            raise StudyError(
                f"study {built.data.study_instance_uid} (thing {existing.thing_id}) is signed, and adding to it "
                "would remove the signature: add the instances with `hvgen study upload --sign` or `--unsigned-ok`"
            )
        thing = as_sent_back(existing)
        stored = study_of(thing)
        version = 2 if isinstance(stored, v2.MedicalImageStudy) else 1
        if version != built.data.TYPE_VERSION:
            notes.append(f"the stored study is version {version}; stored as version {version}")
            built = build(built.dicom, version=version)
            notes.extend(built.warnings)
        unchanged = merged_equal(stored, built.data)
        thing.data_xml[0].any_element = merge(stored, built.data)
        with self.platform.store.read() as tx:
            have = {ref.name for ref in tx.things.blob_refs(existing.version_stamp)}
        return thing, built, have, unchanged

    def _result(self, thing_id: str, stamp: str, status: str, thing: Thing2, added: int, notes: list[str]) -> Ingested:
        data = study_of(thing)
        images = sum(len(s.images) for s in data.series)
        return Ingested(data.study_instance_uid or "", thing_id, stamp, status, len(data.series), images, added, notes)


def _index_rows(built: BuiltStudy, blob_ids: dict[str, str]) -> list[DicomInstance]:
    """The DICOM index rows of the images of ``built`` stored now (``blob_ids``: their blobs),
    from the headers read when they were received (:mod:`.indexrows`)."""
    name_of = {path: name for name, path in built.images.items()}
    rows = []
    for image in built.dicom.images:
        name = name_of.get(image.path)
        if name is None or name not in blob_ids:
            continue
        preview = blob_ids.get(name + PREVIEW_SUFFIX) if name + PREVIEW_SUFFIX in built.previews else None
        rows.append(index_row(image, name, blob_ids[name], preview))
    return rows


def as_sent_back(version: ThingVersion) -> Thing2:
    """A stored study as a client gets it (core sections, data-xml) and sends it back to update it."""
    root = thingxml.parse_stored(version.xml)
    for c in list(root):
        if not isinstance(c.tag, str) or c.tag not in _SENT_BACK:
            root.remove(c)
    thing: Thing2 = codec.read_thing(etree.tostring(root))
    return thing


def write_thing(
    actor: Actor, thing: Thing2, also: Callable[[Transaction, list[ThingKey]], None], rows: list[BlobRow]
) -> ThingKey:
    """Store one thing (see :func:`write_things`)."""
    return write_things(actor, [thing], also, rows)[0]


def write_things(
    actor: Actor, things: list[Thing2], also: Callable[[Transaction, list[ThingKey]], None], rows: list[BlobRow]
) -> list[ThingKey]:
    """Store things in one transaction with PutThings' core, as the wire carries
    them (unqualified ``<thing>``s, parsed as the server parses a request),
    with the rows of their new blobs."""
    sent: list[Thing2] = [codec.read_thing(codec.write_thing(thing)) for thing in things]
    return store_things(actor, [(t, element_of(t)) for t in sent], also=also, blobs=rows)


def write_blobs(
    platform: Platform,
    record_id: str,
    missing: list[tuple[str, tuple[str, Any]]],
    headers: dict[Path, Any] | None = None,
) -> tuple[list[BlobRow], list[BlobPayloadItem]]:
    """Write blobs (``("file", path)`` or ``("preview", preview)``, with their
    names) side by side, made durable before this returns; their rows, and
    the payload items naming them by blob URL. ``headers``: the headers of
    received files, by path, with the blobs made of them ahead
    (:func:`.blobwrite.stage`; one being made is waited for)."""

    def write(kind_source: tuple[str, Any]) -> BlobRow:
        kind, source = kind_source
        if kind == "file":
            header = (headers or {}).get(Path(source))
            staged = None if header is None else staged_of(header, WAIT_FOR_STAGED)
            return write_file(platform, record_id, Path(source), staged)
        return inline_row(platform, record_id, source.data)

    rows = list(_WRITERS.map(write, [source for _, source in missing]))
    sync(platform, rows)
    ttl = platform.config.blob_write_ttl
    items = []
    for (name, (kind, _)), row in zip(missing, rows, strict=True):
        token = tokens.issue(platform.key, "w", record_id, row.blob_id, ttl)
        items.append(
            BlobPayloadItem(
                blob_info=BlobInfo(name=name, content_type=DICOM_TYPE if kind == "file" else PREVIEW_TYPE),
                blob_ref_url=platform.blob_url(token),
            )
        )
    return rows, items
