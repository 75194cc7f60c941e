"""The platform methods of the local server."""

from __future__ import annotations

import base64
import copy
import datetime as dt
import logging
import secrets
import sqlite3
import time
import uuid
from collections.abc import Callable
from typing import Any
from dataclasses import dataclass, field

from lxml import etree

from healthvault import crypto, methods, registry, signing, validation, wire
from healthvault.bindings.auth import Token
from healthvault.bindings.methods import (
    method_createauthenticatedsessiontoken2 as cast,
)
from healthvault.bindings.methods import method_getthings3 as gt3
from healthvault.bindings.methods import method_putthings2 as put2
from healthvault.bindings.methods import method_removethings as rm
from healthvault.bindings.methods import response_beginputblob as bpb
from healthvault.bindings.methods import response_createauthenticatedsessiontoken2 as cast_result
from healthvault.bindings.methods import response_putthings as put_result
from healthvault.bindings.thing import ThingKey
from healthvault.bindings.wc_types import AppRecordAuthAction, BlobHashAlgorithmParameters
from healthvault.errors import HealthVaultXmlError
from healthvault.status import StatusCode

from . import things as T
from . import tokens
from .blobstore import BlobStore
from .config import ServerConfig
from .protocol import PlatformError, ParsedRequest, check_hmac, check_info_hash, info_xml, locate
from .store import Store

log = logging.getLogger("hvgen_server")


@dataclass
class Context:
    """One request being served."""

    config: ServerConfig
    store: Store
    blobs: BlobStore
    key: bytes
    request: ParsedRequest
    app_id: str = ""
    record_id: str = ""
    now: float = field(default_factory=time.time)

    def blob_url(self, token: str) -> str:
        return f"{self.config.url}/streaming/wildcatblob.ashx?blob-ref-token={token}"


Handler = Callable[[Context], str]

#: Methods that need no session (the request names its app-id instead).
ANONYMOUS = {methods.CREATE_AUTHENTICATED_SESSION_TOKEN, methods.GET_SERVICE_DEFINITION}
#: Methods that act on a record (header record-id required and authorized).
RECORD_SCOPED = {
    methods.PUT_THINGS,
    methods.GET_THINGS3,
    methods.REMOVE_THINGS,
    methods.BEGIN_PUT_BLOB,
    methods.PICK_UP_CONNECT_PACKAGE,
}


def authenticate(ctx: Context) -> None:
    """Check timing, integrity, session and record access of a request."""
    header = ctx.request.header
    if not hasattr(header.msg_time, "to_datetime"):
        raise PlatformError(StatusCode.INVALID_XML, "msg-time is not a valid date-time")
    sent_ts = _timestamp(header.msg_time)
    if sent_ts > ctx.now + ctx.config.clock_skew:
        raise PlatformError(StatusCode.REQUEST_TIMED_OUT, "msg-time is in the future")
    if sent_ts + int(header.msg_ttl) < ctx.now:
        raise PlatformError(StatusCode.REQUEST_TIMED_OUT, "the request has expired (msg-time + msg-ttl)")

    if ctx.request.method in ANONYMOUS:
        check_info_hash(ctx.request, required=False)
        if not header.app_id:
            raise PlatformError(StatusCode.INVALID_APP, f"{ctx.request.method.name} needs an app-id")
        ctx.app_id = header.app_id
        return

    check_info_hash(ctx.request, required=True)
    if header.auth_session is None:
        raise PlatformError(StatusCode.INVALID_TOKEN, f"{ctx.request.method.name} needs an authenticated session")
    session = ctx.store.session(header.auth_session.auth_token)
    if session is None:
        raise PlatformError(StatusCode.INVALID_TOKEN, "unknown session token")
    check_hmac(ctx.request, session.secret)
    if session.expires < ctx.now:
        raise PlatformError(StatusCode.AUTHENTICATED_SESSION_TOKEN_EXPIRED, "the session has expired")
    ctx.app_id = session.app_id

    if ctx.request.method in RECORD_SCOPED:
        record_id = (header.record_id or "").strip()
        if not record_id:
            raise PlatformError(StatusCode.INVALID_RECORD, f"{ctx.request.method.name} needs a record-id")
        try:
            record_id = str(uuid.UUID(record_id))
        except ValueError:
            raise PlatformError(StatusCode.INVALID_RECORD, "record-id is not a GUID") from None
        if not ctx.store.record_exists(record_id):
            raise PlatformError(StatusCode.INVALID_RECORD, "unknown record")
        if not ctx.store.authorized(session.app_id, record_id):
            raise PlatformError(StatusCode.ACCESS_DENIED, "the application may not access this record")
        ctx.record_id = record_id


