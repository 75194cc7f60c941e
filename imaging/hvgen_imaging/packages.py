"""Drop-off and pick-up: studies in an encrypted connect package.

:func:`create` streams every blob of the studies into the package, each
chunk encrypted on its own, then seals the study things with the answer and
creates the package; the person gets its id. Encryption runs on a second
thread, ahead of the sending. :func:`pick_up` opens it with
the answer and follows the platform's pick-up job until the studies are in
the record.
"""

from __future__ import annotations

import copy
import time
import uuid
from collections import deque
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO

from healthvault import blobhash, codec, connectpackage, methods
from healthvault.bindings.methods.method_createconnectpackage2 import Info as CreatePackage
from healthvault.bindings.methods.method_createconnectpackage2 import StreamedPackageBlobs
from healthvault.bindings.methods.method_pickupconnectpackage import Info as PickUp
from healthvault.bindings.thing import BlobHashInfo, BlobInfo, BlobPayload, BlobPayloadItem, ThingKey
from healthvault.bindings.wc_types import BlobHashAlgorithmParameters
from healthvault.blobs import COMPLETE_HEADER, BlobUpload, HealthVaultBlobError
from healthvault.client import HealthVaultClient, HealthVaultTransportError

from .study import DICOM_TYPE, PREVIEW_TYPE, BuiltStudy

Progress = Callable[[int, "int | None"], None]
AHEAD = 3  # chunks read and encrypted ahead of the one being sent


@dataclass
class _Blob:
    """One blob to put in the package: where its bytes come from."""

    name: str
    content_type: str
    path: Path | None = None
    data: bytes = b""
    size: int = 0
    hasher: blobhash.SHA256Block | None = None
    handle: BinaryIO | None = None

    def read(self, size: int) -> bytes:
        if self.path is None:
            chunk, self.data = self.data[:size], self.data[size:]
            return chunk
        if self.handle is None:
            self.handle = open(self.path, "rb")
        return self.handle.read(size)

    def close(self) -> None:
        if self.handle is not None:
            self.handle.close()
            self.handle = None


def _sealer(cipher: connectpackage.ChunkCipher, pre: int, block: int) -> Callable[[_Blob, bool], tuple[bytes, int]]:
    """What the encrypting thread does for one chunk: read, hash, encrypt."""

    def seal(blob: _Blob, last: bool) -> tuple[bytes, int]:
        try:
            if blob.hasher is None:
                blob.hasher = blobhash.SHA256Block(block)
            chunk = blob.read(pre)
            if not chunk:
                return b"", 0
            blob.hasher.update(chunk)
            return cipher.seal(chunk), len(chunk)
        finally:
            if last:
                blob.close()

    return seal


def _begin(client: HealthVaultClient) -> tuple[str, int, int, int]:
    begun = client.call(methods.BEGIN_PUT_CONNECT_PACKAGE_BLOB, None)
    pre, post = int(begun.blob_pre_encryption_chunk_size), int(begun.blob_post_encryption_chunk_size)
    block = int(begun.blob_hash_parameters.block_size)
    if pre % block or connectpackage.encrypted_size(pre) != post:
        raise HealthVaultBlobError(f"unusable package chunk sizes {pre}/{post} for block size {block}")
    return str(begun.blob_ref_url), pre, post, block


