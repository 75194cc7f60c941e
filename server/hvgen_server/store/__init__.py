"""Where the local platform keeps its data.

:class:`Store` (units of work over tables, :mod:`.base` and :mod:`.tables`)
holds applications, records, sessions, things, blob state and packages;
:class:`BlobFiles` holds blob bytes. Two backends of each: the embedded
default, :class:`SqliteStore` (:mod:`.sqlite`) and :class:`LocalBlobFiles`,
and the shared one, ``PostgresStore`` (:mod:`.postgres`) and
``S3BlobFiles`` (:mod:`.s3files`), which need the ``shared`` extra and are
chosen by :mod:`hvgen_server.backends`.

Adding a table: its rows' interface in :mod:`.tables` and its place in
:class:`~.base.Transaction`; in :mod:`.sqlite`, its DDL in ``schema.py`` and
a class beside the others; in :mod:`.postgres`, a new migration at the end
of ``schema.py`` and the same class with PostgreSQL's SQL (``%s``
placeholders, ``ON CONFLICT``, ``self.db.for_update`` on rows a write
decides on); and its name and key columns in :data:`~.base.TABLES`, in an
order its references allow, so that ``hvgen migrate`` moves it (it refuses
a store with tables it does not know).
"""

from __future__ import annotations

from .base import Store, Transaction
from .files import BlobFiles, LocalBlobFiles
from .sqlite import SqliteStore

__all__ = ["BlobFiles", "LocalBlobFiles", "SqliteStore", "Store", "Transaction"]
