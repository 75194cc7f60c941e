"""The platform's in-process ingest of DICOM studies.

STOW-RS (and the server-side imports built on it) store studies here, in the
server's own process: no HTTP, no envelopes, no authentication round trips.
The study thing is built by the same library code as ``hvgen study upload``
(:func:`hvgen_imaging.study.build`, :func:`hvgen_imaging.study.merge`) and
written by the same core as PutThings
(:func:`hvgen_server.methods.things.store_things`: schema check, audits,
version stamps, blob checks, de-duplication of a study already in the
record), so the thing stored is byte for byte the one the protocol path
stores. See ``docs/ingest.md``.

- :mod:`.blobwrite`: a file or bytes into the blob store, hashed as it is
  written (a file on the blob folder's file system adopted, not copied)
- :mod:`.studies`: finding a record's studies by their UIDs, and writing
  studies (blobs, thing versions and DICOM index rows in one transaction)
- :mod:`.previews`: the previews of stored studies, made afterwards and
  added in a later version
- :mod:`.listening`: the DICOM storage service of ``hvgen serve --dicom-port``
"""

from __future__ import annotations

from .studies import Ingest, Ingested

__all__ = ["Ingest", "Ingested"]
