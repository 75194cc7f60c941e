"""The exceptions that carry platform status codes.

A response with a non-zero status code is raised as
:class:`HealthVaultStatusError`, or the subclass named after the code (for
example :class:`VersionStampMismatch` for 61), carrying the code, its name
and the platform's message. The codes themselves are
:class:`~statuscodes.StatusCode` (importable from here too).
"""

from __future__ import annotations

from .errors import HealthVaultError
from .statuscodes import StatusCode as StatusCode  # re-exported: status.StatusCode is where callers find it


class HealthVaultStatusError(HealthVaultError):
    """A platform response with a non-zero status code.

    Attributes:
        code: The numeric status code.
        name: The status name, such as ``VERSION_STAMP_MISMATCH``.
        message: The platform's error message.
    """

    default_code: int = StatusCode.FAILED

    def __init__(self, message: str, code: int | None = None) -> None:
        self.code = int(code if code is not None else self.default_code)
        try:
            self.name = StatusCode(self.code).name
        except ValueError:
            self.name = f"STATUS_{self.code}"
        self.message = message
        super().__init__(f"{self.name} ({self.code}): {message}")


class Failed(HealthVaultStatusError):
    """The request failed for a reason not covered by another code."""

    default_code = StatusCode.FAILED


class BadHttp(HealthVaultStatusError):
    """The HTTP request was malformed."""

    default_code = StatusCode.BAD_HTTP


class InvalidXml(HealthVaultStatusError):
    """The request, or the data in it, is not well-formed or does not match its schema."""

    default_code = StatusCode.INVALID_XML


class BadSig(HealthVaultStatusError):
    """The request's integrity check (HMAC or info-hash) failed."""

    default_code = StatusCode.BAD_SIG


class BadMethod(HealthVaultStatusError):
    """The method or method version is unknown."""

    default_code = StatusCode.BAD_METHOD


class InvalidApp(HealthVaultStatusError):
    """The application is unknown."""

    default_code = StatusCode.INVALID_APP


class CredentialTokenExpired(HealthVaultStatusError):
    """The credential token has expired."""

    default_code = StatusCode.CREDENTIAL_TOKEN_EXPIRED


class InvalidToken(HealthVaultStatusError):
    """The authentication token is malformed or unknown."""

    default_code = StatusCode.INVALID_TOKEN


class InvalidPerson(HealthVaultStatusError):
    """The person is unknown, or may not be acted for."""

    default_code = StatusCode.INVALID_PERSON


class InvalidRecord(HealthVaultStatusError):
    """The record is unknown."""

    default_code = StatusCode.INVALID_RECORD


class AccessDenied(HealthVaultStatusError):
    """The caller may not do this to this record or resource."""

    default_code = StatusCode.ACCESS_DENIED


class InvalidThing(HealthVaultStatusError):
    """The thing id is unknown."""

    default_code = StatusCode.INVALID_THING


class InvalidFilter(HealthVaultStatusError):
    """The query filter is invalid."""

    default_code = StatusCode.INVALID_FILTER


class InvalidFormat(HealthVaultStatusError):
    """The query format is invalid."""

    default_code = StatusCode.INVALID_FORMAT


class MissingSharedSecret(HealthVaultStatusError):
    """A credential came without a usable shared secret."""

    default_code = StatusCode.MISSING_SHARED_SECRET


class InvalidThingType(HealthVaultStatusError):
    """The thing type is unknown."""

    default_code = StatusCode.INVALID_THING_TYPE


class RequestTooLong(HealthVaultStatusError):
    """The request is larger than the platform accepts."""

    default_code = StatusCode.REQUEST_TOO_LONG


class RequestTimedOut(HealthVaultStatusError):
    """msg-time plus msg-ttl has passed."""

    default_code = StatusCode.REQUEST_TIMED_OUT


class TooManyGroupsInQuery(HealthVaultStatusError):
    """The query has more groups than allowed."""

    default_code = StatusCode.TOO_MANY_GROUPS_IN_QUERY


