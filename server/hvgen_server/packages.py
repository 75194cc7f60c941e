"""Connect packages (drop-off and pick-up) on the local platform.

AllocatePackageId, BeginPutConnectPackageBlob and CreateConnectPackage v2 are
the platform's methods. PickUpConnectPackage stands in for the web shell
where a person opened a package: it takes the answer, decrypts the package
and its blobs, and adds the things to the caller's record. A wrong answer
adds nothing; after three wrong answers the package is locked. A package
can be picked up once and expires after four weeks.
"""

from __future__ import annotations

import base64
import copy
import json
import secrets
import sqlite3
import string
import time
from pathlib import Path

from lxml import etree

from healthvault import blobhash, codec, connectpackage, safexml, wire
from healthvault.bindings.methods import method_createconnectpackage2 as ccp
from healthvault.bindings.methods import method_pickupconnectpackage as pick
from healthvault.bindings.methods import response_allocatepackageid as alloc_result
from healthvault.bindings.methods import response_beginputconnectpackageblob as bpcpb
from healthvault.bindings.methods import response_createconnectpackage as ccp_result
from healthvault.bindings.methods import response_pickupconnectpackage as pick_result
from healthvault.bindings.methods.response_beginputconnectpackageblob import PackageBlobChunkEncryptionAlgorithm
from healthvault.bindings.thing import Thing2
from healthvault.bindings.things.password_protected_package import PasswordProtectedPackage
from healthvault.bindings.wc_types import BlobHashAlgorithmParameters
from healthvault.errors import HealthVaultXmlError
from healthvault.status import StatusCode

from . import tokens
from .blobs import token_of
from .handlers import Context, store_things
from .protocol import PlatformError, info_xml

LIFETIME = 28 * 24 * 3600
MAX_ATTEMPTS = 3


def new_identity_code() -> str:
    """Five groups of four letters, as the platform's examples show them."""
    letters = string.ascii_uppercase
    return "-".join("".join(secrets.choice(letters) for _ in range(4)) for _ in range(5))


def allocate_package_id(ctx: Context) -> str:
    code = new_identity_code()
    now = time.time()
    with ctx.store.write() as db:
        db.execute(
            "INSERT INTO packages(identity_code, app_id, state, created, expires) VALUES (?, ?, 'allocated', ?, ?)",
            (code, ctx.app_id, now, now + LIFETIME),
        )
    return info_xml(alloc_result.Info(identity_code=code))


def begin_put_connect_package_blob(ctx: Context) -> str:
    pre = ctx.config.chunk_size
    post = connectpackage.encrypted_size(pre)
    with ctx.store.write() as db:
        blob_id = ctx.blobs.begin(db, None, kind="package", chunk_size=post)
    token = tokens.issue(ctx.key, "w", "", blob_id, ctx.config.blob_write_ttl)
    result = bpcpb.Info(
        blob_ref_url=ctx.blob_url(token),
        package_blob_chunk_encryption_algorithm=PackageBlobChunkEncryptionAlgorithm.AES256,
        blob_pre_encryption_chunk_size=pre,
        blob_post_encryption_chunk_size=post,
        max_blob_size=ctx.config.max_blob_size,
        blob_hash_algorithm=blobhash.ALGORITHM,
        blob_hash_parameters=BlobHashAlgorithmParameters(block_size=ctx.config.block_size),
    )
    return info_xml(result)


def _package_blob(ctx: Context, db: sqlite3.Connection, url: str) -> str:
    try:
        claims = tokens.check(ctx.key, token_of(url), "w")
    except tokens.TokenError as exc:
        raise PlatformError(StatusCode.INVALID_BLOB_REF_URL, f"package blob {url!r}: {exc}") from None
    row = ctx.blobs.row(db, claims.blob_id)
    if row is None or row.kind != "package" or claims.record_id:
        raise PlatformError(StatusCode.INVALID_BLOB_REF_URL, f"{url!r} is not a package blob")
    if row.state != "complete":
        raise PlatformError(StatusCode.BLOB_TOKEN_NOT_COMPLETED, f"package blob {url!r} was not completed")
    return row.blob_id


