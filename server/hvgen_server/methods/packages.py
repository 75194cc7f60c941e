"""Connect packages (drop-off and pick-up) on the local platform.

AllocatePackageId, BeginPutConnectPackageBlob and CreateConnectPackage v2 are
the platform's methods. PickUpConnectPackage stands in for the web shell
where a person opened a package: it takes the answer, decrypts the package
and its blobs, and adds the things to the caller's record. A wrong answer
adds nothing; after three wrong answers the package is locked. A package
can be picked up once and expires after four weeks. The right answer starts
a pick-up job that the caller follows (:mod:`..pickup`). A study the record
already holds is merged into it, not added twice (:mod:`..studymerge`).
"""

from __future__ import annotations

import copy
import functools
import secrets
import string
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass

from lxml import etree

from healthvault import blobhash, codec, connectpackage, crypto, safexml, wire
from healthvault.bindings.methods.response_beginputconnectpackageblob import PackageBlobChunkEncryptionAlgorithm
from healthvault.errors import HealthVaultXmlError
from healthvault.schema import (
    AllocatePackageIdResult,
    BeginPutConnectPackageBlobResult,
    BlobHashAlgorithmParameters,
    CreateConnectPackage2Params,
    CreateConnectPackageResult,
    PasswordProtectedPackage,
    PickUpConnectPackageParams,
    PickUpConnectPackageResult,
    Thing2,
    ThingKey,
)
from healthvault.status import StatusCode

from .. import pickup, studymerge, tokens
from ..context import Context
from ..errors import PlatformError
from ..store import Transaction
from ..store.rows import (
    ALLOCATED,
    COMPLETE,
    DONE,
    FAILED,
    LOCKED,
    PACKAGE_BLOB,
    PICKED,
    PICKING,
    RUNNING,
    BlobRow,
    Package,
    PackageContent,
)
from .blobs import begin_upload, token_of
from .things import store_things

LIFETIME = 28 * 24 * 3600
MAX_ATTEMPTS = 3


def new_identity_code() -> str:
    """Five groups of four letters, as the platform's examples show them."""
    letters = string.ascii_uppercase
    return "-".join("".join(secrets.choice(letters) for _ in range(4)) for _ in range(5))


def allocate_package_id(ctx: Context) -> AllocatePackageIdResult:
    code = new_identity_code()
    now = time.time()
    with ctx.store.write() as tx:
        tx.packages.allocate(code, ctx.app_id, now, now + LIFETIME)
    return AllocatePackageIdResult(identity_code=code)


def begin_put_connect_package_blob(ctx: Context) -> BeginPutConnectPackageBlobResult:
    pre = ctx.config.chunk_size
    post = connectpackage.encrypted_size(pre)
    with ctx.store.write() as tx:
        blob_id = begin_upload(ctx.platform, tx, None, kind=PACKAGE_BLOB, chunk_size=post)
    token = tokens.issue(ctx.key, "w", "", blob_id, ctx.config.blob_write_ttl)
    return BeginPutConnectPackageBlobResult(
        blob_ref_url=ctx.blob_url(token),
        package_blob_chunk_encryption_algorithm=PackageBlobChunkEncryptionAlgorithm.AES256,
        blob_pre_encryption_chunk_size=pre,
        blob_post_encryption_chunk_size=post,
        max_blob_size=ctx.config.max_blob_size,
        blob_hash_algorithm=blobhash.ALGORITHM,
        blob_hash_parameters=BlobHashAlgorithmParameters(block_size=ctx.config.block_size),
    )


def _package_blob(ctx: Context, tx: Transaction, url: str) -> str:
    try:
        claims = tokens.check(ctx.key, token_of(url), "w")
    except tokens.TokenError as exc:
        raise PlatformError(StatusCode.INVALID_BLOB_REF_URL, f"package blob {url!r}: {exc}") from None
    row = tx.blobs.get(claims.blob_id)
    if row is None or row.kind != PACKAGE_BLOB or claims.record_id:
        raise PlatformError(StatusCode.INVALID_BLOB_REF_URL, f"{url!r} is not a package blob")
    if row.state != COMPLETE:
        raise PlatformError(StatusCode.BLOB_TOKEN_NOT_COMPLETED, f"package blob {url!r} was not completed")
    return row.blob_id