class VersionStampMissing(HealthVaultStatusError):
    """An update did not name the version it changes."""

    default_code = StatusCode.VERSION_STAMP_MISSING


class VersionStampMismatch(HealthVaultStatusError):
    """An update named a version that is no longer current."""

    default_code = StatusCode.VERSION_STAMP_MISMATCH


class AuthenticatedSessionTokenExpired(HealthVaultStatusError):
    """The session has expired; create a new one and resend."""

    default_code = StatusCode.AUTHENTICATED_SESSION_TOKEN_EXPIRED


class RecordQuotaExceeded(HealthVaultStatusError):
    """The record is full."""

    default_code = StatusCode.RECORD_QUOTA_EXCEEDED


class ResponseTooLong(HealthVaultStatusError):
    """The response would be larger than the platform returns."""

    default_code = StatusCode.RESPONSE_TOO_LONG


class BadCert(HealthVaultStatusError):
    """The signing certificate failed validation."""

    default_code = StatusCode.BAD_CERT


class InvalidIdentityCode(HealthVaultStatusError):
    """No package or request has that identity code."""

    default_code = StatusCode.INVALID_IDENTITY_CODE


class InvalidThingTypeVersion(HealthVaultStatusError):
    """The update uses an older type version than the one stored."""

    default_code = StatusCode.INVALID_THING_TYPE_VERSION


class InvalidBlobRefUrl(HealthVaultStatusError):
    """The blob URL is invalid or has expired."""

    default_code = StatusCode.INVALID_BLOB_REF_URL


class CannotGetStreamedOtherData(HealthVaultStatusError):
    """A streamed blob cannot be returned as data-other."""

    default_code = StatusCode.CANNOT_GET_STREAMED_OTHER_DATA


class ConnectPackageExists(HealthVaultStatusError):
    """The connect package already exists."""

    default_code = StatusCode.CONNECT_PACKAGE_EXISTS


class BlobSizeTooLargeForInline(HealthVaultStatusError):
    """The blob is too large to return inline."""

    default_code = StatusCode.BLOB_SIZE_TOO_LARGE_FOR_INLINE


class DuplicateBlob(HealthVaultStatusError):
    """Two blobs of one thing have the same name."""

    default_code = StatusCode.DUPLICATE_BLOB


class BlobTokenCommitted(HealthVaultStatusError):
    """The blob has already been committed."""

    default_code = StatusCode.BLOB_TOKEN_COMMITTED


class BlobTokenNotCompleted(HealthVaultStatusError):
    """The blob upload was never marked complete."""

    default_code = StatusCode.BLOB_TOKEN_NOT_COMPLETED


class InvalidSignatureAlgorithm(HealthVaultStatusError):
    """The signature algorithm is not accepted."""

    default_code = StatusCode.INVALID_SIGNATURE_ALGORITHM


class InvalidBlobHashAlgorithm(HealthVaultStatusError):
    """The blob hash algorithm is not accepted."""

    default_code = StatusCode.INVALID_BLOB_HASH_ALGORITHM


class UnsupportedBlobHashBlockSize(HealthVaultStatusError):
    """The blob hash block size is not accepted."""

    default_code = StatusCode.UNSUPPORTED_BLOB_HASH_BLOCK_SIZE


class BlobHashAlgorithmMismatch(HealthVaultStatusError):
    """The blob hash algorithm differs from the stored blob's."""

    default_code = StatusCode.BLOB_HASH_ALGORITHM_MISMATCH


class BlobHashBlockSizeMismatch(HealthVaultStatusError):
    """The blob hash block size differs from the stored blob's."""

    default_code = StatusCode.BLOB_HASH_BLOCK_SIZE_MISMATCH


class UnsupportedSignatureMethod(HealthVaultStatusError):
    """The signature method is not supported."""

    default_code = StatusCode.UNSUPPORTED_SIGNATURE_METHOD


