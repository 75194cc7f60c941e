"""De-identification on the way out: the DICOM Basic Application
Confidentiality Profile (PS3.15 Annex E, Table E.1-1).

The profile's actions, attribute by attribute (D: dummy value, Z: empty, X:
remove, K: keep, U: a new UID, and their combinations; private attributes
removed), come from ``dicom-anonymizer`` (KitwareMedical), which carries
Table E.1-1 of several editions of the standard as data and applies it with
pydicom. Of the pydicom-based libraries it is the one that implements that
table as published: ``deid`` applies recipes one writes, and ``dicognito``
replaces identifying values by its own rules rather than the profile's.

One :class:`Anonymizer` de-identifies one export: every UID it replaces is
replaced by the same new UID in every file (the library's UID map is swapped
for the anonymizer's own while it works), so a study stays a study, its
series stay series, and references between its instances still hold; two
exports of the same study get different UIDs. Each data set is marked as the
profile asks: Patient Identity Removed (0012,0062) YES, and the method in
De-identification Method (0012,0063) and its code sequence (0012,0064), code
113100 of DCM. The profile does not clean pixel data: images whose Burned In
Annotation (0028,0301) is not NO are named in the notes.
"""

from __future__ import annotations

import importlib.metadata
import pkgutil
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any, BinaryIO

import pydicom
from pydicom.dataset import Dataset

__all__ = ["Anonymizer", "PROFILE", "TABLES", "anonymize_tree"]

#: What de-identified data sets say was done to them.
PROFILE = "DICOM PS3.15 Annex E Basic Application Confidentiality Profile"

_swap = threading.Lock()  # the library keeps its UID map in a module global


def _tables() -> str:
    """The newest edition of Table E.1-1 the installed library carries."""
    from dicomanonymizer import dicom_anonymization_databases

    editions = sorted(m.name for m in pkgutil.iter_modules(dicom_anonymization_databases.__path__))
    editions = [e for e in editions if e.startswith("dicomfields_")]
    if not editions:
        raise RuntimeError("dicom-anonymizer carries no table of the profile")
    return editions[-1]


TABLES = _tables()


class Anonymizer:
    """De-identifies the data sets of one export, with UIDs consistent across them."""

    def __init__(self) -> None:
        from dicomanonymizer import simpledicomanonymizer

        self._lib = simpledicomanonymizer
        self._rules = simpledicomanonymizer.initialize_actions(TABLES)
        self.uids: dict[str, str] = {}
        self.notes: list[str] = []
        #: Images whose pixels may show identifying text (Burned In Annotation not NO).
        self.burned_in: list[str] = []
        version = importlib.metadata.version("dicom-anonymizer")
        self.method = [PROFILE, f"dicom-anonymizer {version}, Table E.1-1 of {TABLES.removeprefix('dicomfields_')}"]

    def uid(self, old: str) -> str:
        """The new UID of ``old`` in this export (made on first use)."""
        if old not in self.uids:
            self.uids[old] = pydicom.uid.generate_uid(None)  # 2.25.<a random UUID>, as the library makes them
        return self.uids[old]

    def dataset(self, ds: Dataset, where: str = "") -> Dataset:
        """De-identify ``ds`` in place (and return it)."""
        with _swap:
            kept = self._lib.dictionary
            self._lib.dictionary = self.uids
            try:
                self._lib.anonymize_dataset(ds, base_rules_gen=lambda: dict(self._rules), delete_private_tags=True)
            finally:
                self._lib.dictionary = kept
        burned = str(ds.get("BurnedInAnnotation", "") or "").strip().upper()
        if burned != "NO" and "PixelData" in ds:
            self.burned_in.append(where or str(ds.get("SOPInstanceUID", "")))
        ds.PatientIdentityRemoved = "YES"
        ds.DeidentificationMethod = self.method
        code = Dataset()
        code.CodeValue = "113100"
        code.CodingSchemeDesignator = "DCM"
        code.CodeMeaning = "Basic Application Confidentiality Profile"
        ds.DeidentificationMethodCodeSequence = [code]
        meta = getattr(ds, "file_meta", None)
        if meta is not None:
            if "SOPInstanceUID" in ds:
                meta.MediaStorageSOPInstanceUID = ds.SOPInstanceUID
            for keyword in (
                "SourceApplicationEntityTitle",
                "SendingApplicationEntityTitle",
                "ReceivingApplicationEntityTitle",
            ):
                if keyword in meta:
                    del meta[keyword]
        return ds

    def file(self, source: Path | str | BinaryIO, target: Path | BinaryIO, where: str = "") -> Dataset:
        """Read a DICOM file, de-identify it, write it to ``target``; returns the new data set."""
        ds = pydicom.dcmread(source, force=True)
        self.dataset(ds, where or str(source))
        ds.save_as(target, enforce_file_format="TransferSyntaxUID" in getattr(ds, "file_meta", {}))
        return ds

    def summary(self) -> list[str]:
        """Notes for the person exporting: files left out, and images the profile cannot vouch for."""
        notes = list(self.notes)
        if self.burned_in:
            notes.append(
                f"{len(self.burned_in)} image(s) do not say they have no burned-in annotation (0028,0301); "
                "the basic profile does not clean pixel data: check them before sharing"
            )
        return notes

    def name(self, old_uid: str) -> str:
        """The file or folder name standing for ``old_uid`` (a UID, or ``UID_preview``)."""
        base, sep, rest = old_uid.partition("_")
        return self.uid(base) + sep + rest