def _send_all(
    client: HealthVaultClient, cipher: connectpackage.ChunkCipher, blobs: list[_Blob], progress: Progress | None
) -> list[BlobPayloadItem]:
    """Stream every blob into the package, each chunk encrypted on its own.

    A second thread reads, hashes and encrypts the next chunks (of this blob
    and the following ones) while this one sends, so the cipher's time hides
    behind the network's.
    """
    if not blobs:
        return []
    url, pre, post, block = _begin(client)
    plan = [
        (blob, k, k == count - 1) for blob in blobs for count in [max(1, -(-blob.size // pre))] for k in range(count)
    ]
    seal = _sealer(cipher, pre, block)
    items: list[BlobPayloadItem] = []
    done = 0
    with ThreadPoolExecutor(max_workers=1) as pool:  # one thread: chunks are sealed in order
        ahead: deque[Future[tuple[bytes, int]]] = deque()
        upcoming = iter(plan)
        try:
            for position, (blob, index, last) in enumerate(plan):
                while len(ahead) < AHEAD and (step := next(upcoming, None)) is not None:
                    ahead.append(pool.submit(seal, step[0], step[2]))
                if index == 0 and position:
                    url = _begin(client)[0]
                body, length = ahead.popleft().result()
                sender = BlobUpload(client, blob.name, blob.content_type)
                sender.url = url
                headers = {"Content-Type": "application/octet-stream"}
                if body:
                    first = index * post
                    headers["Content-Range"] = f"bytes {first}-{first + len(body) - 1}/*"
                if last:
                    headers[COMPLETE_HEADER] = "1"
                sender._request("POST", body, headers)
                done += length
                if progress is not None:
                    progress(done, None)
                if last:
                    hasher = blob.hasher or blobhash.SHA256Block(block)
                    items.append(
                        BlobPayloadItem(
                            blob_info=BlobInfo(
                                name=blob.name,
                                content_type=blob.content_type,
                                hash_info=BlobHashInfo(
                                    algorithm=blobhash.ALGORITHM,
                                    params=BlobHashAlgorithmParameters(block_size=block),
                                    hash=hasher.b64digest(),
                                ),
                            ),
                            content_length=hasher.length,
                            blob_ref_url=url,
                        )
                    )
        finally:
            for future in ahead:
                future.cancel()
            for blob in blobs:
                blob.close()
    return items


def create(
    client: HealthVaultClient,
    studies: list[BuiltStudy],
    *,
    question: str,
    answer: str,
    friendly_name: str,
    external_id: str | None = None,
    progress: Progress | None = None,
) -> str:
    """Put the studies in a new connect package; returns its id."""
    connectpackage.normalize_answer(answer)
    salt = connectpackage.new_salt()
    cipher = connectpackage.ChunkCipher(*connectpackage.derive(answer, salt))
    blobs: list[_Blob] = []
    for built in studies:
        blobs.extend(
            _Blob(name, DICOM_TYPE, path=path, size=path.stat().st_size) for name, path in sorted(built.images.items())
        )
        blobs.extend(
            _Blob(name, PREVIEW_TYPE, data=p.data, size=len(p.data)) for name, p in sorted(built.previews.items())
        )
    items = iter(_send_all(client, cipher, blobs, progress))
    things = []
    urls: list[str] = []
    for built in studies:
        thing = copy.deepcopy(built.thing)
        mine = [next(items) for _ in range(len(built.images) + len(built.previews))]
        urls.extend(str(i.blob_ref_url) for i in mine)
        thing.blob_payload = BlobPayload(blob=mine)
        things.append(thing)
    things_xml = b"".join(codec.write_thing(t) for t in things)
    salt, sealed = connectpackage.seal(things_xml, answer, salt)
    info = CreatePackage(
        friendly_name=friendly_name,
        question=question,
        external_id=external_id or str(uuid.uuid4()),
        package=connectpackage.package_thing(salt, sealed),
        streamed_package_blobs=StreamedPackageBlobs(blob_in_package_ref_url=urls) if urls else None,
    )
    result: Any = client.call(methods.CREATE_CONNECT_PACKAGE, info)
    return str(result.identity_code)


@dataclass(frozen=True)
class PickedUp:
    """What a pick-up did: each thing's key and outcome ("created"; "merged"
    or "merged-signature-removed": a study the record held, given what it
    lacked; "unchanged": a study the record held whole)."""

    keys: list[ThingKey]
    outcomes: list[str]

    def as_dict(self) -> dict[str, Any]:
        return {
            "things": [k.value for k in self.keys],
            "outcomes": [{"thing_id": k.value, "outcome": o} for k, o in zip(self.keys, self.outcomes, strict=True)],
        }


def pick_up(
    client: HealthVaultClient,
    identity_code: str,
    answer: str,
    *,
    progress: Progress | None = None,
    poll: float = 0.5,
    transport_retries: int = 5,
) -> list[ThingKey]:
    """The keys of :func:`pick_up_outcomes`."""
    return pick_up_outcomes(
        client, identity_code, answer, progress=progress, poll=poll, transport_retries=transport_retries
    ).keys


def pick_up_outcomes(
    client: HealthVaultClient,
    identity_code: str,
    answer: str,
    *,
    progress: Progress | None = None,
    poll: float = 0.5,
    transport_retries: int = 5,
) -> PickedUp:
    """Open a package with its answer and add its things to the client's record.

    The platform answers at once: the right answer starts a pick-up job, and
    the same request sent again follows it, reporting the bytes decrypted so
    far to ``progress``, until the job is done. A request lost to the network
    (a timeout) is sent again: the platform continues the same job. A study
    the record already holds is merged into it or left as it is, never
    added twice; the outcomes say which.
    """
    request = PickUp(identity_code=identity_code, answer=answer)
    failures = 0
    while True:
        try:
            result: Any = client.call(methods.PICK_UP_CONNECT_PACKAGE, request)
        except HealthVaultTransportError:
            failures += 1
            if failures > transport_retries:
                raise
            time.sleep(poll * failures)
            continue
        failures = 0
        if progress is not None and result.bytes_total is not None:
            progress(int(result.bytes_done or 0), int(result.bytes_total))
        if (result.state or "done") == "done":
            keys = list(result.thing_id)
            outcomes = [str(o) for o in result.outcome]
            outcomes += ["created"] * (len(keys) - len(outcomes))  # a platform that does not say
            return PickedUp(keys, outcomes[: len(keys)])
        time.sleep(poll)