# -- CreateAuthenticatedSessionToken --------------------------------------------------


def create_session(ctx: Context) -> str:
    info = ctx.request.info()
    assert isinstance(info, cast.Info)
    auth = info.auth_info
    app = ctx.store.application(auth.app_id.value.strip())
    if app is None or app.app_id != ctx.app_id:
        raise PlatformError(StatusCode.INVALID_APP, "unknown application, or not the header's app-id")
    cred = auth.credential.appserver2
    if cred is None or cred.sig is None:
        raise PlatformError(StatusCode.ACCESS_DENIED, "only appserver2 credentials with a signature are accepted")
    content = cred.content
    if content.app_id.strip() != app.app_id:
        raise PlatformError(StatusCode.ACCESS_DENIED, "the signed content names another application")
    if content.hmac != cast.Hmac.HMACSHA256:
        raise PlatformError(StatusCode.ACCESS_DENIED, "only HMACSHA256 sessions are offered")
    if cred.sig.thumbprint.strip().upper() != app.thumbprint:
        raise PlatformError(StatusCode.BAD_CERT, "the thumbprint is not the application's certificate")
    if abs(_timestamp(content.signing_time) - ctx.now) > ctx.config.clock_skew + methods.DEFAULT_TTL:
        raise PlatformError(StatusCode.CREDENTIAL_TOKEN_EXPIRED, "the credential's signing-time is too far from now")
    # The signature covers the <content> element's bytes as sent.
    info_el = ctx.request.info_element
    content_el = info_el.find("auth-info/credential/appserver2/content")
    assert content_el is not None
    begin, end = locate(ctx.request.info_bytes, content_el)
    from cryptography import x509

    cert = x509.load_pem_x509_certificate(app.cert_pem.encode("ascii"))
    digest = "SHA256" if cred.sig.digest_method.upper() in ("SHA256", "SHA-256") else "SHA1"
    if not crypto.verify(cert, ctx.request.info_bytes[begin:end], cred.sig.value.strip(), digest):
        raise PlatformError(StatusCode.ACCESS_DENIED, "the application's signature does not verify")
    token = secrets.token_urlsafe(32)
    secret = crypto.new_shared_secret()
    ctx.store.add_session(token, app.app_id, secret, ctx.now + ctx.config.session_ttl)
    result = cast_result.Info(
        token=Token(
            value=token,
            app_id=app.app_id,
            app_record_auth_action=AppRecordAuthAction.NO_ACTION_REQUIRED,
        ),
        shared_secret=base64.b64encode(secret).decode("ascii"),
    )
    return info_xml(result)


# -- PutThings ---------------------------------------------------------------------------


def _data_root(thing_el: etree._Element) -> etree._Element | None:
    data_xml = T.child(thing_el, "data-xml")
    if data_xml is None:
        return None
    roots = [c for c in data_xml if isinstance(c.tag, str) and c.tag != "common"]
    return roots[0] if roots else None