def create_connect_package(ctx: Context) -> CreateConnectPackageResult:
    info = ctx.request.info()
    assert isinstance(info, CreateConnectPackage2Params)
    package = info.package
    data = package.data_xml[0].any_element if package.data_xml else None
    if not isinstance(data, PasswordProtectedPackage):
        raise PlatformError(
            StatusCode.INVALID_PACKAGE_CONTENTS, "the package must be a password-protected package thing"
        )
    if data.encrypt_algorithm.algorithm_name != connectpackage.ALGORITHM_NAME:
        raise PlatformError(
            StatusCode.INVALID_PACKAGE_CONTENTS,
            f"unsupported package algorithm {data.encrypt_algorithm.algorithm_name}",
        )
    params = data.encrypt_algorithm.parameters
    if params is not None and params.iteration_count is not None:
        pickup.check_iterations(int(params.iteration_count))
    blobs = package.blob_payload.blob if package.blob_payload else []
    if len(blobs) != 1 or blobs[0].blob_info.name or not blobs[0].base64data:
        raise PlatformError(
            StatusCode.INVALID_PACKAGE_CONTENTS, "the package's encrypted things must be its inline default blob"
        )
    package_el = ctx.request.info_element.find("package")
    assert package_el is not None
    content = PackageContent(
        friendly_name=info.friendly_name,
        question=info.question,
        external_id=info.external_id,
        package_xml=bytes(etree.tostring(copy.deepcopy(package_el), encoding="utf-8")),
    )
    urls = info.streamed_package_blobs.blob_in_package_ref_url if info.streamed_package_blobs else []
    now = time.time()
    with ctx.store.write() as tx:
        blob_ids = [_package_blob(ctx, tx, url) for url in urls]
        code = (info.identity_code or "").strip()
        if code:
            existing = tx.packages.get(code)
            if existing is None or existing.app_id != ctx.app_id:
                raise PlatformError(
                    StatusCode.INVALID_IDENTITY_CODE, f"package id {code} was not allocated to this application"
                )
            if existing.state != ALLOCATED:
                raise PlatformError(StatusCode.CONNECT_PACKAGE_EXISTS, f"package {code} already exists")
            tx.packages.fill(code, content, now, now + LIFETIME)
        else:
            code = new_identity_code()
            tx.packages.create(code, ctx.app_id, content, now, now + LIFETIME)
        for blob_id in blob_ids:
            tx.packages.add_blob(code, blob_id)
            tx.blobs.mark_committed(blob_id)
    return CreateConnectPackageResult(identity_code=code)


# -- pick-up ------------------------------------------------------------------------------------


def _decrypt_blob(
    ctx: Context, source: BlobRow, cipher: connectpackage.ChunkCipher, progress: Callable[[int], None]
) -> tuple[str, str, int]:
    """Decrypt a package blob, chunk by chunk, into a new record blob
    (telling ``progress`` the encrypted bytes read after each chunk).
    Returns (blob id, SHA256Block of the plaintext, plaintext length)."""
    hasher = blobhash.SHA256Block(ctx.config.block_size)
    post_chunk = source.chunk_size or connectpackage.encrypted_size(ctx.config.chunk_size)
    with ctx.store.write() as tx:
        blob_id = begin_upload(ctx.platform, tx, ctx.record_id)

    def plaintext() -> Iterator[bytes]:
        for chunk in ctx.files.read(source.blob_id, piece=post_chunk):
            try:
                plain = cipher.open(chunk)
            except connectpackage.WrongAnswer:
                raise PlatformError(
                    StatusCode.INVALID_PACKAGE_CONTENTS, "a package blob does not decrypt (corrupt package?)"
                ) from None
            hasher.update(plain)
            progress(len(chunk))
            yield plain

    ctx.files.put(blob_id, plaintext())
    digest = hasher.b64digest()
    with ctx.store.write() as tx:
        tx.blobs.complete(blob_id, hasher.length, digest)
    return blob_id, digest, hasher.length


@dataclass(frozen=True)
class _Sealed:
    """A package's encrypted things and how their key is made."""

    salt: str
    iterations: int
    ciphertext: bytes

    def open(self, answer: str) -> pickup.Opened:
        """Raises connectpackage.WrongAnswer when the answer does not open it."""
        key, iv = pickup.derive(answer, self.salt, self.iterations)
        return pickup.Opened(key, iv, connectpackage.open_with_key(self.ciphertext, key, iv, self.salt))


def _find_package(ctx: Context, code: str) -> Package:
    with ctx.store.read() as tx:
        package = tx.packages.get(code)
    if package is None or package.state == ALLOCATED:
        raise PlatformError(StatusCode.INVALID_IDENTITY_CODE, f"no package {code}")
    if package.expires < ctx.now and package.state != PICKING:
        raise PlatformError(StatusCode.INVALID_IDENTITY_CODE, f"package {code} has expired")
    return package