class InvalidBlobHash(HealthVaultStatusError):
    """The blob hash does not match the blob's bytes."""

    default_code = StatusCode.INVALID_BLOB_HASH


class PackageBlobNotCommitted(HealthVaultStatusError):
    """The blob belongs to a connect package not yet created."""

    default_code = StatusCode.PACKAGE_BLOB_NOT_COMMITTED


class InvalidPackageContents(HealthVaultStatusError):
    """The connect package contents are invalid."""

    default_code = StatusCode.INVALID_PACKAGE_CONTENTS


class InvalidThingState(HealthVaultStatusError):
    """The thing state is invalid."""

    default_code = StatusCode.INVALID_THING_STATE


class TooManyThingsSpecified(HealthVaultStatusError):
    """The request names more things than allowed."""

    default_code = StatusCode.TOO_MANY_THINGS_SPECIFIED


class DuplicateAlternateId(HealthVaultStatusError):
    """The alternate id is already in use."""

    default_code = StatusCode.DUPLICATE_ALTERNATE_ID


class AlternateIdNotFound(HealthVaultStatusError):
    """The alternate id is unknown."""

    default_code = StatusCode.ALTERNATE_ID_NOT_FOUND


class AlternateIdsLimitExceeded(HealthVaultStatusError):
    """The person and record have as many alternate ids as allowed."""

    default_code = StatusCode.ALTERNATE_IDS_LIMIT_EXCEEDED


class ConcurrencyViolation(HealthVaultStatusError):
    """A concurrent update won."""

    default_code = StatusCode.CONCURRENCY_VIOLATION


class CannotUpdateImmutableThing(HealthVaultStatusError):
    """The thing is read-only: it cannot be updated or removed."""

    default_code = StatusCode.CANNOT_UPDATE_IMMUTABLE_THING


_BY_CODE: dict[int, type[HealthVaultStatusError]] = {
    1: Failed,
    2: BadHttp,
    3: InvalidXml,
    4: BadSig,
    5: BadMethod,
    6: InvalidApp,
    7: CredentialTokenExpired,
    8: InvalidToken,
    9: InvalidPerson,
    10: InvalidRecord,
    11: AccessDenied,
    13: InvalidThing,
    15: InvalidFilter,
    16: InvalidFormat,
    17: MissingSharedSecret,
    19: InvalidThingType,
    39: RequestTooLong,
    49: RequestTimedOut,
    53: TooManyGroupsInQuery,
    60: VersionStampMissing,
    61: VersionStampMismatch,
    65: AuthenticatedSessionTokenExpired,
    68: RecordQuotaExceeded,
    70: BadCert,
    71: ResponseTooLong,
    74: InvalidIdentityCode,
    85: InvalidThingTypeVersion,
    88: InvalidBlobRefUrl,
    89: CannotGetStreamedOtherData,
    96: ConnectPackageExists,
    99: BlobSizeTooLargeForInline,
    100: DuplicateBlob,
    101: BlobTokenCommitted,
    102: BlobTokenNotCompleted,
    105: InvalidSignatureAlgorithm,
    106: InvalidBlobHashAlgorithm,
    107: UnsupportedBlobHashBlockSize,
    108: BlobHashAlgorithmMismatch,
    109: BlobHashBlockSizeMismatch,
    110: UnsupportedSignatureMethod,
    111: InvalidBlobHash,
    112: PackageBlobNotCommitted,
    120: InvalidPackageContents,
    123: InvalidThingState,
    124: TooManyThingsSpecified,
    139: DuplicateAlternateId,
    140: AlternateIdNotFound,
    141: AlternateIdsLimitExceeded,
    146: ConcurrencyViolation,
    154: CannotUpdateImmutableThing,
}


def error_for(code: int, message: str) -> HealthVaultStatusError:
    """The exception for a status code (the base class for unknown codes)."""
    cls = _BY_CODE.get(int(code), HealthVaultStatusError)
    return cls(message, code)
