"""Properties of the generated codecs over random documents.

* every generated class: a random valid document is read strictly without a
  problem and written back byte for byte; a document of a thing type is
  also valid for libxml2 against the type's schema (an independent check of
  both the generator of documents and the reader's content models);
* lexical variants of values survive (``04``, ``1.0E0``, ``0.90``, seconds
  with 1-7 fractional digits, ``1`` for true);
* a mutated document (text inserted, an element moved, removed or
  duplicated, an attribute added) is never written back silently changed:
  the reader raises or warns, and what it writes is the mutated document.
"""

from __future__ import annotations

import copy
import inspect
import pkgutil
import warnings
from typing import Any

import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st
from lxml import etree

import healthvault.bindings
from healthvault import codec, registry, validation
from healthvault.binding import Binding, RawElement, to_xml
from healthvault.errors import HealthVaultDecodeWarning, HealthVaultXmlError

from .conftest import examples
from .xmlstrategies import documents, element_for

pytestmark = pytest.mark.properties  # also run with --hypothesis-profile=deep (.ci/run)


def _binding_classes() -> list[type[Binding]]:
    found: dict[str, type[Binding]] = {}
    for info in pkgutil.walk_packages(healthvault.bindings.__path__, "healthvault.bindings."):
        module = __import__(info.name, fromlist=["_"])
        stack = [obj for _, obj in inspect.getmembers(module, inspect.isclass)]
        while stack:
            cls = stack.pop()
            if issubclass(cls, Binding) and cls is not Binding and cls.__module__.startswith("healthvault.bindings"):
                found[f"{cls.__module__}.{cls.__qualname__}"] = cls
                stack.extend(
                    c
                    for _, c in inspect.getmembers(cls, inspect.isclass)
                    if c.__qualname__.startswith(cls.__qualname__ + ".")
                )
    return [found[k] for k in sorted(found)]


CLASSES = _binding_classes()
THING_TYPES = sorted(registry.THING_TYPES.items(), key=lambda item: str(item[0]))
SETTINGS = settings(
    max_examples=examples(12),
    deadline=None,
    suppress_health_check=[
        HealthCheck.too_slow,
        HealthCheck.filter_too_much,
        HealthCheck.data_too_large,
        HealthCheck.large_base_example,
    ],
)


def _read(data: bytes, cls: type[Binding], strict: bool) -> Any:
    from healthvault import safexml

    return codec.bind(safexml.parse(data), cls, what=cls.__name__, strict=strict)


def _c14n(data: bytes) -> bytes:
    return bytes(etree.tostring(etree.fromstring(data), method="c14n"))


def test_every_generated_class_is_covered() -> None:
    assert len(CLASSES) > 100
    assert any(c.__name__ == "MedicalImageStudy" for c in CLASSES)


@pytest.mark.parametrize("cls", CLASSES, ids=lambda c: f"{c.__module__.rpartition('.')[2]}.{c.__qualname__}")
def test_random_valid_documents_round_trip_exactly(cls: type[Binding]) -> None:
    @SETTINGS
    @given(documents(cls))
    def check(data: bytes) -> None:
        with warnings.catch_warnings():
            warnings.simplefilter("error", HealthVaultDecodeWarning)
            view = _read(data, cls, strict=True)
        out = to_xml(view)
        assert _c14n(out) == _c14n(data)
        assert to_xml(_read(out, cls, strict=True)) == out

    check()


@pytest.mark.parametrize(("type_id", "cls"), THING_TYPES, ids=lambda v: getattr(v, "__name__", str(v)))
def test_random_thing_type_documents_are_valid_for_libxml2(type_id: Any, cls: type[Binding]) -> None:
    @SETTINGS
    @given(element_for(cls))
    def check(element: etree._Element) -> None:
        validation.validate_data(element, type_id)  # raises when libxml2 disagrees
        view = codec.decode_data(copy.deepcopy(element), type_id, strict=True)
        assert type(view) is cls

    check()


# -- lexical variants ------------------------------------------------------------------

BP = "ca3c57f4-f4c1-4e15-be67-0a3caf5414ed"


def _thing(type_id: str, data_xml: str, extra: str = "") -> bytes:
    return (
        f'<thing><thing-id version-stamp="4d5fb486-0459-45a4-ba97-8b4c75c30f3f">31713110-026c-4d24-8549-cec9effe9b0d</thing-id>'
        f"<type-id>{type_id}</type-id>{extra}<data-xml>{data_xml}<common/></data-xml></thing>"
    ).encode()


