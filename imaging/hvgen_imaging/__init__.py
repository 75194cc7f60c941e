"""Imaging workflows: DICOM folders to medical image studies on the platform and back.

The public API (``__all__``), by what it is for:

    scanning      scan, ScanResult, DicomStudy, DicomSeries, DicomImage
    studies       build_study (:func:`.study.build`), BuiltStudy
    previews      make_preview, Preview
    workflow      Studies (upload, list, show, download, change, delete), Signer
    results       UploadResult, StudySummary, StudyDetails, SeriesDetails,
                  ImageDetails, DownloadResult
    packages      create_package (:func:`.packages.create`), pick_up, PickedUp
    leaving       Anonymizer, anonymize_tree, write_zip, ZipEntry, ZipResult,
                  download_anonymized
    listening     Listener (DICOM C-STORE), Uploader, Spool
    other nodes   Node, WebNode, PeerError (:mod:`.peers`: C-ECHO, C-FIND,
                  C-STORE, C-GET; :mod:`.webpeer`: QIDO, STOW, WADO-RS)
    errors        the exceptions below (anonstream's two aside)

Each name is imported from its module on first use: ``import hvgen_imaging``
needs neither pydicom nor numpy, and the server uses :mod:`.results` without
the imaging extra. The package uses the runtime (``healthvault``) only.

Exceptions: everything this package raises on purpose derives from one root
(each class with the module defining it, and a second base callers may catch)::

    ImagingError                  errors
    ├── BadQuery                  matching, also ValueError
    ├── FrameError                frames
    ├── InflateError              inflate
    ├── OverBudget                budget
    ├── PeerError                 peers
    ├── PreviewError              preview
    ├── ScanError                 dicom, also HealthVaultError
    ├── StudyError                results, also HealthVaultError
    │   ├── DuplicateStudies      workflow
    │   ├── OtherStudy            workflow
    │   └── SignatureWouldBeLost  workflow
    ├── TooLarge                  anonstream, also ValueError
    └── Unsupported               anonstream, also ValueError
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

__all__ = [
    "Anonymizer",
    "BuiltStudy",
    "DicomImage",
    "DicomSeries",
    "DicomStudy",
    "DownloadResult",
    "DuplicateStudies",
    "FrameError",
    "ImageDetails",
    "ImagingError",
    "InflateError",
    "Listener",
    "OtherStudy",
    "OverBudget",
    "Node",
    "PeerError",
    "PickedUp",
    "Preview",
    "PreviewError",
    "ScanError",
    "ScanResult",
    "SeriesDetails",
    "SignatureWouldBeLost",
    "Signer",
    "Spool",
    "Studies",
    "StudyDetails",
    "StudyError",
    "StudySummary",
    "UploadResult",
    "Uploader",
    "WebNode",
    "ZipEntry",
    "ZipResult",
    "anonymize_tree",
    "build_study",
    "create_package",
    "download_anonymized",
    "make_preview",
    "pick_up",
    "scan",
    "write_zip",
]

#: Public name -> (module, name there), imported on first use.
_EXPORTS = {
    "Anonymizer": ("anonymize", "Anonymizer"),
    "BuiltStudy": ("study", "BuiltStudy"),
    "DicomImage": ("dicom", "DicomImage"),
    "DicomSeries": ("dicom", "DicomSeries"),
    "DicomStudy": ("dicom", "DicomStudy"),
    "DownloadResult": ("results", "DownloadResult"),
    "DuplicateStudies": ("workflow", "DuplicateStudies"),
    "FrameError": ("frames", "FrameError"),
    "ImageDetails": ("results", "ImageDetails"),
    "ImagingError": ("errors", "ImagingError"),
    "InflateError": ("inflate", "InflateError"),
    "Listener": ("listener", "Listener"),
    "OtherStudy": ("workflow", "OtherStudy"),
    "OverBudget": ("budget", "OverBudget"),
    "Node": ("peers", "Node"),
    "PeerError": ("peers", "PeerError"),
    "PickedUp": ("packages", "PickedUp"),
    "Preview": ("preview", "Preview"),
    "PreviewError": ("preview", "PreviewError"),
    "ScanError": ("dicom", "ScanError"),
    "ScanResult": ("dicom", "ScanResult"),
    "SeriesDetails": ("results", "SeriesDetails"),
    "SignatureWouldBeLost": ("workflow", "SignatureWouldBeLost"),
    "Signer": ("sending", "Signer"),
    "Spool": ("spool", "Spool"),
    "Studies": ("workflow", "Studies"),
    "StudyDetails": ("results", "StudyDetails"),
    "StudyError": ("results", "StudyError"),
    "StudySummary": ("results", "StudySummary"),
    "UploadResult": ("results", "UploadResult"),
    "Uploader": ("uploader", "Uploader"),
    "WebNode": ("webpeer", "WebNode"),
    "ZipEntry": ("export", "ZipEntry"),
    "ZipResult": ("export", "ZipResult"),
    "anonymize_tree": ("anonymize", "anonymize_tree"),
    "build_study": ("study", "build"),
    "create_package": ("packages", "create"),
    "download_anonymized": ("export", "download_anonymized"),
    "make_preview": ("preview", "make_preview"),
    "pick_up": ("packages", "pick_up"),
    "scan": ("dicom", "scan"),
    "write_zip": ("export", "write_zip"),
}

if TYPE_CHECKING:
    from .anonymize import Anonymizer as Anonymizer
    from .anonymize import anonymize_tree as anonymize_tree
    from .budget import OverBudget as OverBudget
    from .dicom import DicomImage as DicomImage
    from .dicom import DicomSeries as DicomSeries
    from .dicom import DicomStudy as DicomStudy
    from .dicom import ScanError as ScanError
    from .dicom import ScanResult as ScanResult
    from .dicom import scan as scan
    from .errors import ImagingError as ImagingError
    from .export import ZipEntry as ZipEntry
    from .export import ZipResult as ZipResult
    from .export import download_anonymized as download_anonymized
    from .export import write_zip as write_zip
    from .frames import FrameError as FrameError
    from .inflate import InflateError as InflateError
    from .listener import Listener as Listener
    from .packages import PickedUp as PickedUp
    from .packages import create as create_package
    from .packages import pick_up as pick_up
    from .peers import Node as Node
    from .peers import PeerError as PeerError
    from .preview import Preview as Preview
    from .preview import PreviewError as PreviewError
    from .preview import make_preview as make_preview
    from .results import DownloadResult as DownloadResult
    from .results import ImageDetails as ImageDetails
    from .results import SeriesDetails as SeriesDetails
    from .results import StudyDetails as StudyDetails
    from .results import StudyError as StudyError
    from .results import StudySummary as StudySummary
    from .results import UploadResult as UploadResult
    from .sending import Signer as Signer
    from .spool import Spool as Spool
    from .study import BuiltStudy as BuiltStudy
    from .study import build as build_study
    from .uploader import Uploader as Uploader
    from .webpeer import WebNode as WebNode
    from .workflow import DuplicateStudies as DuplicateStudies
    from .workflow import OtherStudy as OtherStudy
    from .workflow import SignatureWouldBeLost as SignatureWouldBeLost
    from .workflow import Studies as Studies


def __getattr__(name: str) -> Any:
    found = _EXPORTS.get(name)
    if found is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    module, attribute = found
    value = getattr(importlib.import_module(f".{module}", __name__), attribute)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_EXPORTS))
