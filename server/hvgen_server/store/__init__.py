"""Where the local platform keeps its data.

:class:`Store` (units of work over tables, :mod:`.base` and :mod:`.tables`)
holds applications, records, sessions, things, blob state and packages;
:class:`BlobFiles` holds blob bytes. Two backends of each: the embedded
default, :class:`SqliteStore` (:mod:`.sqlite`) and :class:`LocalBlobFiles`,
and the shared one, ``PostgresStore`` (:mod:`.postgres`) and
``S3BlobFiles`` (:mod:`.s3files`), which need the ``shared`` extra and are
chosen by :mod:`hvgen_server.backends`.

Every table is written once, in :mod:`.sql`, over a small dialect layer
(:mod:`.sql.dialect`); so is the schema (:mod:`.sql.schema`). An SQL
backend is one adapter, a folder beside ``sqlite/`` and ``postgres/``:

- a :class:`~.sql.dialect.Dialect`: how its SQL is spelled where databases
  differ (empty bytes, byte order of text, the column that numbers rows in
  the order they were added, row locks, ``RETURNING``, arrays, an unbounded
  ``LIMIT``, case-sensitive wildcards, lists of distinct values, the
  schema's types, the query of its tables);
- a :class:`~.sql.dialect.Db`: one unit of work on one of its connections
  (``run``, ``one``, ``all``, ``stream``, ``many``, ``dicts``, and ``lock``
  for writers of one key), taking SQL with ``?`` marks and giving rows as
  plain tuples;
- a :class:`~.base.Store`: its connections, ``read()`` and ``write()``
  units of work whose tables are :func:`.sql.tables` over its ``Db``
  (a write raises :class:`~.base.Conflict` when it lost to a concurrent
  one), :meth:`~.base.Store.hold` across processes if several share it,
  and the copying calls of ``hvgen migrate`` through :mod:`.sql.copying`;
- its schema and migrations: what creates :mod:`.sql.schema` in a new
  database and brings an older one up to it.

Adding a table: its rows' interface in :mod:`.tables` and its place in
:class:`~.base.Transaction`; its class in :mod:`.sql` (and in
:func:`.sql.tables`); its columns and indexes in :mod:`.sql.schema` (the
SQLite store creates them), and a new migration at the end of
``postgres/schema.py`` that makes them there (``tests/test_shared.py``
checks that both have exactly the schema); and its name and key columns in
:data:`~.base.TABLES`, in an order its references allow, so that
``hvgen migrate`` moves it (it refuses a store with tables it does not know).
"""

from __future__ import annotations

from .base import Store, Transaction
from .files import BlobFiles, LocalBlobFiles
from .sqlite import SqliteStore

__all__ = ["BlobFiles", "LocalBlobFiles", "SqliteStore", "Store", "Transaction"]