def create_connect_package(ctx: Context) -> str:
    info = ctx.request.info()
    assert isinstance(info, ccp.Info)
    package = info.package
    data = package.data_xml[0].any_element if package.data_xml else None
    if not isinstance(data, PasswordProtectedPackage):
        raise PlatformError(StatusCode.INVALID_PACKAGE_CONTENTS, "the package must be a password-protected package thing")
    if data.encrypt_algorithm.algorithm_name != connectpackage.ALGORITHM_NAME:
        raise PlatformError(StatusCode.INVALID_PACKAGE_CONTENTS, f"unsupported package algorithm {data.encrypt_algorithm.algorithm_name}")
    blobs = package.blob_payload.blob if package.blob_payload else []
    if len(blobs) != 1 or blobs[0].blob_info.name or not blobs[0].base64data:
        raise PlatformError(StatusCode.INVALID_PACKAGE_CONTENTS, "the package's encrypted things must be its inline default blob")
    package_el = ctx.request.info_element.find("package")
    assert package_el is not None
    package_xml = etree.tostring(copy.deepcopy(package_el), encoding="utf-8")
    now = time.time()
    with ctx.store.write() as db:
        blob_ids = [
            _package_blob(ctx, db, url)
            for url in (info.streamed_package_blobs.blob_in_package_ref_url if info.streamed_package_blobs else [])
        ]
        code = (info.identity_code or "").strip()
        if code:
            row = db.execute("SELECT * FROM packages WHERE identity_code = ?", (code,)).fetchone()
            if row is None or row["app_id"] != ctx.app_id:
                raise PlatformError(StatusCode.INVALID_IDENTITY_CODE, f"package id {code} was not allocated to this application")
            if row["state"] != "allocated":
                raise PlatformError(StatusCode.CONNECT_PACKAGE_EXISTS, f"package {code} already exists")
            db.execute(
                "UPDATE packages SET state = 'pending', friendly_name = ?, question = ?, external_id = ?, "
                "package_xml = ?, created = ?, expires = ? WHERE identity_code = ?",
                (info.friendly_name, info.question, info.external_id, package_xml, now, now + LIFETIME, code),
            )
        else:
            code = new_identity_code()
            db.execute(
                "INSERT INTO packages(identity_code, app_id, state, friendly_name, question, external_id, package_xml, "
                "created, expires) VALUES (?, ?, 'pending', ?, ?, ?, ?, ?, ?)",
                (code, ctx.app_id, info.friendly_name, info.question, info.external_id, package_xml, now, now + LIFETIME),
            )
        for blob_id in blob_ids:
            db.execute("INSERT INTO package_blobs(identity_code, blob_id) VALUES (?, ?)", (code, blob_id))
            db.execute("UPDATE blobs SET state = 'committed' WHERE blob_id = ?", (blob_id,))
    return info_xml(ccp_result.Info(identity_code=code))


# -- pick-up ------------------------------------------------------------------------------------


def _decrypt_blob(ctx: Context, source: Path, cipher: connectpackage.ChunkCipher, post_chunk: int) -> tuple[str, str, int]:
    """Decrypt a package blob, chunk by chunk, into a new record blob.
    Returns (blob id, SHA256Block of the plaintext, plaintext length)."""
    hasher = blobhash.SHA256Block(ctx.config.block_size)
    with ctx.store.write() as db:
        blob_id = ctx.blobs.begin(db, ctx.record_id)
    target = ctx.blobs.path(blob_id)
    with open(source, "rb") as src, open(target, "wb") as out:
        while chunk := src.read(post_chunk):
            plain = cipher.open(chunk)
            hasher.update(plain)
            out.write(plain)
    digest = hasher.b64digest()
    with ctx.store.write() as db:
        db.execute(
            "UPDATE blobs SET state = 'complete', received = ?, total = ?, hash = ? WHERE blob_id = ?",
            (hasher.length, hasher.length, digest, blob_id),
        )
    return blob_id, digest, hasher.length