def _validate_data(thing_el: etree._Element, type_id: str) -> etree._Element:
    cls = registry.thing_class(type_id)
    if cls is None:
        raise PlatformError(StatusCode.INVALID_THING_TYPE, f"unknown thing type {type_id}")
    data_sections = [c for c in thing_el if c.tag == "data-xml"]
    if len(data_sections) != 1:
        raise PlatformError(StatusCode.INVALID_XML, "a thing must have exactly one data-xml section")
    root = _data_root(thing_el)
    expected = getattr(getattr(cls, "Meta", None), "name", "")
    if root is None or root.tag != expected:
        raise PlatformError(
            StatusCode.INVALID_XML,
            f"data-xml of a {getattr(cls, 'TYPE_NAME', type_id)} thing must hold <{expected}>",
        )
    try:
        validation.validate_data(root, type_id)
        wire.from_element(copy.deepcopy(root), cls, what="data-xml", strict=True)
    except HealthVaultXmlError as exc:
        raise PlatformError(StatusCode.INVALID_XML, str(exc)) from None
    return root


@dataclass
class BlobRef:
    name: str
    content_type: str
    blob_id: str


def _current(db: sqlite3.Connection, record_id: str, thing_id: str) -> sqlite3.Row | None:
    row: sqlite3.Row | None = db.execute(
        "SELECT t.*, v.xml, v.seq FROM things t JOIN versions v ON v.version_stamp = t.version_stamp "
        "WHERE t.thing_id = ? AND t.record_id = ?",
        (thing_id, record_id),
    ).fetchone()
    return row


def _version_blobs(db: sqlite3.Connection, version_stamp: str) -> dict[str, BlobRef]:
    return {
        r["name"]: BlobRef(r["name"], r["content_type"], r["blob_id"])
        for r in db.execute(
            "SELECT name, content_type, blob_id FROM version_blobs WHERE version_stamp = ? ORDER BY rowid",
            (version_stamp,),
        )
    }


def put_things(ctx: Context) -> str:
    info = ctx.request.info()
    assert isinstance(info, put2.Info)
    thing_els = [c for c in ctx.request.info_element if c.tag == "thing"]
    if len(thing_els) != len(info.thing):
        raise PlatformError(StatusCode.INVALID_XML, "info holds elements other than things")
    keys = store_things(ctx, list(zip(info.thing, thing_els)))
    return info_xml(put_result.Info(thing_id=keys))


