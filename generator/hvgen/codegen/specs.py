"""Specifications of binding classes, as the templates in ``templates/bindings``
render them: fields (elements), attributes, simple content, enumerations and
classes. Each spec knows the code of its descriptor and its ``__init__``
parameter; :mod:`.bindings` builds them from xsdata's class models.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from .automaton import Group, Particle


@dataclass
class FieldSpec:
    name: str
    tag: str
    card: str  # one, maybe, many
    item: str  # code of the Item
    value_type: str  # python type of one value
    order: int
    min: int
    max: int | None
    wild: bool = False
    nillable: bool = False  # the element may say xsi:nil="true"

    @property
    def descriptor(self) -> str:
        return {"one": "_b.One", "maybe": "_b.Maybe", "many": "_b.Many"}[self.card]

    @property
    def annotation(self) -> str:
        return f"{self.descriptor}[{self.value_type}]"

    @property
    def definition(self) -> str:
        nillable = ", nillable=True" if self.nillable else ""
        return f"{self.descriptor}({self.tag!r}, {self.item}, {self.order}, {self.min}, {self.max}{nillable})"

    @property
    def init_type(self) -> str:
        if self.card == "many":
            return f"_Iterable[{self.value_type}]"
        if self.card == "maybe":
            return f"{self.value_type} | None"
        return self.value_type

    @property
    def init_default(self) -> str | None:
        return {"many": "()", "maybe": "None"}.get(self.card)


@dataclass
class AttrSpec:
    name: str
    attribute: str
    required: bool
    simple: str
    value_type: str
    default: str | None

    @property
    def descriptor(self) -> str:
        return "_b.ReqAttr" if self.required else "_b.Attr"

    @property
    def annotation(self) -> str:
        return f"{self.descriptor}[{self.value_type}]"

    @property
    def definition(self) -> str:
        default = f", {self.default}" if self.default else ""
        return f"{self.descriptor}({self.attribute!r}, {self.simple}{default})"

    @property
    def init_type(self) -> str:
        return self.value_type if self.required else f"{self.value_type} | None"


@dataclass
class TextSpec:
    name: str
    simple: str
    value_type: str

    @property
    def annotation(self) -> str:
        return f"_b.Text[{self.value_type}]"

    @property
    def definition(self) -> str:
        return f"_b.Text({self.simple})"


def init_param(f: FieldSpec | AttrSpec | TextSpec) -> tuple[str, str, str | None, bool]:
    """(name, annotation, default, set only when not None) of an __init__ parameter."""
    if isinstance(f, FieldSpec):
        if f.card == "one":
            return f.name, f.value_type, None, False
        if f.card == "many":
            return f.name, f"_Iterable[{f.value_type}]", "()", False
        return f.name, f"{f.value_type} | None", "None", True
    if isinstance(f, AttrSpec) and f.required:
        return f.name, f.value_type, None, False
    return f.name, f"{f.value_type} | None", "None", True


@dataclass
class EnumSpec:
    name: str
    doc: str
    members: list[tuple[str, str]]
    base: str
    kind: str = "enum"


@dataclass
class ClassSpec:
    name: str
    path: str  # dotted path from the module (Outer.Inner)
    qname: str
    doc: str
    element: str
    bases: list[str]
    fields: list[FieldSpec]
    attributes: list[AttrSpec]
    text: TextSpec | None
    mixed: bool
    any_attributes: bool
    model: str | None  # code of the Model, None to inherit
    init_fields: list[FieldSpec | AttrSpec | TextSpec]
    inner: list[ClassSpec | EnumSpec] = field(default_factory=list)
    thing: Any = None
    kind: str = "class"
    notes: list[str] = field(default_factory=list)
    #: The content model, for classes that extend this one.
    particle: Particle = field(default_factory=lambda: Group("s", 1, 1, []))

    @property
    def members(self) -> list[FieldSpec | AttrSpec | TextSpec]:
        """The class's own descriptors, in the order they are defined."""
        return [*self.fields, *self.attributes, *([self.text] if self.text else [])]

    @property
    def init_params(self) -> list[tuple[str, str, str | None, bool]]:
        return [init_param(f) for f in self.init_fields]
