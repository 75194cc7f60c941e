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
bytes are streamed from the blob store. An imported DocumentReference with
one attachment whose bytes are in ``data`` (base64) becomes a file thing
(its title the name, its content type the media type) whose default blob
holds them; an attachment given by URL only is refused.
"""

from __future__ import annotations

import base64
import copy
from typing import Any

from lxml import etree

from ..datatypes import text
from ..documents import without_data
from ..errors import FhirError
from ..mapping import Mapping

#: What a file whose thing names no media type is sent as.
OCTET_STREAM = "application/octet-stream"


def media_type(root: etree._Element) -> str:
    """The media type a file thing names (its content-type's text, or its first code)."""
    return text(root, "content-type/text") or text(root, "content-type/code/value") or OCTET_STREAM


def _attachment(resource: dict[str, Any]) -> dict[str, Any]:
    contents = resource.get("content") or []
    if len(contents) != 1 or not isinstance(contents[0], dict) or not isinstance(contents[0].get("attachment"), dict):
        raise FhirError(422, "DocumentReference: exactly one content with an attachment is needed (a file thing)")
    found: dict[str, Any] = contents[0]["attachment"]
    return found


class FileMapping(Mapping):
    any_code = True

    def normal(self, resource: dict[str, Any]) -> dict[str, Any]:
        return without_data(resource)

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
        attachment = _attachment(resource)
        size = len(self._bytes(attachment))
        name = str(attachment.get("title") or resource.get("description") or "").strip() or "document"
        root = etree.Element("file")
        etree.SubElement(root, "name").text = name[:255]
        etree.SubElement(root, "size").text = str(size)
        content_type = etree.SubElement(root, "content-type")
        etree.SubElement(content_type, "text").text = str(attachment.get("contentType") or OCTET_STREAM)
        if base is not None and etree.tostring(base, with_tail=False) != etree.tostring(root, with_tail=False):
            kept = base.find("content-type")  # a codable value's codes, kept when its text is the same
            if kept is not None and (kept.findtext("text") or "").strip() == content_type.findtext("text"):
                root.replace(content_type, copy.deepcopy(kept))
        return root

    def payload(self, resource: dict[str, Any]) -> tuple[str, str] | None:
        attachment = _attachment(resource)
        self._bytes(attachment)
        return str(attachment.get("contentType") or OCTET_STREAM), "".join(str(attachment["data"]).split())

    @staticmethod
    def _bytes(attachment: dict[str, Any]) -> bytes:
        if "data" not in attachment:
            where = f" (url {attachment['url']!r})" if attachment.get("url") else ""
            raise FhirError(
                422, f"DocumentReference: the attachment has no data{where}; send its bytes as base64 in data"
            )
        try:
            found = base64.b64decode("".join(str(attachment["data"]).split()), validate=True)
        except (ValueError, TypeError):
            raise FhirError(422, "DocumentReference: the attachment's data is not base64") from None
        if not found:
            raise FhirError(422, "DocumentReference: the attachment's data is empty (a file has at least one byte)")
        return found


MAPPING = FileMapping(
    resource_type="DocumentReference",
    type_ids=("bd0403c5-4ae2-4b0e-a8db-1888678e4528",),
    root="file",
    source=__doc__ or "",
)
