"""Blob bytes in an S3-compatible object store (any number of server
processes share them).

Objects, under the configured prefix:

    blobs/<first two characters of the id>/<id>   a blob's bytes, once complete
    uploads/<id>/<offset, 20 digits>               chunks of an upload not yet in a part

An upload in progress is a multipart upload of the blob's object. The
store's parts must be at least 5 MiB (all but the last), chunks may be
smaller: chunks are kept as objects of their own until, with the chunk that
arrives, they make a part of at least :attr:`S3BlobFiles.part_size`, which
then goes up as one part (a chunk that is as large goes up at once, kept as
nothing else). The upload's state (the multipart upload's id, the parts
done, the chunks waiting and a digest of the last chunk) is stored with the
blob's row, in the transaction that acknowledges the chunk, so every server
process sees the same upload and any of them can go on with it or finish
it. Chunks are never deleted before a state without them is committed:
those a part took are deleted by the next append, or by :meth:`finish`.

Endpoint, region and credentials come from the variables every S3 tool
reads: ``AWS_ENDPOINT_URL`` (or ``AWS_ENDPOINT_URL_S3``), ``AWS_REGION``
(or ``AWS_DEFAULT_REGION``), ``AWS_ACCESS_KEY_ID``,
``AWS_SECRET_ACCESS_KEY`` (or any other source boto3 knows). The bucket is
created when missing.
"""

from __future__ import annotations

import hashlib
import json
import os
import uuid
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from typing import Any

import boto3
import botocore.exceptions
from botocore.config import Config

from ..errors import ServerError
from .errors import StoreError
from .files import READ_SIZE, BlobFiles

MIB = 1024 * 1024
#: The smallest part an S3 multipart upload takes (all parts but the last).
MIN_PART = 5 * MIB
#: The most parts one multipart upload may have.
MAX_PARTS = 10_000
#: Bytes one ranged GET reads at most when a blob is streamed out.
READ_WINDOW = 32 * MIB


class BlobStoreError(ServerError, OSError):
    """The object store failed or refused a request (answered as a storage error)."""


def endpoint() -> str | None:
    return os.environ.get("AWS_ENDPOINT_URL_S3") or os.environ.get("AWS_ENDPOINT_URL") or None


def s3_client() -> Any:
    """An S3 client configured from the standard variables."""
    where = endpoint()
    region = os.environ.get("AWS_REGION") or os.environ.get("AWS_DEFAULT_REGION") or "us-east-1"
    config = Config(
        region_name=region,
        s3={"addressing_style": "path"} if where else {},
        retries={"max_attempts": 5, "mode": "standard"},
        max_pool_connections=64,
        connect_timeout=10,
        read_timeout=120,
        request_checksum_calculation="when_required",
        response_checksum_validation="when_required",
    )
    return boto3.session.Session().client("s3", endpoint_url=where, config=config)


def _code(exc: botocore.exceptions.ClientError) -> str:
    return str(exc.response.get("Error", {}).get("Code", ""))


@contextmanager
def _failures(doing: str) -> Iterator[None]:
    """Failures of the object store as :class:`BlobStoreError` (an OSError)."""
    try:
        yield
    except botocore.exceptions.ClientError as exc:
        if _code(exc) in ("404", "NoSuchKey", "NotFound"):
            raise FileNotFoundError(f"no object while {doing}") from None
        raise BlobStoreError(f"object store refused {doing}: {exc}") from None
    except botocore.exceptions.BotoCoreError as exc:
        raise BlobStoreError(f"object store failed {doing}: {exc}") from None


@dataclass
class UploadState:
    """Where an upload's acknowledged bytes are (stored as JSON in the blob row)."""

    upload_id: str = ""  # of the multipart upload, once a part was made
    parts: int = 0  # parts uploaded, numbered 1..parts
    in_parts: int = 0  # bytes in those parts
    staged: list[int] = field(default_factory=list)  # lengths of the chunks waiting, from in_parts on
    last: str = ""  # SHA-256 of the last chunk appended
    garbage: list[int] = field(default_factory=list)  # offsets of chunks a part took

    @classmethod
    def parse(cls, text: str) -> UploadState:
        return cls(**json.loads(text)) if text else cls()

    def dump(self) -> str:
        return json.dumps(asdict(self), separators=(",", ":"))

    def staged_offsets(self) -> list[int]:
        offsets, at = [], self.in_parts
        for length in self.staged:
            offsets.append(at)
            at += length
        return offsets

    @property
    def size(self) -> int:
        return self.in_parts + sum(self.staged)


