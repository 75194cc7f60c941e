"""What the DICOM listener inside ``hvgen serve`` answers C-FIND, C-GET and
C-MOVE from: its record as the DICOM index has it, in process.

Matching is QIDO-RS's (:mod:`..dicomweb.qido`: wildcards, date ranges, UID
lists, at most its number of results), over the studies an application may
see (:mod:`..appview`: personal studies are not there), and the files come
from the blob store as they were stored. The return keys are QIDO-RS's
includefield, and SOP Classes in Study (one more query over the studies'
instances, when asked for).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from pydicom.dataset import Dataset

from hvgen_imaging.peers import PeerError
from hvgen_imaging.spool import file_name

from .. import appview
from ..context import Platform
from ..dicomweb import qido
from ..dicomweb.index import refresh
from ..dicomweb.media import DicomWebError, Urls
from ..store.rows import INSTANCE, SERIES, STUDY, DicomMatch, DicomQuery

_LEVELS = {"STUDY": STUDY, "SERIES": SERIES, "IMAGE": INSTANCE}
_UIDS = {"StudyInstanceUID": "study_uid", "SeriesInstanceUID": "series_uid", "SOPInstanceUID": "sop_uid"}


class IndexArchive:
    """The record ``record_id`` of ``platform`` (see :class:`hvgen_imaging.qrscp.Archive`)."""

    def __init__(self, platform: Platform, record_id: str) -> None:
        self.platform, self.record_id = platform, record_id

    def find(self, level: str, keys: dict[str, str], returned: list[str]) -> list[Dataset]:
        params = [*keys.items(), *(("includefield", k) for k in returned)]
        try:
            parsed = qido.parse(_LEVELS[level], params)
        except DicomWebError as exc:
            raise PeerError(exc.message) from None
        refresh(self.platform, self.record_id)
        more: dict[str, dict[str, Any]] = {}
        with self.platform.store.read() as tx:
            hits = tx.dicom.search(self.record_id, appview.dicom_for_applications(parsed.query))
            more = qido.study_extras(tx, self.record_id, parsed, hits)
        answers, _ = qido.answer(parsed, hits, Urls(""), more)
        return [Dataset.from_json(a) for a in answers]

    def fetch(self, keys: dict[str, str], out: Path) -> list[Path]:
        matches = tuple(
            DicomMatch(_UIDS[k], "uids", tuple(u.strip() for u in v.split("\\") if u.strip()))
            for k, v in keys.items()
            if k in _UIDS
        )
        if not matches:
            raise PeerError("a retrieval names studies, series or instances by their UIDs")
        refresh(self.platform, self.record_id)
        with self.platform.store.read() as tx:
            hits = tx.dicom.search(self.record_id, appview.dicom_for_applications(DicomQuery(INSTANCE, matches)))
        out.mkdir(parents=True, exist_ok=True)
        written: list[Path] = []
        for hit in hits:
            target = out / file_name(hit.instance.sop_uid)
            with open(target, "wb") as f:
                for piece in self.platform.files.read(hit.instance.blob_id):
                    f.write(piece)
            written.append(target)
        return written
