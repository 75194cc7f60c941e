"""The tables of the store, as interfaces a backend implements. Every call runs inside the
unit of work (:class:`~.base.Transaction`) the table was handed out by; a table never commits."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Iterable, Iterator, Sequence

from .flagtables import ApplicationVersions, ThingFlags
from .rows import (
    AlternateId,
    Application,
    BlobRef,
    BlobRow,
    Match,
    Package,
    PackageContent,
    Person,
    PersonToken,
    Pickup,
    RecordRow,
    SessionRow,
    ThingFilter,
    ThingSelection,
    ThingVersion,
    VersionBlob,
)


class MetaTable(ABC):
    """Settings of the store itself (schema version, the default application...)."""

    @abstractmethod
    def get(self, key: str) -> str | None: ...

    @abstractmethod
    def set(self, key: str, value: str) -> None: ...

    @abstractmethod
    def add(self, key: str, value: str) -> bool:
        """Set ``key`` only if it has no value yet; False when it had one
        (another server process may have set it first)."""


class ApplicationTable(ApplicationVersions):
    @abstractmethod
    def add(
        self, name: str, cert_pem: str, thumbprint: str, app_id: str | None = None, action_url: str | None = None
    ) -> str:
        """Register an application (under ``app_id``, else a new one); returns its app-id."""

    @abstractmethod
    def get(self, app_id: str) -> Application | None: ...

    @abstractmethod
    def all(self) -> list[Application]:
        """Every application, by name."""


class PersonTable(ABC):
    """People who sign in (their password as a KDF hash) and own records."""

    @abstractmethod
    def add(self, login: str, name: str, password_hash: str | None) -> str:
        """A new person; returns their person id. The login is unique."""

    @abstractmethod
    def get(self, person_id: str) -> Person | None: ...

    @abstractmethod
    def by_login(self, login: str) -> Person | None:
        """The person with this login (compared without case)."""

    @abstractmethod
    def set_password(self, person_id: str, password_hash: str | None) -> None: ...

    @abstractmethod
    def all(self) -> list[Person]:
        """Every person, by login."""


class RecordTable(ABC):
    @abstractmethod
    def add(self, name: str, app_ids: list[str], person_id: str | None = None) -> tuple[str, str]:
        """A new record of the person (a new person who cannot sign in when
        None), authorized for the applications; returns (record id, person id)."""

    @abstractmethod
    def exists(self, record_id: str) -> bool: ...

    @abstractmethod
    def get(self, record_id: str) -> RecordRow | None: ...

    @abstractmethod
    def of_person(self, person_id: str) -> list[RecordRow]:
        """The person's records, by name."""

    @abstractmethod
    def person_of(self, record_id: str) -> str:
        """The record's person id ("" for an unknown record)."""

    @abstractmethod
    def authorized(self, app_id: str, record_id: str) -> bool:
        """Whether the application may use the record (its person authorized it)."""

    @abstractmethod
    def authorize(self, app_id: str, record_id: str) -> None:
        """The record's person authorizes the application (again: no change)."""

    @abstractmethod
    def authorized_for(self, app_id: str, person_id: str) -> list[RecordRow]:
        """The person's records the person authorized the application for, by name."""


class PersonTokenTable(ABC):
    """Signed-in persons: the wctokens of applications and browser sessions."""

    @abstractmethod
    def add(self, token: PersonToken, now: float) -> None:
        """Store a token (and forget tokens expired by ``now``)."""

    @abstractmethod
    def get(self, digest: str) -> PersonToken | None: ...

    @abstractmethod
    def remove(self, digest: str) -> None: ...

    @abstractmethod
    def remove_person(self, person_id: str) -> int:
        """Forget every token of the person (their sign-ins end); how many there were."""


class SignInFailureTable(ABC):
    """Failed sign-ins per key (a login and a client, or a client: see
    :mod:`hvgen_server.signins`), against password guessing. Kept in the
    store, so that a restart forgets nothing and every server process of
    one store counts the same attempts."""

    @abstractmethod
    def reserve(self, login: str, now: float, window: float, limit: int) -> bool:
        """Count an attempt to sign in as ``login`` before its password is
        checked (as a failure until :meth:`clear`): False, counting nothing,
        when ``limit`` attempts were counted within ``window`` seconds before
        ``now``. Forgets attempts older than the window."""

    @abstractmethod
    def clear(self, login: str) -> None:
        """The login signed in: forget its counted attempts."""

    @abstractmethod
    def release(self, login: str, at: float) -> None:
        """Forget one attempt counted for ``login`` at ``at`` (an attempt that
        succeeded), leaving the others counted."""


