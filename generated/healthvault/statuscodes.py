"""Platform status codes: the number of every status a response can carry, and what it means.

:mod:`status` raises them as exceptions, one class per code.
"""

from __future__ import annotations

from enum import IntEnum

__all__ = ["StatusCode"]


class StatusCode(IntEnum):
    """Status codes of platform responses."""

    OK = 0
    """The request succeeded."""

    FAILED = 1
    """The request failed for a reason not covered by another code."""

    BAD_HTTP = 2
    """The HTTP request was malformed."""

    INVALID_XML = 3
    """The request, or the data in it, is not well-formed or does not match its schema."""

    BAD_SIG = 4
    """The request's integrity check (HMAC or info-hash) failed."""

    BAD_METHOD = 5
    """The method or method version is unknown."""

    INVALID_APP = 6
    """The application is unknown."""

    CREDENTIAL_TOKEN_EXPIRED = 7
    """The credential token has expired."""

    INVALID_TOKEN = 8
    """The authentication token is malformed or unknown."""

    INVALID_PERSON = 9
    """The person is unknown, or may not be acted for."""

    INVALID_RECORD = 10
    """The record is unknown."""

    ACCESS_DENIED = 11
    """The caller may not do this to this record or resource."""

    INVALID_THING = 13
    """The thing id is unknown."""

    INVALID_FILTER = 15
    """The query filter is invalid."""

    INVALID_FORMAT = 16
    """The query format is invalid."""

    MISSING_SHARED_SECRET = 17
    """A credential came without a usable shared secret."""

    INVALID_THING_TYPE = 19
    """The thing type is unknown."""

    REQUEST_TOO_LONG = 39
    """The request is larger than the platform accepts."""

    REQUEST_TIMED_OUT = 49
    """msg-time plus msg-ttl has passed."""

    TOO_MANY_GROUPS_IN_QUERY = 53
    """The query has more groups than allowed."""

    VERSION_STAMP_MISSING = 60
    """An update did not name the version it changes."""

    VERSION_STAMP_MISMATCH = 61
    """An update named a version that is no longer current."""

    AUTHENTICATED_SESSION_TOKEN_EXPIRED = 65
    """The session has expired; create a new one and resend."""

    RECORD_QUOTA_EXCEEDED = 68
    """The record is full."""

    RESPONSE_TOO_LONG = 71
    """The response would be larger than the platform returns."""

    BAD_CERT = 70
    """The signing certificate failed validation."""

    INVALID_IDENTITY_CODE = 74
    """No package or request has that identity code."""

    INVALID_THING_TYPE_VERSION = 85
    """The update uses an older type version than the one stored."""

    INVALID_BLOB_REF_URL = 88
    """The blob URL is invalid or has expired."""

    CANNOT_GET_STREAMED_OTHER_DATA = 89
    """A streamed blob cannot be returned as data-other."""

    CONNECT_PACKAGE_EXISTS = 96
    """The connect package already exists."""

    BLOB_SIZE_TOO_LARGE_FOR_INLINE = 99
    """The blob is too large to return inline."""

    DUPLICATE_BLOB = 100
    """Two blobs of one thing have the same name."""

    BLOB_TOKEN_COMMITTED = 101
    """The blob has already been committed."""

    BLOB_TOKEN_NOT_COMPLETED = 102
    """The blob upload was never marked complete."""

    INVALID_SIGNATURE_ALGORITHM = 105
    """The signature algorithm is not accepted."""

    INVALID_BLOB_HASH_ALGORITHM = 106
    """The blob hash algorithm is not accepted."""

    UNSUPPORTED_BLOB_HASH_BLOCK_SIZE = 107
    """The blob hash block size is not accepted."""

    BLOB_HASH_ALGORITHM_MISMATCH = 108
    """The blob hash algorithm differs from the stored blob's."""

    BLOB_HASH_BLOCK_SIZE_MISMATCH = 109
    """The blob hash block size differs from the stored blob's."""

    UNSUPPORTED_SIGNATURE_METHOD = 110
    """The signature method is not supported."""

    INVALID_BLOB_HASH = 111
    """The blob hash does not match the blob's bytes."""

    PACKAGE_BLOB_NOT_COMMITTED = 112
    """The blob belongs to a connect package not yet created."""

    INVALID_PACKAGE_CONTENTS = 120
    """The connect package contents are invalid."""

    INVALID_THING_STATE = 123
    """The thing state is invalid."""

    TOO_MANY_THINGS_SPECIFIED = 124
    """The request names more things than allowed."""

    DUPLICATE_ALTERNATE_ID = 139
    """The alternate id is already in use."""

    ALTERNATE_ID_NOT_FOUND = 140
    """The alternate id is unknown."""

    ALTERNATE_IDS_LIMIT_EXCEEDED = 141
    """The person and record have as many alternate ids as allowed."""

    CONCURRENCY_VIOLATION = 146
    """A concurrent update won."""

    CANNOT_UPDATE_IMMUTABLE_THING = 154
    """The thing is read-only: it cannot be updated or removed."""

    CANNOT_CREATE_IMMUTABLE_THING = 155
    """The thing cannot be created read-only."""

    CANNOT_CHANGE_IMMUTABLE_FLAG = 156
    """The read-only flag of a thing cannot be cleared."""

    CANNOT_SET_IMMUTABLE_FLAG = 161
    """The read-only flag cannot be set on this thing."""
