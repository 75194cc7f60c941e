"""The study viewer: a record's studies in a browser, served by the local platform.

:mod:`.pages` has the routes, :mod:`.studies` reads studies through the
store, :mod:`.archive` writes a study's ZIP while it is sent and
:mod:`.present` formats values for people. Who is signed in (by password,
or by a one-time link) is :mod:`..websession`'s.
"""

from __future__ import annotations

from .pages import VIEWER_PATH, Viewer

__all__ = ["VIEWER_PATH", "Viewer"]
