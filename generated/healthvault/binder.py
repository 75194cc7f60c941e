"""Checking a parsed tree against its binding classes and binding it.

:func:`bind` walks a tree with :class:`check.Checker` and returns a view of
it, raising or warning for what the check found (see :mod:`codec`, whose
readers use it); :func:`decode_data` binds a data-xml root by its thing's
type-id, or by its name. The class of a data-xml root is decided here
(:func:`_decide`), also for roots first read later (deferred checks, trees
built in memory): this module installs itself as the resolver of
:mod:`binding`.
"""

from __future__ import annotations

import warnings
from typing import Any, TypeVar
from uuid import UUID

from lxml import etree

from . import registry
from .binding import Binding, Document, RawElement, install_data_root_resolver
from .check import Checker, Problem
from .errors import HealthVaultDecodeWarning, HealthVaultXmlError

T = TypeVar("T", bound=Binding)


def _fits(element: etree._Element, cls: type[Binding]) -> list[Problem]:
    return Checker(Document()).check(element, cls)


def _decide(element: etree._Element, type_id: str | None) -> tuple[type, tuple[Problem, ...], bool]:
    """The class of a data-xml root: by type-id, else by its name."""
    if type_id is not None and type_id.strip():
        cls = registry.thing_class(type_id)
        if cls is None:
            return RawElement, (), False  # a type this package does not know
        if cls.ELEMENT != element.tag:
            problem = Problem(
                _path(element),
                element.sourceline,
                f"type-id {type_id.strip()} names a <{cls.ELEMENT}> ({cls.__name__}), not <{etree.QName(element).localname}>",
                True,
            )
            return RawElement, (problem,), True
        problems = _fits(element, cls)
        return (RawElement, tuple(problems), True) if problems else (cls, (), True)
    candidates = registry.classes_for_root(element.tag)
    first: tuple[Problem, ...] = ()
    for cls in candidates:  # newest version first
        problems = _fits(element, cls)
        if not problems:
            return cls, (), True
        first = first or tuple(problems)
    return RawElement, first, bool(candidates)


def _path(element: etree._Element) -> str:
    return str(element.getroottree().getpath(element))


def _describe(problems: list[Problem] | tuple[Problem, ...]) -> str:
    more = f" (and {len(problems) - 1} more)" if len(problems) > 1 else ""
    return f"{problems[0]}{more}"


def _settle(what: str, checker: Checker, strict: bool, *, stacklevel: int = 3) -> None:
    """Raise or warn for what a check found, as the module docstring says."""
    structural = [p for p in checker.problems if p.structural]
    if structural:
        raise HealthVaultXmlError(f"{what}: {_describe(structural)}")
    values = [p for p in checker.problems if not p.structural]
    raw = [r for r in checker.raw_roots if r.expected and r.problems]
    if strict:
        if values:
            raise HealthVaultXmlError(f"{what}: {_describe(values)}")
        if raw:
            raise HealthVaultXmlError(f"{what}: data-xml: {_describe(raw[0].problems)}")
        return
    if values:
        warnings.warn(f"{what}: kept as read: {_describe(values)}", HealthVaultDecodeWarning, stacklevel=stacklevel)
    for root in raw:
        warnings.warn(
            f"kept <{etree.QName(root.element).localname}> as raw XML: {_describe(root.problems)}",
            HealthVaultDecodeWarning,
            stacklevel=stacklevel,
        )


def bind(
    element: etree._Element, cls: type[T], *, what: str = "document", strict: bool = False, defer_data: bool = False
) -> T:
    """Check ``element`` against ``cls`` and return a view of it.

    The element is used in place (not copied); data-xml roots below it are
    bound by their thing's type-id. With ``defer_data`` (not with
    ``strict``), each data-xml root is checked and bound when the program
    first reads it, and a root that does not fit its class warns then.

    Raises:
        HealthVaultXmlError: Content ``cls`` has no place for (and, when
            ``strict``, missing content or values that do not parse).
    """
    doc = Document()
    checker = Checker(doc, _decide, defer_data=defer_data and not strict)
    checker.check(element, cls)
    _settle(what, checker, strict)
    return cls._of(element, doc)  # noqa: SLF001


def decode_data(element: etree._Element, type_id: UUID | str | None = None, *, strict: bool = False) -> Any:
    """A data-xml root element as its binding class (see :func:`read_data`)."""
    cls, problems, expected = _decide(element, str(type_id) if type_id is not None else None)
    if cls is RawElement and problems and expected:
        if strict:
            raise HealthVaultXmlError(f"data-xml root: {_describe(problems)}")
        warnings.warn(
            f"kept <{etree.QName(element).localname}> as raw XML: {_describe(problems)}",
            HealthVaultDecodeWarning,
            stacklevel=3,
        )
    return cls._of(element, Document())  # type: ignore[attr-defined]


# Data-xml roots read without a decision (views built by hand) are resolved
# the same way: by the thing's type-id, checked against its class.
def _resolve(element: etree._Element, type_id: str | None) -> type:
    """The class of a data-xml root decided when it is first read (a root
    of a tree built in memory, or of a document read with ``defer_data``)."""
    cls, problems, expected = _decide(element, type_id)
    if cls is RawElement and problems and expected:
        warnings.warn(
            f"kept <{etree.QName(element).localname}> as raw XML: {_describe(problems)}",
            HealthVaultDecodeWarning,
            stacklevel=4,
        )
    return cls


install_data_root_resolver(_resolve)
