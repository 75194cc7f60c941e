"""Transforms between the versions of a type lose exactly what they declare.

For every pair of versions (medical image study 1 ↔ 2, written by hand;
every versioned type of the published catalog, derived from the compiled
classes), random valid instances of one version go to the other and back:
what comes back is the instance less the declared loss, nothing else. An
instance the other version cannot hold is not transformed, and only when
the declaration says so (a ``required`` element it lacks).
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from lxml import etree

from healthvault.bindings.things import medical_image_study as study_v1
from healthvault.bindings.things import medical_image_study_2 as study_v2
from healthvault.errors import HealthVaultXmlError
from hvgen_server.thingtypes import ThingTypes
from hvgen_server.versioning import Loss, Transform, Untransformable, Versions
from hvgen_server.versioning.studies import V1, V2

from .conftest import REFERENCE, ROOT, examples
from .xmlstrategies import element_for

pytestmark = pytest.mark.properties  # also run with --hypothesis-profile=deep (.ci/run)

CATALOG = REFERENCE / "catalog" / "xsd"
EXAMPLES = settings(max_examples=examples(30), deadline=None, suppress_health_check=list(HealthCheck))


def checker(versions: Versions, type_id: str) -> Callable[[etree._Element], None]:
    found = versions.types.checker(type_id)
    assert found is not None, type_id
    return found


def binding(versions: Versions, type_id: str) -> type[Any]:
    found = versions.types.binding(type_id)
    assert found is not None, type_id
    return found


def c14n(element: etree._Element) -> bytes:
    clean = copy.deepcopy(element)
    for node in clean.iter():
        node.tail = None
        if len(node):
            node.text = None
    return bytes(etree.tostring(clean, method="c14n"))


def at(root: etree._Element, path: str) -> list[etree._Element]:
    """The elements a loss path names (``a/b``; ``a/*`` for those no field names)."""
    parents = [root]
    steps = path.split("/")
    for step in steps[:-1]:
        parents = [c for p in parents for c in p.findall(step)]
    return parents


def less_the_loss(root: etree._Element, source: type[Any], losses: tuple[Loss, ...]) -> etree._Element:
    """``root`` without what the declared losses of a derived transform drop."""
    out = copy.deepcopy(root)
    for loss in losses:
        last = loss.path.rsplit("/", 1)[-1]
        for parent in at(out, loss.path):
            if loss.kind == "attribute":
                parent.attrib.pop(last.lstrip("@"), None)
            elif loss.kind == "element" and last == "*":
                named = _class_at(source, loss.path)
                for child in [c for c in parent if isinstance(c.tag, str) and c.tag not in named]:
                    parent.remove(child)
            elif loss.kind == "element":
                for child in parent.findall(last):
                    parent.remove(child)
            elif loss.kind == "repeats":
                for child in parent.findall(last)[loss.limit or 0 :]:
                    parent.remove(child)
    return out


def _class_at(cls: type[Any], path: str) -> dict[str, Any]:
    for step in path.split("/")[:-1]:
        cls = cls._CHILDREN[step].item.cls
    return dict(cls._CHILDREN)


def through(versions: Versions, forth: Transform, back: Transform, instance: etree._Element) -> bool:
    """Send an instance to the other version and back; check what comes back
    (False: the instance was not transformed, as the declaration allows)."""
    check = checker(versions, forth.target)
    moved = copy.deepcopy(instance)
    try:
        forth.apply(moved)
    except Untransformable:
        # only an element the target requires and the declaration names may be missing
        assert any(loss.kind in ("required", "incompatible") for loss in forth.losses), forth
        return False
    try:
        check(moved)
    except HealthVaultXmlError:  # a value the target's schema refuses: not transformed
        return False
    returned = copy.deepcopy(moved)
    try:
        back.apply(returned)
    except Untransformable:
        assert any(loss.kind in ("required", "incompatible") for loss in back.losses) and forth.losses, (forth, back)
        return False
    source = binding(versions, forth.source)
    assert c14n(returned) == c14n(less_the_loss(instance, source, forth.losses)), (forth.source, forth.target)
    return True


# -- medical image study, written by hand -------------------------------------------------------


@pytest.fixture(scope="module")
def own() -> Versions:
    return ThingTypes().versions


def first_physician_everywhere(root: etree._Element) -> etree._Element:
    """A version 1 study after 2 and back, as declared: every series names the first physician named."""
    out = copy.deepcopy(root)
    first = next(iter(out.findall("series/referring-physician")), None)
    for series in out.findall("series"):
        for physician in series.findall("referring-physician"):
            series.remove(physician)
        if first is not None:
            earlier = [
                c for c in series if c.tag in ("acquisition-datetime", "description", "images", "institution-name")
            ]
            earlier[-1].addnext(copy.deepcopy(first))  # (images are required: there is one)
    return out


@EXAMPLES
@given(st.data())
def test_medical_image_study_1_to_2_and_back(own: Versions, data: st.DataObject) -> None:
    instance = data.draw(element_for(study_v1.MedicalImageStudy))
    forth, back = own.transform(V1, V2), own.transform(V2, V1)
    assert forth.by_hand and [loss.path for loss in forth.losses] == ["series/referring-physician"]
    moved = copy.deepcopy(instance)
    forth.apply(moved)
    checker(own, V2)(moved)
    physicians = instance.findall("series/referring-physician")
    if physicians:
        assert c14n(moved.find("referring-physician")) == c14n(physicians[0])
    else:
        assert moved.find("referring-physician") is None
    back.apply(moved)
    checker(own, V1)(moved)
    assert c14n(moved) == c14n(first_physician_everywhere(instance))


@EXAMPLES
@given(st.data())
def test_medical_image_study_2_to_1_and_back(own: Versions, data: st.DataObject) -> None:
    instance = data.draw(element_for(study_v2.MedicalImageStudy))
    forth, back = own.transform(V2, V1), own.transform(V1, V2)
    assert {loss.path for loss in forth.losses} == {
        "accession-number",
        "referring-physician",
        "series/acquisition-datetime",
    }
    moved = copy.deepcopy(instance)
    forth.apply(moved)
    checker(own, V1)(moved)
    back.apply(moved)
    checker(own, V2)(moved)
    expected = copy.deepcopy(instance)
    for accession in expected.findall("accession-number"):  # declared: dropped
        expected.remove(accession)
    for series in expected.findall("series"):  # declared: filled from the study's when
        if series.find("acquisition-datetime") is None:
            filled = copy.deepcopy(expected.find("when"))
            filled.tag = "acquisition-datetime"
            series.insert(0, filled)
    assert c14n(moved) == c14n(expected)


# -- the published catalog, derived ------------------------------------------------------------


@pytest.fixture(scope="module")
def catalog(tmp_path_factory: pytest.TempPathFactory) -> Versions:
    if not CATALOG.is_dir():
        pytest.skip("../shared/reference/catalog is not present")
    from hvgen.codegen.compiler import Compiler, write

    out = tmp_path_factory.mktemp("catalog")
    write(Compiler(CATALOG, ROOT / "templates", ROOT / "runtime", package="hvcat").compile(), out, "hvcat")
    return ThingTypes([Path(out) / "hvcat"]).versions


def test_the_catalog_has_versioned_types_and_each_pair_a_transform(catalog: Versions) -> None:
    pairs = catalog.pairs(catalog.types.type_ids())  # type: ignore[attr-defined]
    assert len(pairs) >= 20
    for source, target in pairs:
        transform = catalog.transform(source, target)
        assert transform is not None and transform.losses is not None


def round_trips(versions: Versions, forth: Transform, back: Transform, cls: type[Any]) -> int:
    """How many random instances went there and back (each checked)."""
    done = 0

    @EXAMPLES
    @given(st.data())
    def round_trip(data: st.DataObject) -> None:
        nonlocal done
        done += through(versions, forth, back, data.draw(element_for(cls)))

    round_trip()
    return done


def test_every_catalog_pair_loses_exactly_what_it_declares(catalog: Versions) -> None:
    checked: dict[tuple[str, str], int] = {}
    for source, target in catalog.pairs(catalog.types.type_ids()):  # type: ignore[attr-defined]
        forth, back = catalog.transform(source, target), catalog.transform(target, source)
        assert forth is not None and back is not None
        if forth.by_hand:  # medical image study: its own tests above
            continue
        checked[source, target] = round_trips(catalog, forth, back, binding(catalog, source))
    assert len(checked) >= 20
    # a pair of which no instance went there and back declares why (an element the target requires)
    for (source, target), done in checked.items():
        if not done:
            declared = catalog.transform(source, target).losses + catalog.transform(target, source).losses
            assert any(loss.kind in ("required", "incompatible") for loss in declared), (source, target)
    assert any(checked.values())


def test_a_value_that_becomes_a_codable_value_is_kept_as_its_text(catalog: Versions) -> None:
    """Immunization: ``manufacturer`` is a string in version 1 and a codable value in version 2.
    The string is the codable value's text, and back (the codes are dropped, declared)."""
    samples = REFERENCE / "catalog" / "samples"
    v1, v2 = "3d817dbe-af42-4a9d-a553-d1298b4d08fc", "cd3587b5-b6e1-4565-ab3b-1c3ad45eb04f"
    up, down = catalog.transform(v1, v2), catalog.transform(v2, v1)
    assert up is not None and down is not None
    assert Loss("manufacturer", "moved", note="the value is the codable value's text") in up.losses
    assert Loss("manufacturer/code", "element", note="only the codable value's text is kept") in down.losses

    first = etree.parse(str(samples / f"{v1}.xml")).getroot()
    up.apply(first)
    checker(catalog, v2)(first)
    assert first.findtext("manufacturer/text") == "Abbott Laboratories" and first.find("manufacturer/code") is None
    down.apply(first)
    checker(catalog, v1)(first)
    assert first.findtext("manufacturer") == "Abbott Laboratories"

    second = etree.parse(str(samples / f"{v2}.xml")).getroot()
    down.apply(second)
    checker(catalog, v1)(second)
    assert second.findtext("manufacturer") == "Abbott Laboratories" and len(second.find("manufacturer")) == 0