class AlternateIdTable(ABC):
    """Applications' own names for a person and record (AssociateAlternateId)."""

    @abstractmethod
    def add(self, row: AlternateId) -> None: ...

    @abstractmethod
    def get(self, app_id: str, alternate_id: str) -> AlternateId | None: ...

    @abstractmethod
    def remove(self, app_id: str, alternate_id: str) -> None: ...

    @abstractmethod
    def of(self, app_id: str, person_id: str, record_id: str) -> list[str]:
        """The application's alternate ids for the person and record, in the order made."""


class SessionTable(ABC):
    """Applications' sessions, by the name the server gives their tokens
    (sealed: :mod:`hvgen_server.sessionseal`)."""

    @abstractmethod
    def add(self, session: SessionRow, now: float) -> None:
        """Store a new session (and forget sessions long expired by ``now``)."""

    @abstractmethod
    def get(self, token: str) -> SessionRow | None: ...

    @abstractmethod
    def unsealed(self, prefix: str) -> list[SessionRow]:
        """The sessions whose token does not start with ``prefix`` (stored
        before sessions were sealed)."""

    @abstractmethod
    def replace(self, token: str, session: SessionRow) -> None:
        """Put ``session`` in the place of the session stored as ``token``."""


class RequestTable(ABC):
    """Digests of requests received, until their validity ends (against replays)."""

    @abstractmethod
    def remember(self, digest: str, expires: float, now: float) -> bool:
        """Note a request; False if it was noted before (and is still valid
        at ``now``). Forgets requests whose validity ended."""

    @abstractmethod
    def answer(self, digest: str) -> bytes | None:
        """The response kept for a request noted before, if one was kept."""

    @abstractmethod
    def keep_answer(self, digest: str, answer: bytes) -> None:
        """Keep the response to a noted request, for a copy of it to get."""


class ThingTable(ThingFlags):
    """Things, their versions and the blobs each version names."""

    @abstractmethod
    def current(self, record_id: str, thing_id: str) -> ThingVersion | None:
        """The current version of a thing of the record."""

    @abstractmethod
    def select(
        self,
        record_id: str,
        selection: ThingSelection,
        filters: Sequence[ThingFilter] = (),
        *,
        limit: int | None = None,
        offset: int = 0,
        with_xml: bool = False,
    ) -> Iterator[Match]:
        """Versions of the record's things that match any of ``filters``
        (only active ones when there are none), newest effective date first
        (then newest created, then newest version), at most ``limit`` after
        skipping ``offset``; with their XML only if ``with_xml``. Read
        lazily: a caller may stop early."""

    @abstractmethod
    def count(self, record_id: str, spec: ThingFilter, *, hidden_flags: int = 0) -> int:
        """How many current versions of the record's things match ``spec`` (those
        with any of ``hidden_flags`` left out)."""

    @abstractmethod
    def xml(self, version_stamp: str) -> bytes:
        """The stored XML of a version."""

    @abstractmethod
    def add(
        self,
        record_id: str,
        thing_id: str,
        type_id: str,
        version_stamp: str,
        client_thing_id: str | None,
        eff_date: str,
        now: float,
    ) -> None:
        """A new active thing at ``version_stamp``."""

    @abstractmethod
    def update(self, thing_id: str, version_stamp: str, client_thing_id: str | None, eff_date: str, now: float) -> None:
        """Make ``version_stamp`` the thing's active current version."""

    @abstractmethod
    def mark_deleted(self, thing_id: str, version_stamp: str, now: float) -> None:
        """Make ``version_stamp`` (a deleted version) the thing's current one."""

    @abstractmethod
    def add_version(
        self,
        thing_id: str,
        version_stamp: str,
        seq: int,
        state: str,
        xml: bytes,
        now: float,
        blobs: list[BlobRef],
        layout: str | None = None,
    ) -> None:
        """Store a version of a thing (with its :func:`~..thingxml.layout`) and the blobs it names."""

    @abstractmethod
    def blob_refs(self, version_stamp: str) -> list[BlobRef]:
        """The blobs a version names, in the order they were given."""

    @abstractmethod
    def version_blobs(self, version_stamp: str) -> list[VersionBlob]:
        """The blobs a version names, with their state."""


