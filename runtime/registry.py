"""Registry of thing types: type-id -> binding class.

Built from the ``<type-id>`` annotation of every thing-type schema (the
tables are generated into :mod:`schema`).
"""

from __future__ import annotations

from functools import lru_cache
from uuid import UUID

from .binding import Binding
from .schema import ROOTS, SCHEMAS, THING_TYPES

__all__ = ["ROOTS", "SCHEMAS", "THING_TYPES", "classes_for_root", "thing_class", "type_id_of"]


def _as_uuid(type_id: UUID | str) -> UUID:
    return type_id if isinstance(type_id, UUID) else UUID(str(type_id).strip())


def thing_class(type_id: UUID | str) -> type[Binding] | None:
    """The binding class of a type-id, or None for an unknown type."""
    if isinstance(type_id, UUID):
        return THING_TYPES.get(type_id)
    return _class_of_text(type_id)


@lru_cache(maxsize=1024)
def _class_of_text(type_id: str) -> type[Binding] | None:
    try:
        return THING_TYPES.get(_as_uuid(type_id))
    except ValueError:
        return None


def type_id_of(obj: object) -> UUID | None:
    """The type-id of a data-xml root instance or class, if it is a thing type."""
    type_id = getattr(obj, "TYPE_ID", None)
    return type_id if isinstance(type_id, UUID) else None


def classes_for_root(name: str) -> tuple[type[Binding], ...]:
    """Candidate classes for a data-xml root element name, newest version first."""
    return ROOTS.get(name, ())