def _sealed(package: Package) -> _Sealed:
    thing = codec.bind(
        safexml.parse(package.package_xml or b"", what="package", max_bytes=None), Thing2, what="package"
    )
    data = thing.data_xml[0].any_element
    assert isinstance(data, PasswordProtectedPackage)
    params = data.encrypt_algorithm.parameters
    salt = params.salt if params and params.salt else ""
    iterations = int(params.iteration_count) if params and params.iteration_count else connectpackage.ITERATIONS
    pickup.check_iterations(iterations)
    try:
        ciphertext = crypto.b64decode(thing.blob_payload.blob[0].base64data or "")  # type: ignore[union-attr]
    except ValueError:
        raise PlatformError(
            StatusCode.INVALID_PACKAGE_CONTENTS, "the package's encrypted things are not base64"
        ) from None
    return _Sealed(salt, iterations, ciphertext)


def _already_picked(code: str) -> PlatformError:
    return PlatformError(StatusCode.INVALID_IDENTITY_CODE, f"package {code} was already picked up")


def pick_up_connect_package(ctx: Context) -> PickUpConnectPackageResult:
    """Check the answer; the right one starts the pick-up job (or follows it,
    for the person who gave it); answers with the job's state."""
    info = ctx.request.info()
    assert isinstance(info, PickUpConnectPackageParams)
    code = info.identity_code.strip().upper()
    package = _find_package(ctx, code)
    sealed = _sealed(package)
    if package.state in (PICKING, PICKED):
        return _follow(ctx, code, sealed, info.answer)
    if package.state == LOCKED:
        raise PlatformError(StatusCode.ACCESS_DENIED, f"package {code} is locked after {MAX_ATTEMPTS} wrong answers")
    with ctx.store.write() as tx:
        attempts = tx.packages.reserve_attempt(code, MAX_ATTEMPTS)
    if attempts is None:  # no attempt left (wrong, or being checked), or no longer pending
        if _find_package(ctx, code).state in (PICKING, PICKED):
            return _follow(ctx, code, sealed, info.answer)
        raise PlatformError(
            StatusCode.ACCESS_DENIED, f"package {code} is locked: its {MAX_ATTEMPTS} answers are used or being checked"
        )
    try:
        opened = sealed.open(info.answer)
    except connectpackage.WrongAnswer:
        with ctx.store.write() as tx:
            wrong = tx.packages.record_wrong(code, MAX_ATTEMPTS)
        if wrong is None:  # a right answer picked it up meanwhile
            raise _already_picked(code) from None
        left = MAX_ATTEMPTS - wrong
        raise PlatformError(
            StatusCode.ACCESS_DENIED,
            "wrong answer; " + (f"{left} attempt(s) left" if left > 0 else "the package is now locked"),
        ) from None
    except BaseException:  # neither right nor wrong (an answer it cannot take): the attempt is given back
        with ctx.store.write() as tx:
            tx.packages.release_attempt(code)
        raise
    try:
        _things_of(opened.things_xml)  # refuse unreadable contents before anything starts
    except BaseException:
        with ctx.store.write() as tx:
            tx.packages.release_attempt(code)
        raise
    with ctx.store.read() as tx:
        total = sum(row.received for row in tx.packages.blobs(code))
    with ctx.store.write() as tx:
        started = tx.packages.start_picking(code, pickup.new_pickup(code, ctx.record_id, opened, total))
    if not started:  # someone gave the right answer meanwhile
        return _follow(ctx, code, sealed, info.answer)
    ctx.platform.pickups.start(ctx, code, opened, functools.partial(_pick_up, code=code))
    return _state(ctx, code)


def _follow(ctx: Context, code: str, sealed: _Sealed, answer: str) -> PickUpConnectPackageResult:
    """The state of the job, for the person who started it (same record and
    answer); a job whose runner stopped is resumed."""
    with ctx.store.read() as tx:
        job = tx.packages.pickup(code)
    if job is None or job.record_id != ctx.record_id:
        raise _already_picked(code)
    try:
        opened = sealed.open(answer)
    except connectpackage.WrongAnswer:
        raise _already_picked(code) from None
    if opened.verifier != job.verifier:
        raise _already_picked(code)
    jobs = ctx.platform.pickups
    if job.state == RUNNING and not jobs.running_here(code):
        now = time.time()
        with ctx.store.write() as tx:
            claimed = tx.packages.claim_pickup(code, now, now - pickup.STALE)
        if claimed:
            jobs.start(ctx, code, opened, functools.partial(_pick_up, code=code))
    return _state(ctx, code)


