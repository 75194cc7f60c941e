"""Where the local platform keeps its data.

:class:`Store` (units of work over tables, :mod:`.base` and :mod:`.tables`)
holds applications, records, sessions, things, blob state and packages;
:class:`BlobFiles` holds blob bytes. :class:`SqliteStore` and
:class:`LocalBlobFiles` are the implementations in use.
"""

from __future__ import annotations

from .base import Store, Transaction
from .files import BlobFiles, LocalBlobFiles
from .sqlite import SqliteStore

__all__ = ["BlobFiles", "LocalBlobFiles", "SqliteStore", "Store", "Transaction"]
