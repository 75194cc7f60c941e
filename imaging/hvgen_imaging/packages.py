"""Drop-off and pick-up: studies in an encrypted connect package.

:func:`create` streams every blob of the studies into the package, each
chunk encrypted on its own, then seals the study things with the answer and
creates the package; the person gets its id. :func:`pick_up` opens it with
the answer and adds the studies to the record.
"""

from __future__ import annotations

import copy
import io
import uuid
from collections.abc import Callable
from typing import Any, BinaryIO

from healthvault import blobhash, codec, connectpackage, methods
from healthvault.bindings.methods.method_createconnectpackage2 import Info as CreatePackage, StreamedPackageBlobs
from healthvault.bindings.methods.method_pickupconnectpackage import Info as PickUp
from healthvault.bindings.thing import BlobHashInfo, BlobInfo, BlobPayload, BlobPayloadItem, ThingKey
from healthvault.bindings.wc_types import BlobHashAlgorithmParameters
from healthvault.blobs import COMPLETE_HEADER, BlobUpload, HealthVaultBlobError
from healthvault.client import HealthVaultClient

from .study import DICOM_TYPE, PREVIEW_TYPE, BuiltStudy

Progress = Callable[[int, "int | None"], None]


def _send(client: HealthVaultClient, cipher: connectpackage.ChunkCipher, name: str, content_type: str, source: BinaryIO, progress: Progress | None, base: int) -> BlobPayloadItem:
    begun = client.call(methods.BEGIN_PUT_CONNECT_PACKAGE_BLOB, None)
    url = str(begun.blob_ref_url)
    pre, post = int(begun.blob_pre_encryption_chunk_size), int(begun.blob_post_encryption_chunk_size)
    block = int(begun.blob_hash_parameters.block_size)
    if pre % block or connectpackage.encrypted_size(pre) != post:
        raise HealthVaultBlobError(f"unusable package chunk sizes {pre}/{post} for block size {block}")
    sender = BlobUpload(client, name, content_type)
    sender.url = url
    hasher = blobhash.SHA256Block(block)
    index = 0
    chunk = source.read(pre)
    while True:
        following = source.read(pre) if len(chunk) == pre else b""
        headers = {"Content-Type": "application/octet-stream"}
        body = b""
        if chunk:
            hasher.update(chunk)
            body = cipher.seal(chunk)
            first = index * post
            headers["Content-Range"] = f"bytes {first}-{first + len(body) - 1}/*"
        if not following:
            headers[COMPLETE_HEADER] = "1"
        sender._request("POST", body, headers)
        if progress is not None:
            progress(base + hasher.length, None)
        index += 1
        if not following:
            break
        chunk = following
    return BlobPayloadItem(
        blob_info=BlobInfo(
            name=name,
            content_type=content_type,
            hash_info=BlobHashInfo(algorithm=blobhash.ALGORITHM, params=BlobHashAlgorithmParameters(block_size=block), hash=hasher.b64digest()),
        ),
        content_length=hasher.length,
        blob_ref_url=url,
    )


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
    things = []
    urls: list[str] = []
    done = 0
    for built in studies:
        thing = copy.deepcopy(built.thing)
        items = []
        for name, path in sorted(built.images.items()):
            with open(path, "rb") as f:
                items.append(_send(client, cipher, name, DICOM_TYPE, f, progress, done))
            done += items[-1].content_length or 0
        for name, preview in sorted(built.previews.items()):
            items.append(_send(client, cipher, name, PREVIEW_TYPE, io.BytesIO(preview.data), progress, done))
            done += len(preview.data)
        urls.extend(str(i.blob_ref_url) for i in items)
        thing.blob_payload = BlobPayload(blob=items)
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


def pick_up(client: HealthVaultClient, identity_code: str, answer: str) -> list[ThingKey]:
    """Open a package with its answer and add its things to the client's record."""
    result: Any = client.call(methods.PICK_UP_CONNECT_PACKAGE, PickUp(identity_code=identity_code, answer=answer))
    return list(result.thing_id)
