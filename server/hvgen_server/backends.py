"""Which store and which blob bytes backend a configuration names.

The embedded default is the SQLite file and the blob folder of the data
folder. ``--db postgresql://USER@HOST:PORT/DBNAME`` and ``--blobs
s3://BUCKET[/PREFIX]`` name the shared ones; they need the ``shared`` extra
(psycopg, psycopg_pool, boto3), which this module reports by name when it
is missing.
"""

from __future__ import annotations

import importlib.util
import re
from collections.abc import Callable
from urllib.parse import urlsplit

from .config import ServerConfig
from .store import BlobFiles, LocalBlobFiles, SqliteStore, Store
from .store.base import Transaction
from .store.errors import StoreError


def _missing(*modules: str) -> str | None:
    """The first of the shared extra's modules that is not installed. They
    are found without importing them: a server on the SQLite file and the
    blob folder never imports them (psycopg and boto3 take a fifth of a
    start)."""
    return next((name for name in modules if importlib.util.find_spec(name) is None), None)


_NO_POSTGRES = "--db postgresql://... needs the shared extra ({} is missing): pip install 'hvgen[shared]'"
_NO_S3 = "--blobs s3://... needs the shared extra ({} is missing): pip install 'hvgen[shared]'"

_BUCKET = re.compile(r"^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$")


def check_database_url(url: str) -> str:
    """The URL, if it names a PostgreSQL database.

    Raises:
        ValueError: naming what is wrong.
    """
    parts = urlsplit(url)
    if parts.scheme not in ("postgresql", "postgres"):
        raise ValueError(f"--db {url!r}: expected postgresql://USER@HOST:PORT/DBNAME")
    if not parts.path.strip("/"):
        raise ValueError(f"--db {url!r} names no database (postgresql://USER@HOST:PORT/DBNAME)")
    return url


def parse_blobs_url(url: str) -> tuple[str, str]:
    """(bucket, prefix) of ``s3://BUCKET[/PREFIX]``.

    Raises:
        ValueError: naming what is wrong.
    """
    parts = urlsplit(url)
    if parts.scheme != "s3" or not parts.netloc:
        raise ValueError(f"--blobs {url!r}: expected s3://BUCKET[/PREFIX]")
    if not _BUCKET.match(parts.netloc) or ".." in parts.netloc:
        raise ValueError(
            f"--blobs {url!r}: {parts.netloc!r} is not a bucket name "
            "(3-63 lower-case letters, digits, dots and hyphens)"
        )
    if parts.query or parts.fragment:
        raise ValueError(f"--blobs {url!r}: a bucket URL has no query or fragment")
    return parts.netloc, parts.path.strip("/")


def check(config: ServerConfig) -> None:
    """Check the configuration's store URLs (without connecting).

    Raises:
        ValueError: naming what is wrong or missing.
    """
    if config.database_url is not None:
        check_database_url(config.database_url)
        if missing := _missing("psycopg", "psycopg_pool"):
            raise ValueError(_NO_POSTGRES.format(missing))
    if config.blobs_url is not None:
        parse_blobs_url(config.blobs_url)
        if missing := _missing("boto3", "botocore"):
            raise ValueError(_NO_S3.format(missing))


def open_store(config: ServerConfig, warm: Callable[[Transaction], None] | None = None) -> Store:
    """The configured store, its schema created or migrated. ``warm``: reads a
    shared store runs on each new connection to prepare it (see
    :meth:`~.store.postgres.PostgresStore.warm`; SQLite needs none).

    Raises:
        StoreError: it cannot be reached or used.
    """
    try:
        check(config)
    except ValueError as exc:
        raise StoreError(str(exc)) from None
    if config.database_url is None:
        return SqliteStore(config.database)
    from .store.postgres import PostgresStore  # only a server on PostgreSQL imports psycopg

    return PostgresStore(config.database_url, pool_size=config.db_pool_size, warm=warm)


def open_blob_files(config: ServerConfig) -> BlobFiles:
    """The configured blob bytes backend (a missing bucket is created).

    Raises:
        StoreError: it cannot be reached or used.
    """
    try:
        check(config)
    except ValueError as exc:
        raise StoreError(str(exc)) from None
    if config.blobs_url is None:
        return LocalBlobFiles(config.blob_dir)
    bucket, prefix = parse_blobs_url(config.blobs_url)
    from .store.s3files import S3BlobFiles  # only a server on S3 imports boto3

    return S3BlobFiles(bucket, prefix, max_blob_size=config.max_blob_size)
