"""From xsdata's class models to binding class specifications.

xsdata is the schema front end: it resolves types, names classes and fields
and flattens simple-type restrictions into facets. What its models no longer
say exactly is the content model (its field occurrences are multiplied out
along the path of sequences and choices), so the occurrences each particle
has in the schema are recorded before xsdata's analysis (:class:`Occurs`)
and the content model is rebuilt from the field paths.

:class:`SpecBuilder` turns each class into a :class:`ClassSpec` (fields with
their element names, simple types and places in the content model, the
content model as an automaton, attributes, simple content) or an
:class:`EnumSpec`, which the templates in ``templates/bindings`` render.
"""

from __future__ import annotations

import keyword
import re
from collections.abc import Iterable
from typing import Any

from xsdata.codegen.models import Attr, AttrType, Class
from xsdata.models.enums import Tag

from . import docs
from .automaton import Dfa, Group, Leaf, Particle, compile_model, minimize, relaxed
from .specs import AttrSpec, ClassSpec, EnumSpec, FieldSpec, TextSpec

XS = "http://www.w3.org/2001/XMLSchema"
THING_NS = "urn:com.microsoft.wc.thing"
#: The wildcard of this class holds the thing type's data-xml root.
DATA_ROOT_CLASSES = frozenset({"{urn:com.microsoft.wc.thing}DataXml"})

#: Python type of each built-in simple type (all others are str).
_PYTHON = {
    **{
        n: "int"
        for n in (
            "integer long int short byte nonNegativeInteger positiveInteger nonPositiveInteger "
            "negativeInteger unsignedLong unsignedInt unsignedShort unsignedByte"
        ).split()
    },
    "decimal": "_Decimal",
    "float": "float",
    "double": "float",
    "boolean": "bool",
    "dateTime": "_dt.datetime",
    "date": "_dt.date",
    "time": "_dt.time",
    "base64Binary": "bytes",
    "hexBinary": "bytes",
}
_LISTS = {"IDREFS": "IDREF", "ENTITIES": "ENTITY", "NMTOKENS": "NMTOKEN"}

_ELEMENT_TAGS = frozenset({Tag.ELEMENT, Tag.ANY})
_TEXT_TAGS = frozenset({Tag.EXTENSION, Tag.RESTRICTION})


class Occurs:
    """Occurrences of element particles as the schema wrote them.

    Recorded from xsdata's classes before its analysis multiplies them out,
    keyed by element name and the ids of the groups on its path (which
    survive when xsdata copies an attribute into another class).
    """

    def __init__(self, classes: Iterable[Class]) -> None:
        self._own: dict[tuple[str, tuple[int, ...]], tuple[int, int | None]] = {}
        stack = list(classes)
        while stack:
            cls = stack.pop()
            stack.extend(cls.inner)
            for attr in cls.attrs:
                if attr.tag in _ELEMENT_TAGS:
                    self._own[self.key(attr)] = (
                        attr.restrictions.min_occurs if attr.restrictions.min_occurs is not None else 1,
                        _max(attr.restrictions.max_occurs),
                    )
                    if attr.tag == Tag.ANY:  # recorded; xsdata's analysis expects its usual 0
                        attr.restrictions.min_occurs = 0

    @staticmethod
    def key(attr: Attr) -> tuple[str, tuple[int, ...]]:
        return (attr.local_name, tuple(p[1] for p in attr.restrictions.path))

    def get(self, attr: Attr) -> tuple[int, int | None] | None:
        """The occurrences of ``attr``'s particle. An element copied into a
        class from a group (``<group ref>``) has the group's own path at the
        end of its path: it is found by that."""
        name, ids = self.key(attr)
        for start in range(len(ids)):
            found = self._own.get((name, ids[start:]))
            if found is not None:
                return found
        return None


def _max(value: int | None) -> int | None:
    if value is None or value >= 2**31:
        return None
    return int(value)


def _tag(namespace: str | None, local: str) -> str:
    return f"{{{namespace}}}{local}" if namespace else local


