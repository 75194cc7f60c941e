"""The sleep journal's evening entry (thing type 031f5706-7f1a-11db-ad56-7bd355d89593) as an Observation.

Sources: FHIR R4 Observation (http://hl7.org/fhir/R4/observation.html:
components of FHIR type time and Quantity), the HealthVault FHIR mapping
library's sleep journal transformer for the morning entry
(https://github.com/microsoft/healthvault-fhir-library, SleepJournalAmToFhir:
the journal's items as components coded in HealthVault's own vocabulary,
times as ``valueTime``, minutes as quantities in UCUM ``min``; its evening
counterpart is mapped alike, as :mod:`.sleep_session` maps the morning's),
category activity, and HealthVault's sleep journal (evening) schema
(sleepjournal-pm.xsd, adapted from the NIH's "Your Guide to Healthy Sleep":
``when``, ``caffeine`` and ``alcohol`` (times of day, each a component
``valueTime``), ``nap`` and ``exercise`` (each a component: its minutes as
``valueQuantity`` in ``min``, imports also take ``h`` and ``s``; its start
time as the component's extension ``urn:hvgen:fhir:extension:start-time``,
``valueTime``), ``sleepiness`` (1 so sleepy as to struggle to stay awake,
2 somewhat tired, 3 fairly alert, 4 wide awake: the observation's
``valueInteger``)). LOINC has no code of this journal nor of its 1–4
sleepiness scale: the code and the components are HealthVault's vocabulary
``sleep-journal-pm`` (``urn:healthvault:wc:sleep-journal-pm``).
"""

from __future__ import annotations

from typing import Any

from lxml import etree

from ..errors import FhirError
from ..mapping import Measure
from .fields import ElementMapping, Field
from .sleep_session import ACTIVITY

VOCABULARY = "urn:healthvault:wc:sleep-journal-pm"
CODE = {"coding": [{"system": VOCABULARY, "code": "sleepiness", "display": "Daytime sleepiness"}],
        "text": "Sleep journal (evening): daytime sleepiness"}  # fmt: skip
START = "urn:hvgen:fhir:extension:start-time"
ORDER = ("when", "caffeine", "alcohol", "nap", "exercise", "sleepiness")
_TIMES = (("caffeine", "Caffeine"), ("alcohol", "Alcohol"))
_ACTIVITIES = (("nap", "Nap"), ("exercise", "Exercise"))
_MINUTES = Measure("minutes", "", "Minutes", "min", "min", "duration", integer=True)


def _time(tag: str) -> Field:
    return Field(tag, ("valueTime",), "time")


def _code(tag: str, display: str) -> dict[str, Any]:
    return {"coding": [{"system": VOCABULARY, "code": tag, "display": display}], "text": display}


class SleepPmMapping(ElementMapping):
    """The journal's items that repeat (caffeine, alcohol, naps, exercise) as one component each."""

    def finish(self, root: etree._Element, resource: dict[str, Any]) -> None:
        components = []
        for tag, display in (*_TIMES, *_ACTIVITIES):
            for el in root.findall(tag):
                item: dict[str, Any] = {"code": _code(tag, display)}
                if tag in dict(_TIMES):
                    item["valueTime"] = _time(tag).to_fhir(_holder(el))
                else:
                    start = el.find("when")
                    if start is not None:
                        item["extension"] = [{"url": START, "valueTime": _time("when").to_fhir(el)}]
                    item["valueQuantity"] = _MINUTES.quantity(el)
                components.append(item)
        if components:
            resource["component"] = components

    def patch(self, root: etree._Element, resource: dict[str, Any], made: dict[str, Any]) -> None:
        wanted, had = _items(resource), _items(made)
        if wanted == had:
            return
        for tag in (*dict(_TIMES), *dict(_ACTIVITIES)):
            for el in root.findall(tag):
                root.remove(el)
        anchor = root.find("when")
        for i, (tag, item) in enumerate(wanted):
            where = f"Observation (sleep-pm) component {i + 1} ({tag})"
            if tag in dict(_TIMES):
                if "valueTime" not in item:
                    raise FhirError(422, f"{where}: valueTime is needed")
                el = _time(tag).element(item["valueTime"])
            else:
                el = etree.Element(tag)
                start = next((e.get("valueTime") for e in item.get("extension") or [] if isinstance(e, dict)
                              and e.get("url") == START), None)  # fmt: skip
                if start is None:
                    raise FhirError(422, f"{where}: the start time (extension {START}) is needed")
                el.append(_time("when").element(start))
                minutes = _MINUTES.thing_value(item.get("valueQuantity"), where)
                etree.SubElement(el, "minutes").text = str(int(minutes))
            anchor.addnext(el)
            anchor = el


def _holder(el: etree._Element) -> etree._Element:
    """A root holding a copy of ``el`` (a field reads its element below a root)."""
    root = etree.Element("holder")
    root.append(etree.fromstring(etree.tostring(el, with_tail=False)))
    return root


def _items(resource: dict[str, Any]) -> list[tuple[str, dict[str, Any]]]:
    """The components of a resource that are the journal's repeating items, by tag, in schema order."""
    found: list[tuple[str, dict[str, Any]]] = []
    for tag in ORDER[1:5]:
        for item in resource.get("component") or []:
            codings = (item.get("code") or {}).get("coding") or [] if isinstance(item, dict) else []
            if any(isinstance(c, dict) and c.get("system") == VOCABULARY and c.get("code") == tag for c in codings):
                found.append((tag, {k: v for k, v in item.items() if k != "code"}))
    return found


MAPPING = SleepPmMapping(
    resource_type="Observation",
    type_ids=("031f5706-7f1a-11db-ad56-7bd355d89593",),
    root="sleep-pm",
    source=__doc__ or "",
    fixed=(("status", "final"), ("category", ACTIVITY), ("code", CODE)),
    fields=(
        Field("when", ("effectiveDateTime",), "datetime", required=True),
        Field("sleepiness", ("valueInteger",), "integer", required=True),
    ),
    order=ORDER,
    by_codes=((VOCABULARY, "sleepiness"),),
)