def store_things(
    ctx: Context,
    things: list[tuple[Any, etree._Element]],
    also: Callable[[sqlite3.Connection], None] | None = None,
) -> list[ThingKey]:
    """Create or update things in one transaction (with ``also`` run inside it)."""
    app = ctx.store.application(ctx.app_id)
    app_name = app.name if app else ctx.app_id
    person_id = ctx.store.person_of(ctx.record_id)
    keys: list[ThingKey] = []
    from .blobs import attach_payload, collect_garbage

    with ctx.store.write() as db:
        for thing, thing_el in things:
            type_id = (thing.type_id.value if thing.type_id else "").strip()
            if not type_id:
                raise PlatformError(StatusCode.INVALID_THING_TYPE, "a thing must name its type-id")
            type_id = str(uuid.UUID(type_id)) if _is_guid(type_id) else type_id
            data_root = _validate_data(thing_el, type_id)
            previous = None
            if thing.thing_id is not None:
                thing_id = thing.thing_id.value.strip()
                previous = _current(db, ctx.record_id, thing_id) if _is_guid(thing_id) else None
                if previous is None:
                    raise PlatformError(StatusCode.INVALID_THING, f"no thing {thing_id} in this record")
                stamp = (thing.thing_id.version_stamp or "").strip()
                if not stamp:
                    raise PlatformError(StatusCode.VERSION_STAMP_MISSING, f"update of {thing_id} names no version-stamp")
                if stamp != previous["version_stamp"]:
                    raise PlatformError(
                        StatusCode.VERSION_STAMP_MISMATCH,
                        f"thing {thing_id} is at version {previous['version_stamp']}, not {stamp}",
                    )
                if previous["type_id"] != type_id:
                    raise PlatformError(StatusCode.INVALID_THING_TYPE, "an update cannot change the thing type")
            else:
                thing_id = str(uuid.uuid4())
            version_stamp = str(uuid.uuid4())

            stored = T.clean_copy(thing_el)
            T.set_child(stored, "blob-payload", None)
            T.set_child(stored, "thing-id", T.element("thing-id", thing_id, version_stamp=version_stamp))
            type_name = str(getattr(registry.thing_class(type_id), "TYPE_NAME", ""))
            T.set_child(stored, "type-id", T.element("type-id", type_id, name=type_name))
            T.set_child(stored, "thing-state", T.element("thing-state", "Active"))
            flags = T.child(stored, "flags")
            if flags is not None and flags.text and flags.text.strip() not in ("0", "16"):
                T.set_child(stored, "flags", T.element("flags", "0"))
            created_at = previous["created"] if previous is not None else ctx.now
            eff_date = T.effective_date(data_root, created_at)
            T.set_child(stored, "eff-date", T.element("eff-date", eff_date))
            if previous is not None:
                old = T.parse_stored(previous["xml"])
                created_el = T.child(old, "created")
                T.set_child(stored, "created", copy.deepcopy(created_el) if created_el is not None else None)
            else:
                T.set_child(stored, "created", T.audit("created", ctx.now, ctx.app_id, app_name, person_id, "record owner", "Created"))
            T.set_child(
                stored,
                "updated",
                T.audit("updated", ctx.now, ctx.app_id, app_name, person_id, "record owner",
                        "Updated" if previous is not None else "Created"),
            )

            old_blobs = _version_blobs(db, previous["version_stamp"]) if previous is not None else {}
            blob_refs = attach_payload(ctx, db, thing.blob_payload, old_blobs)
            if T.child(stored, "signature-info") is not None:
                _verify_signature(ctx, db, stored, blob_refs)

            xml = bytes(etree.tostring(stored, encoding="utf-8"))
            seq = (previous["seq"] + 1) if previous is not None else 1
            client_id = (stored.findtext("data-xml/common/client-thing-id") or "").strip() or None
            if previous is None:
                db.execute(
                    "INSERT INTO things(thing_id, record_id, type_id, version_stamp, state, client_thing_id, "
                    "eff_date, created, updated) VALUES (?, ?, ?, ?, 'Active', ?, ?, ?, ?)",
                    (thing_id, ctx.record_id, type_id, version_stamp, client_id, eff_date, ctx.now, ctx.now),
                )
            else:
                db.execute(
                    "UPDATE things SET version_stamp = ?, state = 'Active', client_thing_id = ?, eff_date = ?, "
                    "updated = ? WHERE thing_id = ?",
                    (version_stamp, client_id, eff_date, ctx.now, thing_id),
                )
            db.execute(
                "INSERT INTO versions(version_stamp, thing_id, seq, state, xml, created) VALUES (?, ?, ?, 'Active', ?, ?)",
                (version_stamp, thing_id, seq, xml, ctx.now),
            )
            for ref in blob_refs:
                db.execute(
                    "INSERT INTO version_blobs(version_stamp, name, content_type, blob_id) VALUES (?, ?, ?, ?)",
                    (version_stamp, ref.name, ref.content_type, ref.blob_id),
                )
                db.execute("UPDATE blobs SET state = 'committed' WHERE blob_id = ?", (ref.blob_id,))
            keys.append(ThingKey(value=thing_id, version_stamp=version_stamp))
        if also is not None:
            also(db)
        unreferenced = collect_garbage(db)
    for blob_id in unreferenced:  # only once the transaction is committed
        ctx.blobs.path(blob_id).unlink(missing_ok=True)
    return keys


