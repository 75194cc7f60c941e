"""What the DICOMweb services share: errors as PS3.18 answers them, media
types the client accepts, and the URLs of studies, series and instances."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

import orjson

from ..errors import ServerError

DICOM = "application/dicom"
DICOM_JSON = "application/dicom+json"
MULTIPART = "multipart/related"


def parse_json(text: str) -> Any:
    """DICOM JSON the index stored: read by orjson, or by json where it holds the
    ``NaN`` or ``Infinity`` json writes for such float values (answers carry them as null)."""
    try:
        return orjson.loads(text)
    except orjson.JSONDecodeError:
        return json.loads(text)


class DicomWebError(ServerError):
    """A request answered with an HTTP error status and a message saying what was wrong."""

    def __init__(self, status: int, message: str, headers: dict[str, str] | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.headers = headers or {}


@dataclass(frozen=True)
class MediaRange:
    """One media range of an Accept header: ``type/subtype`` and its parameters (names in lower case)."""

    media_type: str
    params: dict[str, str] = field(default_factory=dict)

    @property
    def quality(self) -> float:
        try:
            return float(self.params.get("q", "1"))
        except ValueError:
            return 1.0


def _split(text: str, sep: str) -> list[str]:
    """``text`` split at ``sep`` outside double quotes."""
    parts: list[str] = []
    current: list[str] = []
    quoted = False
    for char in text:
        if char == '"':
            quoted = not quoted
        if char == sep and not quoted:
            parts.append("".join(current))
            current = []
        else:
            current.append(char)
    parts.append("".join(current))
    return [p.strip() for p in parts if p.strip()]


def parse_media(text: str) -> MediaRange:
    """``type/subtype; name=value...`` (a Content-Type, or one range of an Accept header)."""
    media, *params = _split(text, ";")
    values = {}
    for param in params:
        name, _, value = param.partition("=")
        values[name.strip().lower()] = value.strip().strip('"')
    return MediaRange(media.strip().lower(), values)


def accepted(header: str | None) -> list[MediaRange]:
    """The media ranges of an Accept header, best first (none given: anything)."""
    if not header or not header.strip():
        return [MediaRange("*/*")]
    ranges = [parse_media(part) for part in _split(header, ",")]
    ranges = [r for r in ranges if r.quality > 0]
    return sorted(ranges, key=lambda r: -r.quality)


def matches(media: MediaRange, offered: str) -> bool:
    """Whether ``media`` (from an Accept header) covers the ``offered`` type."""
    if media.media_type in ("*/*", offered):
        return True
    major, _, minor = media.media_type.partition("/")
    return minor == "*" and offered.startswith(major + "/")


def not_acceptable(header: str | None, offered: list[str]) -> DicomWebError:
    return DicomWebError(
        406,
        f"cannot answer with any of the accepted media types ({header}); this resource is offered as "
        + ", ".join(offered),
    )


def warning(message: str) -> str:
    """A Warning header value, as PS3.18 gives them (code 299)."""
    return f'299 hvgen: "{message.replace(chr(34), chr(39))}"'


@dataclass(frozen=True)
class Urls:
    """The URLs of the DICOMweb resources, under ``base`` (.../dicomweb)."""

    base: str

    def study(self, study_uid: str) -> str:
        return f"{self.base}/studies/{study_uid}"

    def series(self, study_uid: str, series_uid: str) -> str:
        return f"{self.study(study_uid)}/series/{series_uid}"

    def instance(self, study_uid: str, series_uid: str, sop_uid: str) -> str:
        return f"{self.series(study_uid, series_uid)}/instances/{sop_uid}"