class BlobTable(ABC):
    """The state of blobs (their bytes are in :class:`~.files.BlobFiles`)."""

    @abstractmethod
    def get(self, blob_id: str) -> BlobRow | None: ...

    @abstractmethod
    def add(self, row: BlobRow) -> None: ...

    @abstractmethod
    def record_chunk(
        self,
        blob_id: str,
        expected: int,
        received: int,
        total: int | None,
        last_range: str,
        block_digests: bytes,
        files_state: str,
    ) -> bool:
        """An upload chunk was written: bytes received, the range, the block
        digests so far, where the bytes backend has them. Only if the upload
        was still at ``expected`` bytes (else False: another request got
        there first)."""

    @abstractmethod
    def complete(self, blob_id: str, size: int, digest: str | None) -> None:
        """The blob is complete: ``size`` bytes, with hash ``digest``."""

    @abstractmethod
    def mark_committed(self, blob_id: str) -> None:
        """A thing version or a package now holds the blob."""

    @abstractmethod
    def content_type(self, blob_id: str) -> str | None:
        """The content type a thing gave the blob, if any."""

    @abstractmethod
    def drop_unreferenced(self, candidates: Iterable[str]) -> list[str]:
        """Forget those of ``candidates`` (committed record blobs) that no
        current version of a thing still active names (older versions and
        deleted things keep the name and hash, not the bytes); returns their ids."""

    @abstractmethod
    def downloadable(self, blob_id: str, record_id: str) -> bool:
        """Whether an active thing of the record holds the blob now."""

    @abstractmethod
    def drop_expired(self, now: float) -> list[str]:
        """Forget uploads past their expiry that no thing or package holds;
        returns their ids."""

    @abstractmethod
    def ids(self) -> set[str]:
        """Every blob id known."""


class PackageTable(ABC):
    """Connect packages and their streamed blobs."""

    @abstractmethod
    def allocate(self, code: str, app_id: str, now: float, expires: float) -> None:
        """Reserve an identity code for the application."""

    @abstractmethod
    def get(self, code: str) -> Package | None: ...

    @abstractmethod
    def fill(self, code: str, content: PackageContent, now: float, expires: float) -> None:
        """Give an allocated package its content; it becomes pending."""

    @abstractmethod
    def create(self, code: str, app_id: str, content: PackageContent, now: float, expires: float) -> None:
        """A new pending package."""

    @abstractmethod
    def add_blob(self, code: str, blob_id: str) -> None:
        """Make a streamed blob part of the package."""

    @abstractmethod
    def blobs(self, code: str) -> list[BlobRow]:
        """The package's streamed blobs."""

    @abstractmethod
    def reserve_attempt(self, code: str, max_attempts: int) -> int | None:
        """Count an answer before it is checked, if the package is pending
        and fewer than ``max_attempts`` answers are wrong or being checked;
        returns the attempts counted so far (None when there was none left)."""

    @abstractmethod
    def record_wrong(self, code: str, max_attempts: int) -> int | None:
        """A counted answer was wrong: count it as such; the package locks
        when ``max_attempts`` answers are wrong (never while a right one may
        still be being checked). Returns the wrong answers so far (None when
        the package is no longer pending)."""

    @abstractmethod
    def release_attempt(self, code: str) -> None:
        """A counted answer was neither found right nor wrong (the package
        could not be opened): give its attempt back."""

    @abstractmethod
    def start_picking(self, code: str, pickup: Pickup) -> bool:
        """The right answer was given: a pending package becomes picking,
        with its job; False when it was no longer pending."""

    @abstractmethod
    def mark_picked(self, code: str, record_id: str) -> bool:
        """A package being picked into the record is picked; False when it
        was not."""

    @abstractmethod
    def pickup(self, code: str) -> Pickup | None:
        """The package's pick-up job."""

    @abstractmethod
    def claim_pickup(self, code: str, now: float, stale_before: float) -> bool:
        """Take over a running job nobody has advanced since ``stale_before``
        (its runner stopped); False when another runner is alive or it ended."""

    @abstractmethod
    def pickup_progress(self, code: str, done: int, now: float) -> None: ...

    @abstractmethod
    def finish_pickup(self, code: str, thing_keys: str, now: float) -> None: ...

    @abstractmethod
    def fail_pickup(self, code: str, error_code: int, message: str, now: float) -> None: ...