def _verify_signature(ctx: Context, db: sqlite3.Connection, stored: etree._Element, refs: list[BlobRef]) -> None:
    """Check a signed thing as the platform did at PutThings: the signature,
    and every blob against the hash in sig-data, using the hashes of the
    bytes the server holds."""
    candidate = copy.deepcopy(stored)
    payload = T.element("blob-payload")
    hashes: dict[str, tuple[str, int]] = {}
    for ref in refs:
        row = ctx.blobs.row(db, ref.blob_id)
        if row is None or row.hash is None:
            raise PlatformError(StatusCode.INVALID_BLOB_REF_URL, f"blob {ref.name!r} is not available")
        hashes[ref.name] = (row.hash, row.block_size)
        blob = T.element("blob")
        info = T.element("blob-info")
        info.append(T.element("name", ref.name))
        info.append(T.element("content-type", ref.content_type))
        blob.append(info)
        blob.append(T.element("blob-ref-url", "urn:hvgen:stored-blob"))
        payload.append(blob)
    T.set_child(candidate, "blob-payload", payload if len(payload) else None)
    try:
        result = signing.verify(candidate, blob_hashes=hashes, trust=ctx.config.signer_trust())
    except HealthVaultXmlError as exc:
        raise PlatformError(StatusCode.INVALID_XML, f"signature-info: {exc}") from None
    if result.valid:
        return
    parts = result.parts()
    message = "thing signature: " + "; ".join(str(p) for p in result.problems)
    if "algorithm" in parts:
        code = StatusCode.INVALID_SIGNATURE_ALGORITHM
    elif "certificate" in parts:
        code = StatusCode.BAD_CERT
    elif any(p.startswith("blob:") for p in parts) and not parts & {"signed-data", "signature-value", "structure"}:
        code = StatusCode.INVALID_BLOB_HASH
    else:
        code = StatusCode.BAD_SIG
    raise PlatformError(code, message)


def _is_guid(text: str) -> bool:
    try:
        uuid.UUID(text)
    except ValueError:
        return False
    return True


# -- GetThings -----------------------------------------------------------------------------


def _timestamp(value: Any) -> float:
    """Epoch seconds of an xs:dateTime binding value (UTC when it has no zone)."""
    moment = value.to_datetime()
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=dt.timezone.utc)
    return float(moment.timestamp())


#: Filter bounds on dates: (filter field, things column, operator).
_DATE_BOUNDS = (
    ("eff_date_min", "eff_date", ">="),
    ("eff_date_max", "eff_date", "<="),
    ("created_date_min", "created", ">="),
    ("created_date_max", "created", "<="),
    ("updated_date_min", "updated", ">="),
    ("updated_date_max", "updated", "<="),
)


def _audit_matches(xml: bytes, flt: object) -> bool:
    checks = (
        ("created_app_id", "created/app-id"),
        ("created_person_id", "created/person-id"),
        ("updated_app_id", "updated/app-id"),
        ("updated_person_id", "updated/person-id"),
    )
    wanted = [(getattr(flt, a, None), path) for a, path in checks if getattr(flt, a, None)]
    if not wanted:
        return True
    root = T.parse_stored(xml)
    return all((root.findtext(path) or "").strip().lower() == str(v).strip().lower() for v, path in wanted)


def _select(ctx: Context, db: sqlite3.Connection, group: gt3.ThingRequestGroup2) -> list[sqlite3.Row]:
    where = ["t.record_id = ?"]
    args: list[object] = [ctx.record_id]
    if group.id:
        ids = [i.strip().lower() for i in group.id]
        where.append(f"t.thing_id IN ({','.join('?' * len(ids))})")
        args.extend(ids)
    if group.client_thing_id:
        where.append(f"t.client_thing_id IN ({','.join('?' * len(group.client_thing_id))})")
        args.extend(c.strip() for c in group.client_thing_id)
    key_stamps: dict[str, str] = {}
    if group.key:
        key_stamps = {k.value.strip().lower(): (k.version_stamp or "").strip().lower() for k in group.key}
        where.append(f"t.thing_id IN ({','.join('?' * len(key_stamps))})")
        args.extend(key_stamps)
    all_versions = group.current_version_only is False
    join = "v.thing_id = t.thing_id" if (all_versions or key_stamps) else "v.version_stamp = t.version_stamp"
    sql = (
        "SELECT t.thing_id, t.type_id, t.eff_date, t.created, t.updated, t.version_stamp AS current_stamp, "
        "v.version_stamp, v.state, v.xml, v.seq FROM things t JOIN versions v ON " + join
        + " WHERE " + " AND ".join(where) + " ORDER BY t.eff_date DESC, t.created DESC, v.seq DESC"
    )
    rows = db.execute(sql, args).fetchall()
    if key_stamps:
        rows = [r for r in rows if not key_stamps.get(r["thing_id"]) or key_stamps[r["thing_id"]] == r["version_stamp"]]

    filters = group.filter or []
    explicit_states = any(f.thing_state for f in filters)
    if not explicit_states:
        rows = [r for r in rows if r["state"] == "Active"]
    if not filters:
        return rows

    matched: list[sqlite3.Row] = []
    compiled = [(f, T.compile_xpath(f.xpath) if f.xpath else None) for f in filters]
    for row in rows:
        for flt, xpath in compiled:
            if flt.type_id and row["type_id"] not in {str(uuid.UUID(t.strip())) for t in flt.type_id if _is_guid(t.strip())}:
                continue
            states = {s.value for s in flt.thing_state} or {"Active"}
            if row["state"] not in states:
                continue
            if not _dates_match(row, flt):
                continue
            if not _audit_matches(row["xml"], flt):
                continue
            if xpath is not None and not T.xpath_matches(xpath, row["xml"]):
                continue
            matched.append(row)
            break
    return matched