@pytest.mark.parametrize(
    "when",
    [
        "<date><y>2006</y><m>04</m><d>07</d></date><time><h>09</h><m>04</m><s>09</s><f>097</f></time>",
        "<date><y>02006</y><m>4</m><d>7</d></date>",
        "<date><y>2006</y><m>+4</m><d> 7 </d></date><time><h>9</h><m>4</m></time>",
    ],
)
@pytest.mark.parametrize("number", ["123", "0123", "+123", " 123 "])
def test_lexical_forms_of_values_survive(when: str, number: str) -> None:
    data = _thing(
        BP,
        f"<blood-pressure><when>{when}</when><systolic>{number}</systolic><diastolic>068</diastolic></blood-pressure>",
    )
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        thing = codec.read_thing(data, strict=True)
    bp = thing.data_xml[0].any_element
    assert bp.systolic == 123 and bp.diastolic == 68
    assert codec.write_thing(thing) == data


@pytest.mark.parametrize(
    "eff_date",
    [
        "2008-12-10T03:47:35.55Z",
        "2008-12-10T03:47:35.5500000Z",
        "2008-12-10T03:47:35Z",
        "2008-12-10T03:47:35.1234567+01:00",
        "2008-12-10T03:47:35",
    ],
)
def test_date_times_keep_their_fraction_digits_and_zone(eff_date: str) -> None:
    data = _thing(
        BP,
        "<blood-pressure><when><date><y>2006</y><m>12</m><d>22</d></date></when><systolic>1</systolic><diastolic>2</diastolic></blood-pressure>",
        f"<eff-date>{eff_date}</eff-date>",
    )
    thing = codec.read_thing(data, strict=True)
    assert thing.eff_date.year == 2008
    assert codec.write_thing(thing) == data


def test_values_set_by_a_program_are_written_in_canonical_form() -> None:
    data = _thing(
        BP,
        "<blood-pressure><when><date><y>2006</y><m>12</m><d>22</d></date></when><systolic>0123</systolic><diastolic>068</diastolic></blood-pressure>",
    )
    thing = codec.read_thing(data)
    bp = thing.data_xml[0].any_element
    bp.systolic = 123  # the same value: the text stays as read
    bp.diastolic = 70
    out = codec.write_thing(thing)
    assert b"<systolic>0123</systolic>" in out and b"<diastolic>70</diastolic>" in out


# -- mutations ---------------------------------------------------------------------------


def _mutate(element: etree._Element, kind: str, index: int) -> bool:
    """Apply one mutation somewhere below ``element``; False if it cannot apply."""
    nodes = [e for e in element.iter() if isinstance(e.tag, str)]
    target = nodes[index % len(nodes)]
    parent = target.getparent()
    if kind == "text":
        if len(target) == 0:
            return False  # text in simple content may well be valid
        target[0].tail = (target[0].tail or "") + "stray text"
        return True
    if kind == "attribute":
        target.set("unexpected-attribute", "1")
        return True
    if parent is None:
        return False
    if kind == "remove":
        parent.remove(target)
        return True
    if kind == "duplicate":
        target.addnext(copy.deepcopy(target))
        return True
    if kind == "move":
        siblings = [c for c in parent if isinstance(c.tag, str)]
        if len(siblings) < 2 or siblings[0] is target:
            return False
        siblings[0].addprevious(target)
        return True
    raise AssertionError(kind)


def _schema_valid(cls: type[Binding], type_id: Any, element: etree._Element) -> bool:
    try:
        validation.validate_data(element, type_id)
    except HealthVaultXmlError:
        return False
    return True


@pytest.mark.parametrize(("type_id", "cls"), THING_TYPES, ids=lambda v: getattr(v, "__name__", str(v)))
def test_mutated_documents_are_never_written_back_silently_changed(type_id: Any, cls: type[Binding]) -> None:
    @SETTINGS
    @given(element_for(cls), st.sampled_from(["text", "attribute", "remove", "duplicate", "move"]), st.integers(0, 200))
    def check(element: etree._Element, kind: str, index: int) -> None:
        assume(_mutate(element, kind, index))
        mutated = bytes(etree.tostring(element))
        assume(not _schema_valid(cls, type_id, copy.deepcopy(element)))  # some mutations keep it valid
        thing = _thing(str(type_id), mutated.decode())
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            try:
                read = codec.read_thing(thing)
            except HealthVaultXmlError:
                return  # refused with an error: not silent
        assert caught, "a document its schema refuses was read without a word"
        root = read.data_xml[0].any_element
        assert isinstance(root, RawElement), f"kept typed although its schema refuses it: {type(root).__name__}"
        assert any("raw XML" in str(w.message) for w in caught), [str(w.message) for w in caught]
        assert _c14n(codec.write_thing(read)) == _c14n(thing)
        with pytest.raises(HealthVaultXmlError):
            codec.read_thing(thing, strict=True)

    check()