class SpecBuilder:
    """Builds the specs of one module's classes."""

    def __init__(
        self,
        filters: Any,
        occurs: Occurs,
        by_qname: dict[str, Class],
        thing_roots: dict[str, Any],
    ) -> None:
        self.filters = filters
        self.occurs = occurs
        self.by_qname = by_qname
        self.thing_roots = thing_roots
        self._specs: dict[int, ClassSpec | EnumSpec] = {}
        #: Simple types of the module being built: code -> constant name.
        self.pool: dict[str, str] = {}

    def start_module(self) -> None:
        self.pool = {}

    def _pooled(self, code: str) -> str:
        """A module constant for a simple type built from built-ins only."""
        if "enum_type(" in code or not code.startswith("_v."):
            return code
        if code.startswith('_v.BUILTINS["') and code.count("(") == 0:
            return code
        name = self.pool.get(code)
        if name is None:
            name = self.pool[code] = f"_S{len(self.pool)}"
        return name

    # -- names ---------------------------------------------------------------------

    def class_path(self, cls: Class) -> str:
        names = [self.filters.class_name(n) for n in cls.parent_names()] if cls.parent else []
        return ".".join([*names, self.filters.class_name(cls.name)]) if names else self.filters.class_name(cls.name)

    def _type_ref(self, owner: Class, attr_type: AttrType) -> tuple[str, Class | None]:
        """Python name of a referenced class, and the class."""
        if attr_type.forward:
            inner = _find_nested(owner, attr_type.qname)
            if inner is not None:
                return self.class_path(inner), inner
        target = self.by_qname.get(attr_type.qname)
        return self.filters.type_name(attr_type), target

    def _field_name(self, attr: Attr, owner: Class, taken: set[str]) -> str:
        name = str(self.filters.field_name(attr.name, owner.name))
        if name in ("self",) or keyword.iskeyword(name):
            name += "_value"
        while name in taken:
            name += "_"
        taken.add(name)
        return name

    # -- simple types ----------------------------------------------------------------

    def simple(self, owner: Class, attr: Attr) -> tuple[str, str]:
        """Code of the SimpleType of ``attr`` and the Python type of its values."""
        members = [self._one_simple(owner, t) for t in attr.types] or [('_v.BUILTINS["string"]', "str")]
        if len(members) > 1:
            code = "_v.union_type((" + ", ".join(m[0] for m in members) + ",))"
            py = " | ".join(dict.fromkeys(m[1] for m in members))
        else:
            code, py = members[0]
        r = attr.restrictions
        facets = []
        if r.pattern:
            facets.append(f"patterns=({r.pattern!r},)")
        for name in ("length", "min_length", "max_length", "total_digits", "fraction_digits"):
            value = getattr(r, name)
            if value is not None:
                facets.append(f"{name}={int(value)}")
        for name in ("min_inclusive", "max_inclusive", "min_exclusive", "max_exclusive"):
            value = getattr(r, name)
            if value is not None:
                facets.append(f"{name}={str(value)!r}")
        if r.white_space and r.white_space != "collapse":
            facets.append(f"whitespace={r.white_space!r}")
        if r.tokens:
            code, py = f"_v.list_type({code})", f"list[{py}]"
        if facets:
            code = f"_v.restrict({code}, {', '.join(facets)})"
        return self._pooled(code), py

    def _one_simple(self, owner: Class, attr_type: AttrType) -> tuple[str, str]:
        if attr_type.native:
            local = attr_type.qname.rpartition("}")[2]
            if local in _LISTS:
                return f'_v.list_type(_v.BUILTINS["{_LISTS[local]}"])', "list[str]"
            if local not in _KNOWN_BUILTINS:
                local = "string"
            return f'_v.BUILTINS["{local}"]', _PYTHON.get(local, "str")
        name, target = self._type_ref(owner, attr_type)
        if target is not None and target.is_enumeration:
            base = target.attrs[0].types[0] if target.attrs and target.attrs[0].types else None
            base_code = (
                self._one_simple(owner, base)[0] if base is not None and base.native else '_v.BUILTINS["string"]'
            )
            return f"_v.enum_type({name}, {base_code})", name
        if target is not None and not _is_complex(target):
            # A simple type xsdata kept as a class (a union of its own): its value attr.
            value_attr = next((a for a in target.attrs if a.tag in _TEXT_TAGS), None)
            if value_attr is not None:
                return self.simple(target, value_attr)
        return '_v.BUILTINS["string"]', "str"

    # -- classes ---------------------------------------------------------------------

    def spec(self, cls: Class) -> ClassSpec | EnumSpec:
        cached = self._specs.get(id(cls))
        if cached is not None:
            return cached
        if cls.is_enumeration:
            spec: ClassSpec | EnumSpec = self._enum(cls)
        else:
            spec = self._class(cls)
        self._specs[id(cls)] = spec
        return spec

    def _enum(self, cls: Class) -> EnumSpec:
        members = []
        taken: set[str] = set()
        for attr in cls.attrs:
            name = self.filters.constant_name(attr.name, cls.name)
            while name in taken:
                name += "_"
            taken.add(name)
            members.append((name, repr(attr.default if attr.default is not None else attr.name)))
        base = cls.attrs[0].types[0] if cls.attrs and cls.attrs[0].types else None
        base_code = '_v.BUILTINS["string"]'
        if base is not None and base.native:
            base_code = self._one_simple(cls, base)[0]
        return EnumSpec(
            name=self.filters.class_name(cls.name),
            doc=docs.docstring(docs.doc_paragraphs(cls.help), []),
            members=members,
            base=base_code,
        )

    def _own_particles(self, cls: Class, fields: list[tuple[Attr, FieldSpec]]) -> tuple[Particle, bool]:
        """The content model of ``cls``'s own element fields, and whether it
        is exact (False when a field has no recorded path)."""
        root = Group("s", 1, 1, [])
        groups: dict[int, Group] = {}
        exact = True
        for attr, spec in fields:
            own = self.occurs.get(attr)
            path = attr.restrictions.path
            if own is None or (not path and attr.tag != Tag.ANY):
                exact = False
                own = (spec.min, spec.max)
            parent = root
            for kind, ident, low, high in path:
                group = groups.get(ident)
                if group is None:
                    group = Group({"s": "s", "c": "c", "a": "a", "g": "s"}.get(kind, "s"), int(low), _max(high))
                    groups[ident] = group
                    parent.children.append(group)
                parent = group
            key = ("*" + spec.name) if spec.wild else spec.tag
            parent.children.append(Leaf(key, int(own[0]), own[1]))
        return root, exact

    def _class(self, cls: Class) -> ClassSpec:
        taken: set[str] = set()
        bases: list[str] = []
        base_specs: list[ClassSpec] = []
        restriction = False
        for ext in cls.extensions:
            name, target = self._type_ref(cls, ext.type)
            if target is not None and _is_complex(target):
                bases.append(name)
                base_spec = self.spec(target)
                if isinstance(base_spec, ClassSpec):
                    base_specs.append(base_spec)
                    restriction = restriction or ext.tag == Tag.RESTRICTION
        inherited: list[FieldSpec | AttrSpec | TextSpec] = [f for b in base_specs for f in b.init_fields]
        taken.update(f.name for f in inherited)
        order = max((f.order for b in base_specs for f in b.fields), default=-1) + 1
        if restriction:
            order = 0

        element_fields: list[tuple[Attr, FieldSpec]] = []
        attributes: list[AttrSpec] = []
        text: TextSpec | None = None
        any_attributes = False
        described: list[tuple[str, str]] = []
        for attr in cls.attrs:
            name = ""
            if attr.tag in _ELEMENT_TAGS:
                field_spec = self._element_field(cls, attr, taken, order)
                order += 1
                element_fields.append((attr, field_spec))
                name = field_spec.name
            elif attr.tag == Tag.ATTRIBUTE:
                simple, py = self.simple(cls, attr)
                name = self._field_name(attr, cls, taken)
                attributes.append(
                    AttrSpec(
                        name=name,
                        attribute=_tag(attr.namespace, attr.local_name),
                        required=(attr.restrictions.min_occurs or 0) >= 1 and attr.default is None,
                        simple=simple,
                        value_type=py,
                        default=repr(attr.default) if attr.default is not None else None,
                    )
                )
            elif attr.tag == Tag.ANY_ATTRIBUTE:
                any_attributes = True
            elif attr.tag in _TEXT_TAGS:
                simple, py = self.simple(cls, attr)
                name = self._field_name(attr, cls, taken)
                text = TextSpec(name, simple, py)
            if name:
                described.append((name, " ".join(docs.doc_paragraphs(attr.help))))

        fields = [f for _, f in element_fields]
        notes: list[str] = []
        model_code: str | None
        particle: Particle = Group("s", 1, 1, [])
        if text is not None or (not fields and base_specs and not restriction):
            model_code = None if base_specs and text is None else "_b.EMPTY"
            if text is None:
                particle = Group("s", 1, 1, [_spec_particle(b) for b in base_specs])
        else:
            own, exact = self._own_particles(cls, element_fields)
            base_models = [b for b in base_specs if not restriction]
            if base_models:
                particle = Group("s", 1, 1, [*(_spec_particle(b) for b in base_models), own])
            else:
                particle = own
            keys = [("*" + f.name) if f.wild else f.tag for b in base_models for f in _all_fields(b)]
            keys += [("*" + f.name) if f.wild else f.tag for f in fields]
            if exact:
                dfa = minimize(compile_model(particle))
            else:
                dfa = relaxed(keys)
                notes.append("content model checked without order (xsdata kept no path for a field)")
            model_code = _model_code(dfa, [*(f for b in base_models for f in _all_fields(b)), *fields])
        all_own: list[FieldSpec | AttrSpec | TextSpec] = [*fields, *attributes, *([text] if text else [])]
        element = self._element_name(cls)
        spec = ClassSpec(
            name=self.filters.class_name(cls.name),
            path=self.class_path(cls),
            qname=cls.qname,
            doc=docs.docstring(docs.doc_paragraphs(cls.help), described),
            element=element,
            bases=bases,
            fields=fields,
            attributes=attributes,
            text=text,
            mixed=bool(cls.mixed),
            any_attributes=any_attributes,
            model=model_code,
            init_fields=[*inherited, *all_own],
            thing=self.thing_roots.get(cls.qname) if not cls.parent else None,
            notes=notes,
            particle=particle,
        )
        spec.inner = [self.spec(inner) for inner in cls.inner]
        return spec

    def _element_name(self, cls: Class) -> str:
        if cls.tag == Tag.ELEMENT and not cls.local_type:
            return _tag(cls.namespace or "", cls.meta_name or cls.name)
        return cls.meta_name or cls.name

    def _element_field(self, cls: Class, attr: Attr, taken: set[str], order: int) -> FieldSpec:
        low = attr.restrictions.min_occurs or 0
        high = _max(attr.restrictions.max_occurs)
        card = "many" if high is None or high > 1 else ("one" if low >= 1 else "maybe")
        name = self._field_name(attr, cls, taken)
        if attr.tag == Tag.ANY:
            data_root = cls.qname in DATA_ROOT_CLASSES
            item = f"_b.{'DataRoot' if data_root else 'Wild'}({(attr.namespace or '##any')!r}, {cls.target_namespace or ''!r})"
            if card == "one":
                card = "maybe"  # a wildcard may be missing in documents read leniently
            return FieldSpec(name, "", card, item, "_t.Any", order, low, high, wild=True)
        tag = _tag(attr.namespace, attr.local_name)
        complex_type = None
        if len(attr.types) == 1 and not attr.types[0].native:
            ref, target = self._type_ref(cls, attr.types[0])
            if target is not None and _is_complex(target):
                complex_type = ref
        nillable = bool(attr.restrictions.nillable)
        if complex_type is not None:
            item = f"_b.Complex(lambda: {complex_type})"
            return FieldSpec(name, tag, card, item, complex_type, order, low, high, nillable=nillable)
        simple, py = self.simple(cls, attr)
        return FieldSpec(name, tag, card, f"_b.Simple({simple})", py, order, low, high, nillable=nillable)