def _dates_match(row: sqlite3.Row, flt: object) -> bool:
    for attr, column, op in _DATE_BOUNDS:
        value = getattr(flt, attr, None)
        if value is None:
            continue
        bound: Any = _timestamp(value)
        if column == "eff_date":  # stored as ISO text, which sorts like time
            bound = T.iso(bound)
        have = row[column]
        if not (have >= bound if op == ">=" else have <= bound):
            return False
    return True


def get_things(ctx: Context) -> str:
    info = ctx.request.info()
    assert isinstance(info, gt3.Info)
    if len(info.group) > ctx.config.max_groups:
        raise PlatformError(StatusCode.TOO_MANY_GROUPS_IN_QUERY, f"at most {ctx.config.max_groups} groups per request")
    from .blobs import payload_for

    parts = [f'<wc:info xmlns:wc="{wire.RESPONSE_NS_PREFIX}GetThings3">']
    with ctx.store.read() as db:
        for group in info.group:
            fmt = group.format
            sections = {s.value for s in fmt.section} or {"core"}
            want_xml = bool(fmt.xml)
            blob_request = fmt.blob_payload_request
            blob_format = blob_request.blob_format.blob_format_spec.value if blob_request else "streamed"
            blob_names = (
                {f.blob_name for f in blob_request.blob_filters.blob_filter}
                if blob_request and blob_request.blob_filters
                else None
            )
            rows = _select(ctx, db, group)
            if group.max is not None:
                rows = rows[: int(group.max)]
            full_cap = ctx.config.max_full_things
            if group.max_full is not None:
                full_cap = min(full_cap, int(group.max_full))
            name_attr = f' name="{_attr(group.name)}"' if group.name is not None else ""
            parts.append(f"<group{name_attr}>")
            for row in rows[:full_cap]:
                payload = None
                if "blobpayload" in sections:
                    payload = payload_for(ctx, db, row["version_stamp"], blob_format, blob_names)
                parts.append(T.render(row["xml"], sections, want_xml, payload).decode("utf-8"))
            for row in rows[full_cap:]:
                parts.append(
                    f'<unprocessed-thing-key-info><thing-id version-stamp="{row["version_stamp"]}">'
                    f'{row["thing_id"]}</thing-id><type-id>{row["type_id"]}</type-id>'
                    f'<eff-date>{row["eff_date"]}</eff-date></unprocessed-thing-key-info>'
                )
            parts.append("</group>")
    parts.append("</wc:info>")
    return "".join(parts)


def _attr(text: str) -> str:
    return text.replace("&", "&amp;").replace('"', "&quot;").replace("<", "&lt;")


# -- RemoveThings ---------------------------------------------------------------------------