def pick_up_connect_package(ctx: Context) -> str:
    info = ctx.request.info()
    assert isinstance(info, pick.Info)
    code = info.identity_code.strip().upper()
    with ctx.store.read() as db:
        row = db.execute("SELECT * FROM packages WHERE identity_code = ?", (code,)).fetchone()
    if row is None or row["state"] in ("allocated",):
        raise PlatformError(StatusCode.INVALID_IDENTITY_CODE, f"no package {code}")
    if row["state"] == "picked":
        raise PlatformError(StatusCode.INVALID_IDENTITY_CODE, f"package {code} was already picked up")
    if row["state"] == "locked":
        raise PlatformError(StatusCode.ACCESS_DENIED, f"package {code} is locked after {MAX_ATTEMPTS} wrong answers")
    if row["expires"] < ctx.now:
        raise PlatformError(StatusCode.INVALID_IDENTITY_CODE, f"package {code} has expired")

    package = codec.bind(safexml.parse(row["package_xml"], what="package", max_bytes=None), Thing2, what="package")
    data = package.data_xml[0].any_element
    assert isinstance(data, PasswordProtectedPackage)
    params = data.encrypt_algorithm.parameters
    salt = params.salt if params and params.salt else ""
    iterations = int(params.iteration_count) if params and params.iteration_count else connectpackage.ITERATIONS
    ciphertext = base64.b64decode(package.blob_payload.blob[0].base64data or "")  # type: ignore[union-attr]
    try:
        things_xml = connectpackage.open_sealed(ciphertext, info.answer, salt, iterations)
    except connectpackage.WrongAnswer:
        attempts = row["attempts"] + 1
        with ctx.store.write() as db:
            db.execute(
                "UPDATE packages SET attempts = ?, state = ? WHERE identity_code = ?",
                (attempts, "locked" if attempts >= MAX_ATTEMPTS else row["state"], code),
            )
        left = MAX_ATTEMPTS - attempts
        raise PlatformError(
            StatusCode.ACCESS_DENIED,
            "wrong answer; " + (f"{left} attempt(s) left" if left > 0 else "the package is now locked"),
        ) from None

    try:
        holder = safexml.parse(b"<package-things>" + things_xml + b"</package-things>", what="package contents", max_bytes=None)
    except HealthVaultXmlError as exc:
        raise PlatformError(StatusCode.INVALID_PACKAGE_CONTENTS, str(exc)) from None
    key, iv = connectpackage.derive(info.answer, salt, iterations)
    cipher = connectpackage.ChunkCipher(key, iv)
    with ctx.store.read() as db:
        package_blobs = {
            r["blob_id"]: r for r in db.execute(
                "SELECT b.* FROM package_blobs pb JOIN blobs b ON b.blob_id = pb.blob_id WHERE pb.identity_code = ?", (code,)
            )
        }
    things = []
    for thing_el in holder.findall("thing"):
        for url_el in thing_el.findall("blob-payload/blob/blob-ref-url"):
            # The package was checked at CreateConnectPackage; only its own blobs count here.
            claims_id = _blob_id_of(url_el.text or "")
            source = package_blobs.get(claims_id)
            if source is None:
                raise PlatformError(StatusCode.INVALID_PACKAGE_CONTENTS, "a packaged thing refers to a blob that is not part of the package")
            blob_id, digest, length = _decrypt_blob(ctx, ctx.blobs.path(source["blob_id"]), cipher, source["chunk_size"])
            blob_el = url_el.getparent()
            hash_el = blob_el.find("blob-info/hash-info/hash")
            if hash_el is not None and (hash_el.text or "").strip() != digest:
                raise PlatformError(StatusCode.INVALID_BLOB_HASH, "a package blob does not decrypt to its hash (corrupt package?)")
            length_el = blob_el.find("content-length")
            if length_el is not None:
                length_el.text = str(length)
            url_el.text = ctx.blob_url(tokens.issue(ctx.key, "w", ctx.record_id, blob_id, ctx.config.blob_write_ttl))
        for id_el in thing_el.findall("thing-id"):
            thing_el.remove(id_el)  # picked-up things are new things in the record
        try:
            thing = wire.from_element(copy.deepcopy(thing_el), Thing2, what="packaged thing")
        except HealthVaultXmlError as exc:
            raise PlatformError(StatusCode.INVALID_PACKAGE_CONTENTS, str(exc)) from None
        things.append((thing, thing_el))

    def mark_picked(db: sqlite3.Connection) -> None:
        updated = db.execute(
            "UPDATE packages SET state = 'picked', picked_record = ? WHERE identity_code = ? AND state = 'pending'",
            (ctx.record_id, code),
        )
        if updated.rowcount != 1:
            raise PlatformError(StatusCode.INVALID_IDENTITY_CODE, f"package {code} was picked up meanwhile")

    keys = store_things(ctx, things, also=mark_picked)
    return info_xml(pick_result.Info(thing_id=keys))


def _blob_id_of(url: str) -> str:
    """The blob id a package blob URL names (its token's claims)."""
    payload = token_of(url).split(".")[0]
    try:
        return str(json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))["b"])
    except (ValueError, KeyError):
        return ""


HANDLERS = {
    "AllocatePackageId": allocate_package_id,
    "BeginPutConnectPackageBlob": begin_put_connect_package_blob,
    "CreateConnectPackage": create_connect_package,
    "PickUpConnectPackage": pick_up_connect_package,
}
