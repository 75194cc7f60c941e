"""GetThings queries: which things, and which of their sections.

:class:`ThingQuery` is one request group in plain fields; :meth:`ThingQuery.to_group`
makes the schema's ``ThingRequestGroup2`` of it. The client sends them
(:meth:`client.HealthVaultClient.get_things`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any
from uuid import UUID

from .schema import (
    BlobFilters,
    BlobFilterSpec,
    BlobFormatSpec,
    BlobPayloadRequest,
    ThingFilterSpec,
    ThingFormatSpec2,
    ThingKey,
    ThingRequestGroup2,
    ThingSectionSpec2,
    ThingState,
)

#: The classes this module takes from the schema set (see ``hvgen generate``).
SCHEMA_CLASSES = {
    "ThingRequestGroup2": "{urn:com.microsoft.wc.methods.GetThings3}ThingRequestGroup2",
    "ThingFormatSpec2": "{urn:com.microsoft.wc.methods.GetThings3}ThingFormatSpec2",
    "ThingSectionSpec2": "{urn:com.microsoft.wc.methods.GetThings3}ThingSectionSpec2",
    "BlobPayloadRequest": "{urn:com.microsoft.wc.methods.GetThings3}BlobPayloadRequest",
    "BlobFormatSpec": "{urn:com.microsoft.wc.methods.GetThings3}BlobFormatSpec",
    "BlobFilters": "{urn:com.microsoft.wc.methods.GetThings3}BlobFilters",
    "BlobFilterSpec": "{urn:com.microsoft.wc.methods.GetThings3}BlobFilterSpec",
    "ThingFilterSpec": "{urn:com.microsoft.wc.methods.GetThings}ThingFilterSpec",
    "ThingKey": "{urn:com.microsoft.wc.thing}ThingKey",
    "ThingState": "{urn:com.microsoft.wc.thing}ThingState",
}


@dataclass
class ThingQuery:
    """One GetThings group: which things, and which of their sections.

    Things are selected by ``thing_ids``, ``keys`` or ``client_thing_ids``
    (one kind per query) and/or by the filter fields; every given condition
    applies.
    """

    type_ids: Sequence[UUID | str] = ()
    thing_ids: Sequence[UUID | str] = ()
    keys: Sequence[ThingKey] = ()
    client_thing_ids: Sequence[str] = ()
    states: Sequence[str] = ()
    xpath: str | None = None
    sections: Sequence[str] = ("core",)
    xml: bool = True
    blob_payload: bool = False
    blob_format: str = "streamed"
    blob_names: Sequence[str] = ()
    signatures: bool = False
    max: int | None = None
    max_full: int | None = None
    current_version_only: bool | None = None
    name: str | None = None
    extra_filters: dict[str, Any] = field(default_factory=dict)

    def to_group(self) -> ThingRequestGroup2:
        sections = list(dict.fromkeys(self.sections))
        if self.blob_payload and "blobpayload" not in sections:
            sections.append("blobpayload")
        if self.signatures and "digitalsignatures" not in sections:
            sections.append("digitalsignatures")
        fmt = ThingFormatSpec2(
            section=[ThingSectionSpec2(s) for s in sections],
            xml=[""] if self.xml else [],
            blob_payload_request=(
                BlobPayloadRequest(
                    blob_filters=(
                        BlobFilters(blob_filter=[BlobFilterSpec(blob_name=n) for n in self.blob_names])
                        if self.blob_names
                        else None
                    ),
                    blob_format=BlobPayloadRequest.BlobFormat(blob_format_spec=BlobFormatSpec(self.blob_format)),
                )
                if self.blob_payload
                else None
            ),
        )
        filters = []
        if self.type_ids or self.states or self.xpath or self.extra_filters:
            filters.append(
                ThingFilterSpec(
                    type_id=[str(t) for t in self.type_ids],
                    thing_state=[ThingState(s) for s in self.states],
                    xpath=self.xpath,
                    **self.extra_filters,
                )
            )
        return ThingRequestGroup2(
            id=[str(t) for t in self.thing_ids],
            key=list(self.keys),
            client_thing_id=list(self.client_thing_ids),
            filter=filters,
            format=fmt,
            current_version_only=self.current_version_only,
            name=self.name,
            max=self.max,
            max_full=self.max_full,
        )