def remove_things(ctx: Context) -> str:
    info = ctx.request.info()
    assert isinstance(info, rm.Info)
    with ctx.store.write() as db:
        for key in info.thing_id:
            thing_id = key.value.strip().lower()
            current = _current(db, ctx.record_id, thing_id) if _is_guid(thing_id) else None
            if current is None or current["state"] != "Active":
                raise PlatformError(StatusCode.INVALID_THING, f"no active thing {key.value} in this record")
            if (key.version_stamp or "").strip().lower() != current["version_stamp"]:
                raise PlatformError(
                    StatusCode.VERSION_STAMP_MISMATCH,
                    f"thing {thing_id} is at version {current['version_stamp']}, not {key.version_stamp}",
                )
            stamp = str(uuid.uuid4())
            stored = T.parse_stored(current["xml"])
            T.set_child(stored, "thing-id", T.element("thing-id", thing_id, version_stamp=stamp))
            T.set_child(stored, "thing-state", T.element("thing-state", "Deleted"))
            xml = bytes(etree.tostring(stored, encoding="utf-8"))
            db.execute(
                "INSERT INTO versions(version_stamp, thing_id, seq, state, xml, created) VALUES (?, ?, ?, 'Deleted', ?, ?)",
                (stamp, thing_id, current["seq"] + 1, xml, ctx.now),
            )
            db.execute(
                "INSERT INTO version_blobs(version_stamp, name, content_type, blob_id) "
                "SELECT ?, name, content_type, blob_id FROM version_blobs WHERE version_stamp = ?",
                (stamp, current["version_stamp"]),
            )
            db.execute(
                "UPDATE things SET version_stamp = ?, state = 'Deleted', updated = ? WHERE thing_id = ?",
                (stamp, ctx.now, thing_id),
            )
    return ""


# -- BeginPutBlob -------------------------------------------------------------------------------


def begin_put_blob(ctx: Context) -> str:
    with ctx.store.write() as db:
        blob_id = ctx.blobs.begin(db, ctx.record_id)
    token = tokens.issue(ctx.key, "w", ctx.record_id, blob_id, ctx.config.blob_write_ttl)
    result = bpb.Info(
        blob_ref_url=ctx.blob_url(token),
        blob_chunk_size=ctx.config.chunk_size,
        max_blob_size=ctx.config.max_blob_size,
        blob_hash_algorithm="SHA256Block",
        blob_hash_parameters=BlobHashAlgorithmParameters(block_size=ctx.config.block_size),
    )
    return info_xml(result)


# -- GetServiceDefinition ------------------------------------------------------------------


def service_definition(ctx: Context) -> str:
    from healthvault.bindings.methods import response_getservicedefinition2 as gsd

    c = ctx.config
    items = {
        "maxRequestUncompressedSizeBytes": c.max_request_bytes,
        "maxInlineBlobSizeBytes": c.inline_blob_limit,
        "blobChunkSizeBytes": c.chunk_size,
        "blobHashBlockSizeBytes": c.block_size,
        "maxBlobSizeBytes": c.max_blob_size,
        "blobStreamTokenTtlMs": int(c.blob_read_ttl * 1000),
        "blobStreamWriteTokenTtlMs": int(c.blob_write_ttl * 1000),
        "MaxFullThingResultsPerGroup": c.max_full_things,
        "maxGroupsPerRequest": c.max_groups,
        "sessionTokenTtlMs": int(c.session_ttl * 1000),
    }
    result = gsd.Info(
        platform=gsd.PlatformInfo(
            url=c.url + "/wildcat.ashx",
            version="hvgen local platform",
            configuration=[gsd.ConfigurationEntry(value=str(v), key=k) for k, v in items.items()],
        )
    )
    return info_xml(result)


HANDLERS: dict[methods.Method, Handler] = {
    methods.GET_SERVICE_DEFINITION: service_definition,
    methods.CREATE_AUTHENTICATED_SESSION_TOKEN: create_session,
    methods.PUT_THINGS: put_things,
    methods.GET_THINGS3: get_things,
    methods.REMOVE_THINGS: remove_things,
    methods.BEGIN_PUT_BLOB: begin_put_blob,
}