class S3BlobFiles(BlobFiles):
    """Blob bytes as objects of ``bucket`` under ``prefix``."""

    read_ahead = 8

    def __init__(self, bucket: str, prefix: str = "", *, max_blob_size: int = 64 * 1024 * MIB, client: Any = None):
        self.bucket = bucket
        self.prefix = prefix.strip("/") + "/" if prefix.strip("/") else ""
        self.client = client if client is not None else s3_client()
        #: Parts are at least this large: the store's minimum, or more when
        #: the largest blob would need more parts than a multipart upload has.
        self.part_size = max(MIN_PART, -(-max_blob_size // (MAX_PARTS - 1)))
        self._ensure_bucket()

    def describe(self) -> str:
        return f"s3://{self.bucket}/{self.prefix}"

    def _ensure_bucket(self) -> None:
        where = endpoint() or "the default S3 endpoint"
        try:
            self.client.head_bucket(Bucket=self.bucket)
            return
        except botocore.exceptions.ClientError as exc:
            if _code(exc) not in ("404", "NoSuchBucket", "NotFound"):
                raise StoreError(f"cannot use bucket {self.bucket} at {where}: {exc}") from None
        except botocore.exceptions.NoCredentialsError:
            raise StoreError("no object store credentials: set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY") from None
        except botocore.exceptions.BotoCoreError as exc:
            raise StoreError(f"cannot reach the object store at {where}: {exc}") from None
        try:
            region = self.client.meta.region_name
            if region and region != "us-east-1":
                self.client.create_bucket(Bucket=self.bucket, CreateBucketConfiguration={"LocationConstraint": region})
            else:
                self.client.create_bucket(Bucket=self.bucket)
        except botocore.exceptions.ClientError as exc:
            if _code(exc) not in ("BucketAlreadyOwnedByYou", "BucketAlreadyExists"):
                raise StoreError(f"cannot create bucket {self.bucket} at {where}: {exc}") from None
        except botocore.exceptions.BotoCoreError as exc:
            raise StoreError(f"cannot reach the object store at {where}: {exc}") from None

    # -- names ------------------------------------------------------------------------

    def key(self, blob_id: str) -> str:
        uuid.UUID(blob_id)  # never a key from outside
        return f"{self.prefix}blobs/{blob_id[:2]}/{blob_id}"

    def _staged_key(self, blob_id: str, offset: int) -> str:
        return f"{self.prefix}uploads/{blob_id}/{offset:020d}"

    # -- small operations ------------------------------------------------------------

    def _get(self, key: str, first: int | None = None, last: int | None = None) -> bytes:
        args: dict[str, Any] = {"Bucket": self.bucket, "Key": key}
        if first is not None and last is not None:
            args["Range"] = f"bytes={first}-{last}"
        with _failures(f"reading {key}"):
            return bytes(self.client.get_object(**args)["Body"].read())

    def _put(self, key: str, data: bytes) -> None:
        with _failures(f"writing {key}"):
            self.client.put_object(Bucket=self.bucket, Key=key, Body=data)

    def _head_size(self, key: str) -> int | None:
        try:
            with _failures(f"looking up {key}"):
                return int(self.client.head_object(Bucket=self.bucket, Key=key)["ContentLength"])
        except FileNotFoundError:
            return None

    def _list(self, prefix: str) -> Iterator[dict[str, Any]]:
        with _failures(f"listing {prefix}"):
            pages = self.client.get_paginator("list_objects_v2").paginate(Bucket=self.bucket, Prefix=prefix)
            for page in pages:
                yield from page.get("Contents", [])

    def _uploads(self, prefix: str) -> Iterator[dict[str, Any]]:
        with _failures(f"listing uploads under {prefix}"):
            pages = self.client.get_paginator("list_multipart_uploads").paginate(Bucket=self.bucket, Prefix=prefix)
            for page in pages:
                yield from page.get("Uploads", [])

    def _delete_keys(self, keys: list[str]) -> None:
        for i in range(0, len(keys), 1000):
            batch = [{"Key": k} for k in keys[i : i + 1000]]
            with _failures("deleting objects"):
                self.client.delete_objects(Bucket=self.bucket, Delete={"Objects": batch, "Quiet": True})

    def _upload_part(self, blob_id: str, state: UploadState, number: int, body: bytes) -> None:
        key = self.key(blob_id)
        with _failures(f"uploading part {number} of {key}"):
            if not state.upload_id:
                state.upload_id = str(self.client.create_multipart_upload(Bucket=self.bucket, Key=key)["UploadId"])
            self.client.upload_part(Bucket=self.bucket, Key=key, UploadId=state.upload_id, PartNumber=number, Body=body)

    def _staged_bytes(self, blob_id: str, state: UploadState) -> bytes:
        return b"".join(self._get(self._staged_key(blob_id, at)) for at in state.staged_offsets())

    # -- BlobFiles ----------------------------------------------------------------------

    def create(self, blob_id: str) -> str:
        self.key(blob_id)
        return UploadState().dump()

    def append(self, blob_id: str, offset: int, data: bytes, state: str) -> str:
        st = UploadState.parse(state)
        if st.size != offset:
            raise BlobStoreError(f"upload {blob_id} holds {st.size} bytes, not {offset}")
        if st.garbage:  # chunks a committed part took
            self._delete_keys([self._staged_key(blob_id, at) for at in st.garbage])
            st.garbage = []
        if sum(st.staged) + len(data) >= self.part_size:
            body = self._staged_bytes(blob_id, st) + data
            self._upload_part(blob_id, st, st.parts + 1, body)
            st.garbage = st.staged_offsets()
            st.parts += 1
            st.in_parts += len(body)
            st.staged = []
        else:
            self._put(self._staged_key(blob_id, offset), data)
            st.staged.append(len(data))
        st.last = hashlib.sha256(data).hexdigest()
        return st.dump()

    def same_bytes(self, blob_id: str, offset: int, data: bytes, state: str) -> bool:
        st = UploadState.parse(state)
        return bool(st.last) and st.size == offset + len(data) and st.last == hashlib.sha256(data).hexdigest()

    def finish(self, blob_id: str, size: int, state: str) -> None:
        st = UploadState.parse(state)
        key = self.key(blob_id)
        if self._head_size(key) != size:  # else finished before (a crash before its row said so)
            if st.size != size:
                raise BlobStoreError(f"upload {blob_id} holds {st.size} bytes, not {size}")
            rest = self._staged_bytes(blob_id, st)
            if not st.upload_id:
                self._put(key, rest)
            else:
                parts = st.parts
                if rest:
                    parts += 1
                    self._upload_part(blob_id, st, parts, rest)
                self._complete(key, st.upload_id, parts)
            found = self._head_size(key)
            if found != size:
                raise BlobStoreError(f"blob {blob_id} was stored with {found} bytes, not {size}")
        self._clean_upload(blob_id, keep=None)

    def _complete(self, key: str, upload_id: str, parts: int) -> None:
        with _failures(f"completing {key}"):
            listed: dict[int, str] = {}
            pages = self.client.get_paginator("list_parts").paginate(Bucket=self.bucket, Key=key, UploadId=upload_id)
            for page in pages:
                for part in page.get("Parts", []):
                    listed[int(part["PartNumber"])] = str(part["ETag"])
            missing = [n for n in range(1, parts + 1) if n not in listed]
            if missing:
                raise BlobStoreError(f"parts {missing[:5]} of {key} are missing from the object store")
            self.client.complete_multipart_upload(
                Bucket=self.bucket,
                Key=key,
                UploadId=upload_id,
                MultipartUpload={"Parts": [{"PartNumber": n, "ETag": listed[n]} for n in range(1, parts + 1)]},
            )

    def _clean_upload(self, blob_id: str, keep: str | None) -> None:
        """Delete an upload's waiting chunks and abort its multipart uploads."""
        self._delete_keys([obj["Key"] for obj in self._list(f"{self.prefix}uploads/{blob_id}/")])
        key = self.key(blob_id)
        for upload in self._uploads(key):
            if upload["Key"] == key and upload["UploadId"] != keep:
                with _failures(f"aborting an upload of {key}"):
                    try:
                        self.client.abort_multipart_upload(Bucket=self.bucket, Key=key, UploadId=upload["UploadId"])
                    except botocore.exceptions.ClientError as exc:
                        if _code(exc) != "NoSuchUpload":
                            raise

    def put(self, blob_id: str, pieces: Iterable[bytes]) -> int:
        key = self.key(blob_id)
        st = UploadState()
        buffer = bytearray()
        length = 0
        try:
            for piece in pieces:
                buffer += piece
                length += len(piece)
                while len(buffer) >= 2 * self.part_size:  # keep at least one part for the end
                    st.parts += 1
                    self._upload_part(blob_id, st, st.parts, bytes(buffer[: self.part_size]))
                    del buffer[: self.part_size]
            if not st.upload_id:
                self._put(key, bytes(buffer))
            else:
                st.parts += 1
                self._upload_part(blob_id, st, st.parts, bytes(buffer))
                self._complete(key, st.upload_id, st.parts)
        except BaseException:
            if st.upload_id:
                with _failures(f"aborting an upload of {key}"):
                    self.client.abort_multipart_upload(Bucket=self.bucket, Key=key, UploadId=st.upload_id)
            raise
        return length

    def size(self, blob_id: str) -> int:
        found = self._head_size(self.key(blob_id))
        if found is None:
            raise FileNotFoundError(f"no bytes for blob {blob_id}")
        return found

    def read(self, blob_id: str, first: int = 0, length: int | None = None, piece: int = READ_SIZE) -> Iterator[bytes]:
        key = self.key(blob_id)
        end = self.size(blob_id) if length is None else first + length
        window = piece * max(1, READ_WINDOW // piece)
        at = first
        while at < end:
            last = min(at + window, end) - 1
            with _failures(f"reading {key}"):
                body = self.client.get_object(Bucket=self.bucket, Key=key, Range=f"bytes={at}-{last}")["Body"]
                try:
                    left = last - at + 1
                    while left > 0:
                        chunk = _read_exactly(body, min(piece, left))
                        if not chunk:
                            raise BlobStoreError(f"{key} ended at byte {at}, before {end}")
                        left -= len(chunk)
                        at += len(chunk)
                        yield chunk
                finally:
                    body.close()

    def delete(self, blob_id: str) -> None:
        key = self.key(blob_id)
        with _failures(f"deleting {key}"):
            self.client.delete_object(Bucket=self.bucket, Key=key)
        self._clean_upload(blob_id, keep=None)

    def remove_orphans(self, known: set[str], before: float) -> None:
        for obj in self._list(f"{self.prefix}blobs/"):
            name = obj["Key"].rsplit("/", 1)[-1]
            if name not in known and obj["LastModified"].timestamp() < before:
                self._delete_keys([obj["Key"]])
        for obj in self._list(f"{self.prefix}uploads/"):
            name = obj["Key"].rsplit("/", 2)[-2]
            if name not in known and obj["LastModified"].timestamp() < before:
                self._delete_keys([obj["Key"]])
        for upload in self._uploads(f"{self.prefix}blobs/"):
            name = upload["Key"].rsplit("/", 1)[-1]
            if name not in known and upload["Initiated"].timestamp() < before:
                with _failures("aborting an abandoned upload"):
                    self.client.abort_multipart_upload(
                        Bucket=self.bucket, Key=upload["Key"], UploadId=upload["UploadId"]
                    )


def _read_exactly(body: Any, n: int) -> bytes:
    """``n`` bytes of a streaming body (fewer only at its end)."""
    out = bytearray()
    while len(out) < n:
        chunk = body.read(n - len(out))
        if not chunk:
            break
        out += chunk
    return bytes(out)
