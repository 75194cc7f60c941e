"""Descriptors of an element's own attributes and text.

:class:`Attr` and :class:`ReqAttr` are an optional and a required
attribute, :class:`Text` the text of an element with simple content. As
with the child fields of :mod:`fields`, reading parses the text and setting
writes the value's canonical form, except that setting the value already
held changes nothing (the text keeps the lexical form it was read with).
"""

from __future__ import annotations

from typing import ClassVar, Generic, TypeVar, overload

from .fields import Simple, View
from .values import SimpleType
from .xmltree import HealthVaultValueError, _nilled, _text, _where

T = TypeVar("T")


class Attr(Generic[T]):
    """An optional attribute (``None`` when absent)."""

    __slots__ = ("name", "attribute", "type", "default")
    required: ClassVar[bool] = False

    def __init__(self, attribute: str, type: SimpleType, default: str | None = None) -> None:  # noqa: A002
        self.name = ""
        self.attribute = attribute
        self.type = type
        self.default = default

    def __set_name__(self, owner: type, name: str) -> None:
        self.name = name

    @overload
    def __get__(self, obj: None, owner: type) -> Attr[T]: ...
    @overload
    def __get__(self, obj: View, owner: type) -> T | None: ...
    def __get__(self, obj: View | None, owner: type) -> Attr[T] | T | None:
        if obj is None:
            return self
        text = obj._el.get(self.attribute)  # noqa: SLF001
        if text is None:
            if self.default is None:
                return None
            text = self.default
        try:
            value: T = self.type.parse(text)
        except ValueError as exc:
            raise HealthVaultValueError(f"{_where(obj._el)}: attribute {self.attribute}: {exc}") from None  # noqa: SLF001
        return value

    def __set__(self, obj: View, value: T | None) -> None:
        element = obj._el  # noqa: SLF001
        if value is None:
            element.attrib.pop(self.attribute, None)
            return
        try:
            text = self.type.format(value)
        except ValueError as exc:
            raise HealthVaultValueError(f"attribute {self.attribute}: {exc}") from None
        current = element.get(self.attribute)
        if current is not None and self.type.unchanged(current, text, value):
            return  # the value it holds: its text stays as read
        element.set(self.attribute, text)


class ReqAttr(Attr[T]):
    """A required attribute."""

    __slots__ = ()
    required = True

    @overload
    def __get__(self, obj: None, owner: type) -> ReqAttr[T]: ...
    @overload
    def __get__(self, obj: View, owner: type) -> T: ...
    def __get__(self, obj: View | None, owner: type) -> ReqAttr[T] | T:
        if obj is None:
            return self
        value = Attr.__get__(self, obj, owner)
        if value is None:
            raise HealthVaultValueError(f"{_where(obj._el)}: the required attribute {self.attribute} is missing")  # noqa: SLF001
        return value


class Text(Generic[T]):
    """The text of an element with simple content (``value``)."""

    __slots__ = ("name", "type", "required")

    def __init__(self, type: SimpleType, required: bool = True) -> None:  # noqa: A002
        self.name = ""
        self.type = type
        self.required = required

    def __set_name__(self, owner: type, name: str) -> None:
        self.name = name

    @overload
    def __get__(self, obj: None, owner: type) -> Text[T]: ...
    @overload
    def __get__(self, obj: View, owner: type) -> T: ...
    def __get__(self, obj: View | None, owner: type) -> Text[T] | T:
        if obj is None:
            return self
        if _nilled(obj._el):  # noqa: SLF001
            return None  # type: ignore[return-value]  # xsi:nil="true": no value
        try:
            value: T = self.type.parse(_text(obj._el))  # noqa: SLF001
        except ValueError as exc:
            raise HealthVaultValueError(f"{_where(obj._el)}: {exc}") from None  # noqa: SLF001
        return value

    def __set__(self, obj: View, value: T) -> None:
        Simple[T](self.type).set(obj._el, value)  # noqa: SLF001