def _dicom_files(root: Path) -> Iterator[Path]:
    for path in sorted(root.rglob("*")):
        if path.is_file():
            yield path


def anonymize_tree(source: Path, target: Path, anonymizer: Anonymizer | None = None) -> list[tuple[Path, Path]]:
    """De-identified copies of the DICOM files under ``source`` (a study as
    ``Studies.download`` lays it out: ``<series-uid>/<sop-uid>.dcm``, previews
    ``<sop-uid>_preview.jpg``) under ``target``, with folder and file names
    made from the new UIDs. Files that are not DICOM are left out, previews
    too (they are images of the original pixels, named by their UIDs: they
    go by their new names). Returns (source, written) pairs."""
    anonymizer = anonymizer or Anonymizer()
    written: list[tuple[Path, Path]] = []
    for path in _dicom_files(source):
        folder = target / anonymizer.name(path.parent.name) if path.parent != source else target
        folder.mkdir(parents=True, exist_ok=True)
        if path.suffix.lower() == ".jpg":
            out = folder / (anonymizer.name(path.stem) + path.suffix)
            out.write_bytes(path.read_bytes())
            written.append((path, out))
            continue
        try:
            ds = pydicom.dcmread(path, force=True, stop_before_pixels=True)
            sop = str(ds.SOPInstanceUID)
        except Exception:
            anonymizer.notes.append(f"{path}: not a DICOM file; left out")
            continue
        out = folder / f"{anonymizer.uid(sop)}.dcm"
        anonymizer.file(path, out, str(path))
        written.append((path, out))
    return written


def anonymize_scan(scanned: Any, target: Path, anonymizer: Anonymizer | None = None) -> Anonymizer:
    """De-identified copies of every image of a scan (:func:`.dicom.scan`) in
    ``target``, as ``<new-sop-uid>.dcm``; scan ``target`` to build studies from them."""
    anonymizer = anonymizer or Anonymizer()
    target.mkdir(parents=True, exist_ok=True)
    for study in scanned.studies:
        for image in study.images:
            anonymizer.file(image.path, target / f"{anonymizer.uid(image.sop_instance_uid)}.dcm", str(image.path))
    return anonymizer


def anonymized_bytes(anonymizer: Anonymizer, data: bytes | BinaryIO, where: str = "") -> tuple[bytes, Any]:
    """A DICOM file (bytes or a binary file) de-identified: (the new file's bytes, its data set)."""
    import io

    source = io.BytesIO(data) if isinstance(data, bytes) else data
    out = io.BytesIO()
    ds = anonymizer.file(source, out, where)
    return out.getvalue(), ds
