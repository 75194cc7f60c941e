"""GetThingType: the definitions of the thing types the platform accepts.

Those of hvgen's own schemas and of every ``hvgen serve --schemas`` folder
(:class:`~hvgen_server.thingtypes.ThingTypes`), asked for by type-id or,
without one, all of them. Each comes with its id and name, and with the
sections asked for (``core`` when none is): ``core`` adds the flags (every
type may be created, changed and stored more than once here), ``xsd`` the
schema the type's data is checked against, as its package ships it,
``versions`` the types sharing its data-xml root element, and
``effectivedatexpath`` the element its schema documents as the effective
date (``ROOT/ELEMENT``, relative to data-xml), when it documents one. The
platform keeps no columns, transforms or images for a type, so those
sections add nothing. A type-id the platform does not know is 19
INVALID_THING_TYPE. With ``last-client-refresh`` no newer than the last
change of the types, the answer holds no type.
"""

from __future__ import annotations

import uuid

from healthvault.bindings.methods.method_getthingtype import Info as GetThingTypeParams
from healthvault.bindings.methods.response_getthingtype import Info as GetThingTypeResult
from healthvault.bindings.methods.response_getthingtype import ThingTypeInfo, VersionInfo, Versions
from healthvault.status import StatusCode

from ..context import Context
from ..errors import PlatformError
from ..thingtypes import TypeDefinition
from .service import changed_at, unchanged_since

#: Sections returned when the request names none.
DEFAULT_SECTIONS = frozenset({"core"})


def _type_ids(ctx: Context, wanted: list[str]) -> list[str]:
    types = ctx.platform.thing_types
    if not wanted:
        return types.type_ids()
    ids = list(dict.fromkeys(str(uuid.UUID(t.strip())) for t in wanted))
    unknown = [t for t in ids if types.get(t) is None]
    if unknown:
        raise PlatformError(
            StatusCode.INVALID_THING_TYPE,
            f"the local platform does not know the thing type {', '.join(unknown)}; "
            "hvgen serve --schemas DIR teaches it the types of a schema folder",
        )
    return ids


def _describe(found: TypeDefinition, sections: set[str]) -> ThingTypeInfo:
    described = ThingTypeInfo(id=found.type_id, name=found.name)
    if "core" in sections:
        described.uncreatable, described.immutable, described.singleton = False, False, False
    if "xsd" in sections:
        described.xsd = found.schema_text
    if "versions" in sections and found.versions:
        described.versions = Versions(
            thing_type_id=found.type_id,
            version_info=[
                VersionInfo(version_type_id=v.type_id, version_name=v.name, version_sequence=v.sequence)
                for v in found.versions
            ],
        )
    if "effectivedatexpath" in sections:
        described.effective_date_xpath = found.effective_date_xpath
    return described


def get_thing_type(ctx: Context) -> GetThingTypeResult:
    info = ctx.request.info()
    assert isinstance(info, GetThingTypeParams)
    types = ctx.platform.thing_types
    type_ids = _type_ids(ctx, list(info.id))
    changed = changed_at(ctx, "thing-types", types.digest)
    if unchanged_since(info.last_client_refresh, changed):
        return GetThingTypeResult()
    sections = {str(getattr(s, "value", s)) for s in info.section} or set(DEFAULT_SECTIONS)
    described = []
    for type_id in type_ids:
        found = types.definition(type_id)
        if found is not None:
            described.append(_describe(found, sections))
    return GetThingTypeResult(thing_type=described)
