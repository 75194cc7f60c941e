"""What the store keeps for thing flags and type versioning (the parts of
:class:`~.tables.ThingTable` and :class:`~.tables.ApplicationTable` that
:mod:`hvgen_server.appview` and :mod:`hvgen_server.versioning` need)."""

from __future__ import annotations

from abc import ABC, abstractmethod


class ApplicationVersions(ABC):
    @abstractmethod
    def set_type_versions(self, app_id: str, type_ids: str) -> bool:
        """Say which versions of versioned thing types the application reads
        and writes (type ids, space-separated); False if there is no such application."""


class ThingFlags(ABC):
    @abstractmethod
    def set_flags(self, thing_id: str, flags: int, type_id: str | None = None) -> None:
        """Give the thing its current version's flags (and, when it moved to
        another version of its type, that version's ``type_id``)."""
