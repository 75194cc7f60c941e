"""The tables of the store, written once for every SQL backend.

Each table of :mod:`..tables` is one class here, over a
:class:`~.dialect.Db` (one unit of work on a backend's connection) that
speaks one SQL: the common part of SQLite's and PostgreSQL's, with ``?``
marks, rows as plain tuples made into the store's rows by position. Where
databases really differ, the table asks the backend's
:class:`~.dialect.Dialect` (byte order of text, the column of rows in the
order they were added, row locks, ``RETURNING``, arrays, an unbounded
``LIMIT``, wildcard matches, lists of distinct values) or its ``Db`` (locks
that writers of one key take).

A backend (see :mod:`hvgen_server.store`) gives a ``Db`` and a ``Dialect``
and calls :func:`tables` for each unit of work; it keeps its connections,
its schema and its migrations.
"""

from __future__ import annotations

from ..base import Transaction
from .blobs import Blobs
from .dialect import Db, Dialect
from .dicomindex import DicomIndex
from .dicomnodes import DicomNodes
from .directory import Applications, Meta, Records, Requests, Sessions
from .fhirindex import FhirIndex
from .packages import Packages
from .persons import AlternateIds, Persons, PersonTokens, SignInFailures
from .things import Things

__all__ = ["Db", "Dialect", "tables"]


def tables(db: Db) -> Transaction:
    """Every table, over one unit of work."""
    return Transaction(
        meta=Meta(db),
        applications=Applications(db),
        records=Records(db),
        sessions=Sessions(db),
        things=Things(db),
        blobs=Blobs(db),
        packages=Packages(db),
        requests=Requests(db),
        persons=Persons(db),
        person_tokens=PersonTokens(db),
        alternate_ids=AlternateIds(db),
        dicom=DicomIndex(db),
        fhir=FhirIndex(db),
        sign_in_failures=SignInFailures(db),
        dicom_nodes=DicomNodes(db),
    )
