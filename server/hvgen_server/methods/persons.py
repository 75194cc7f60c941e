"""The person an application acts for: GetPersonInfo, GetAuthorizedRecords
and the alternate ids (AssociateAlternateId, GetAlternateIds,
DisassociateAlternateId).

An SDK calls GetPersonInfo right after a person signs in: who the person
is, and the records they authorized the application for (the first is the
selected one). An alternate id is an application's own name for a person
and record (a patient number, say): unique per application, it names one
person and record.
"""

from __future__ import annotations

import uuid

from healthvault.bindings.methods.method_associatealternateid import Info as AssociateAlternateIdParams
from healthvault.bindings.methods.method_disassociatealternateid import Info as DisassociateAlternateIdParams
from healthvault.bindings.methods.method_getauthorizedrecords import Info as GetAuthorizedRecordsParams
from healthvault.bindings.methods.response_getalternateids import Info as GetAlternateIdsResult
from healthvault.bindings.methods.response_getauthorizedrecords import Info as GetAuthorizedRecordsResult
from healthvault.bindings.methods.response_getpersoninfo import Info as GetPersonInfoResult
from healthvault.bindings.wc_types import AppRecordAuthAction, PersonInfo, Record, RecordState
from healthvault.status import StatusCode

from ..context import Context
from ..errors import PlatformError
from ..store.rows import AlternateId, RecordRow

#: rel-type of a person's own record.
SELF = 1

#: Alternate ids one application may give one person and record.
MAX_ALTERNATE_IDS = 100


def _record(row: RecordRow) -> Record:
    return Record(
        value=row.name,
        id=row.record_id,
        record_custodian=True,
        rel_type=SELF,
        rel_name="Self",
        display_name=row.name,
        state=RecordState.ACTIVE,
        app_record_auth_action=AppRecordAuthAction.NO_ACTION_REQUIRED,
    )


def get_person_info(ctx: Context) -> GetPersonInfoResult:
    person = ctx.store.person(ctx.person_id)
    if person is None:
        raise PlatformError(StatusCode.INVALID_PERSON, "unknown person")
    with ctx.store.read() as tx:
        records = tx.records.authorized_for(ctx.app_id, person.person_id)
    return GetPersonInfoResult(
        person_info=PersonInfo(
            person_id=person.person_id,
            name=person.name,
            selected_record_id=records[0].record_id if records else None,
            more_records=False,
            record=[_record(r) for r in records],
        )
    )


def get_authorized_records(ctx: Context) -> GetAuthorizedRecordsResult:
    info = ctx.request.info()
    assert isinstance(info, GetAuthorizedRecordsParams)
    wanted = set()
    for text in info.id:
        try:
            wanted.add(str(uuid.UUID(text.strip())))
        except ValueError:
            raise PlatformError(StatusCode.INVALID_RECORD, f"{text.strip()[:40]!r} is not a record id") from None
    with ctx.store.read() as tx:
        records = tx.records.authorized_for(ctx.app_id, ctx.person_id)
    return GetAuthorizedRecordsResult(record=[_record(r) for r in records if r.record_id in wanted])


def _alternate_id(text: str) -> str:
    value = text.strip()
    if not value:
        raise PlatformError(StatusCode.INVALID_XML, "the alternate-id is empty")
    return value


def associate_alternate_id(ctx: Context) -> None:
    """Associating an id again with the same person and record changes nothing."""
    info = ctx.request.info()
    assert isinstance(info, AssociateAlternateIdParams)
    value = _alternate_id(info.alternate_id)
    with ctx.store.write() as tx:
        found = tx.alternate_ids.get(ctx.app_id, value)
        if found is not None:
            if (found.person_id, found.record_id) == (ctx.person_id, ctx.record_id):
                return None
            raise PlatformError(StatusCode.DUPLICATE_ALTERNATE_ID, "the application already uses this alternate id")
        if len(tx.alternate_ids.of(ctx.app_id, ctx.person_id, ctx.record_id)) >= MAX_ALTERNATE_IDS:
            raise PlatformError(
                StatusCode.ALTERNATE_IDS_LIMIT_EXCEEDED,
                f"an application may give a person and record at most {MAX_ALTERNATE_IDS} alternate ids",
            )
        tx.alternate_ids.add(AlternateId(ctx.app_id, value, ctx.person_id, ctx.record_id, ctx.now))
    return None


def disassociate_alternate_id(ctx: Context) -> None:
    info = ctx.request.info()
    assert isinstance(info, DisassociateAlternateIdParams)
    value = _alternate_id(info.alternate_id)
    with ctx.store.write() as tx:
        found = tx.alternate_ids.get(ctx.app_id, value)
        if found is None or (found.person_id, found.record_id) != (ctx.person_id, ctx.record_id):
            raise PlatformError(
                StatusCode.ALTERNATE_ID_NOT_FOUND, "the application has no such alternate id for this person and record"
            )
        tx.alternate_ids.remove(ctx.app_id, value)
    return None


def get_alternate_ids(ctx: Context) -> GetAlternateIdsResult:
    with ctx.store.read() as tx:
        found = tx.alternate_ids.of(ctx.app_id, ctx.person_id, ctx.record_id)
    return GetAlternateIdsResult(alternate_ids=GetAlternateIdsResult.AlternateIds(alternate_id=found))
