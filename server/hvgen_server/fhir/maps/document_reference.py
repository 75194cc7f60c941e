"""File (thing type bd0403c5-4ae2-4b0e-a8db-1888678e4528) as a
DocumentReference (read only).

Sources: FHIR R4 DocumentReference (http://hl7.org/fhir/R4/documentreference.html:
``status`` ``current``, ``content.attachment`` with ``contentType``,
``title``, ``size`` and a ``url`` the bytes are fetched from;
http://hl7.org/fhir/R4/datatypes.html#Attachment) and the project's file
schema (``name``, ``size``, ``content-type``: a codable value whose text is
the media type; the bytes are the thing's default blob). The attachment's
URL is this server's (``/fhir/DocumentReference/ID/attachment``, the same
authorization as every FHIR read), added as the resource is served; the
bytes are streamed from the blob store. Files come into the record as
things with a blob (``hvgen`` and the SDK's file transfer), not as FHIR: an
imported DocumentReference is refused.
"""

from __future__ import annotations

from typing import Any

from lxml import etree

from ..datatypes import text
from ..errors import FhirError
from ..mapping import Mapping

#: What a file whose thing names no media type is sent as.
OCTET_STREAM = "application/octet-stream"


def media_type(root: etree._Element) -> str:
    """The media type a file thing names (its content-type's text, or its first code)."""
    return text(root, "content-type/text") or text(root, "content-type/code/value") or OCTET_STREAM


class FileMapping(Mapping):
    imports = False

    def to_fhir(self, root: etree._Element) -> dict[str, Any]:
        attachment: dict[str, Any] = {"contentType": media_type(root)}
        name = text(root, "name") or ""
        if name:
            attachment["title"] = name
        size = text(root, "size") or ""
        if size.isdigit() and int(size) < 1 << 31:  # R4 Attachment.size is an unsignedInt
            attachment["size"] = int(size)
        resource: dict[str, Any] = {"resourceType": "DocumentReference", "status": "current"}
        if name:
            resource["description"] = name
        resource["content"] = [{"attachment": attachment}]
        return resource

    def to_thing(self, resource: dict[str, Any], base: etree._Element | None) -> etree._Element:
        raise FhirError(422, "a DocumentReference is not imported: files come in as things with their blob")


MAPPING = FileMapping(
    resource_type="DocumentReference",
    type_ids=("bd0403c5-4ae2-4b0e-a8db-1888678e4528",),
    root="file",
    source=__doc__ or "",
)