def _state(ctx: Context, code: str) -> PickUpConnectPackageResult:
    ctx.platform.pickups.wait(code, pickup.WAIT)
    with ctx.store.read() as tx:
        job = tx.packages.pickup(code)
    assert job is not None
    if job.state == FAILED:
        raise PlatformError(StatusCode(job.error_code or StatusCode.FAILED), job.error_message or "the pick-up failed")
    if job.state == DONE:
        keys = [line.split() for line in (job.thing_keys or "").splitlines() if line.strip()]
        return PickUpConnectPackageResult(
            state=DONE,
            bytes_done=job.total,
            bytes_total=job.total,
            thing_id=[ThingKey(value=k[0], version_stamp=k[1]) for k in keys],
            outcome=[k[2] if len(k) > 2 else studymerge.CREATED for k in keys],
        )
    return PickUpConnectPackageResult(state=RUNNING, bytes_done=job.done, bytes_total=job.total)


def _things_of(things_xml: bytes) -> etree._Element:
    try:
        return safexml.parse(
            b"<package-things>" + things_xml + b"</package-things>", what="package contents", max_bytes=None
        )
    except HealthVaultXmlError as exc:
        raise PlatformError(StatusCode.INVALID_PACKAGE_CONTENTS, str(exc)) from None


def _pick_up(ctx: Context, opened: pickup.Opened, progress: Callable[[int], None], *, code: str) -> None:
    """The job: decrypt the package's blobs into the record, then add its
    things and mark the package picked, in one transaction."""
    holder = _things_of(opened.things_xml)
    cipher = connectpackage.ChunkCipher(opened.key, opened.iv)
    with ctx.store.read() as tx:
        package_blobs = {row.blob_id: row for row in tx.packages.blobs(code)}
    done = [0]

    def advance(n: int) -> None:
        done[0] += n
        progress(done[0])

    things = []
    outcomes: list[str] = []
    unchanged: list[ThingKey] = []  # studies the record has whole: their keys, nothing stored
    for thing_el in holder.findall("thing"):
        plan = studymerge.plan(ctx, thing_el)
        urls = thing_el.findall("blob-payload/blob/blob-ref-url")
        for url_el in urls:
            # The package was checked at CreateConnectPackage; only its own blobs count here.
            source = package_blobs.get(tokens.blob_id_of(ctx.key, token_of(url_el.text or "")))
            if source is None:
                raise PlatformError(
                    StatusCode.INVALID_PACKAGE_CONTENTS,
                    "a packaged thing refers to a blob that is not part of the package",
                )
            blob_el = url_el.getparent()
            name = (blob_el.findtext("blob-info/name") or "").strip()
            if plan.outcome == studymerge.UNCHANGED or (plan.outcome == studymerge.MERGED and name not in plan.blobs):
                advance(source.received)  # the record has it: not decrypted again
                blob_el.getparent().remove(blob_el)
                continue
            blob_id, digest, length = _decrypt_blob(ctx, source, cipher, advance)
            hash_el = blob_el.find("blob-info/hash-info/hash")
            if hash_el is not None and (hash_el.text or "").strip() != digest:
                raise PlatformError(
                    StatusCode.INVALID_BLOB_HASH, "a package blob does not decrypt to its hash (corrupt package?)"
                )
            length_el = blob_el.find("content-length")
            if length_el is not None:
                length_el.text = str(length)
            url_el.text = ctx.blob_url(tokens.issue(ctx.key, "w", ctx.record_id, blob_id, ctx.config.blob_write_ttl))
        if plan.outcome == studymerge.UNCHANGED and plan.target is not None:
            unchanged.append(ThingKey(value=plan.target.thing_id, version_stamp=plan.target.version_stamp))
            continue
        outcome = studymerge.CREATED
        if plan.outcome == studymerge.MERGED and plan.target is not None:
            thing_el, outcome = studymerge.merged(plan.target, thing_el)
        else:
            for id_el in thing_el.findall("thing-id"):
                thing_el.remove(id_el)  # picked-up things are new things in the record
        try:
            packaged = wire.from_element(copy.deepcopy(thing_el), Thing2, what="packaged thing")
        except HealthVaultXmlError as exc:
            raise PlatformError(StatusCode.INVALID_PACKAGE_CONTENTS, str(exc)) from None
        things.append((packaged, thing_el))
        outcomes.append(outcome)

    def finish(tx: Transaction, keys: list[ThingKey]) -> None:
        if not tx.packages.mark_picked(code, ctx.record_id):
            raise PlatformError(StatusCode.INVALID_IDENTITY_CODE, f"package {code} is no longer being picked up")
        lines = [f"{k.value} {k.version_stamp} {o}" for k, o in zip(keys, outcomes, strict=True)]
        lines += [f"{k.value} {k.version_stamp} {studymerge.UNCHANGED}" for k in unchanged]
        tx.packages.finish_pickup(code, "\n".join(lines), time.time())

    store_things(ctx, things, also=finish)