_KNOWN_BUILTINS = frozenset(
    """string anySimpleType anyType normalizedString token anyURI QName NOTATION integer long int short byte
    nonNegativeInteger positiveInteger nonPositiveInteger negativeInteger unsignedLong unsignedInt unsignedShort
    unsignedByte decimal float double boolean dateTime date time base64Binary hexBinary language Name NCName ID
    IDREF ENTITY NMTOKEN duration gYear gYearMonth gMonth gMonthDay gDay IDREFS ENTITIES NMTOKENS""".split()
)


def _find_nested(owner: Class, qname: str) -> Class | None:
    stack = list(owner.inner)
    while stack:
        inner = stack.pop()
        if inner.qname == qname:
            return inner
        stack.extend(inner.inner)
    parent = owner.parent
    return _find_nested(parent, qname) if parent is not None else None


def _all_fields(spec: ClassSpec) -> list[FieldSpec]:
    return [f for f in spec.init_fields if isinstance(f, FieldSpec)]


def _spec_particle(spec: ClassSpec) -> Particle:
    return spec.particle


def _model_code(dfa: Dfa, fields: list[FieldSpec]) -> str:
    rows = ", ".join("{" + ", ".join(f"{k!r}: {v}" for k, v in row.items()) + "}" for row in dfa.trans)
    accept = ", ".join(str(s) for s in sorted(dfa.accept))
    wild = {state: ", ".join(f"({k[1:]!r}, {v})" for k, v in row.items()) for state, row in enumerate(dfa.wild) if row}
    code = f"_b.Model(({rows},), ({accept},)"
    if wild:
        code += ", {" + ", ".join(f"{s}: ({entries},)" for s, entries in wild.items()) + "}"
    return code + ")"


_IDENT = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


def _is_complex(cls: Class) -> bool:
    """A class with element or attribute content of its own (not a simple type)."""
    return cls.tag != Tag.SIMPLE_TYPE and not cls.is_enumeration
