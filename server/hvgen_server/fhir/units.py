"""UCUM units of the quantities the mappings carry, and conversions between
units of one quantity (exact factors, as decimals).

Sources: UCUM (https://ucum.org/ucum, the units ``kg``, ``g``, ``[lb_av]``,
``[oz_av]``, ``m``, ``cm``, ``mm``, ``[in_i]``, ``[ft_i]``, ``mm[Hg]``,
``kPa``, ``/min``, ``mmol/L``, ``mg/dL``, ``%``, ``1``, ``mmol/mol``, ``min``, ``s``, ``h``,
``L/s``, ``L/min``, ``L``, ``mL``) and the units the FHIR R4 vital
signs profiles allow (http://hl7.org/fhir/R4/observation-vitalsigns.html).
Glucose converts between mass and amount with its molar mass, 180.156 g/mol
(1 mmol/L = 18.0156 mg/dL); cholesterol with 386.65 g/mol (38.665 mg/dL),
triglycerides with 885.7 g/mol (88.57 mg/dL), as laboratories convert them.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from .errors import FhirError

UCUM = "http://unitsofmeasure.org"

#: Per quantity: each unit's UCUM code and how many of the quantity's base unit one of it is.
QUANTITIES: dict[str, dict[str, Decimal]] = {
    "mass": {
        "kg": Decimal(1),
        "g": Decimal("0.001"),
        "mg": Decimal("0.000001"),
        "[lb_av]": Decimal("0.45359237"),
        "[oz_av]": Decimal("0.028349523125"),
    },
    "length": {
        "m": Decimal(1),
        "cm": Decimal("0.01"),
        "mm": Decimal("0.001"),
        "[in_i]": Decimal("0.0254"),
        "[ft_i]": Decimal("0.3048"),
    },
    "pressure": {"mm[Hg]": Decimal(1), "kPa": Decimal("7.500615758456563")},
    "rate": {"/min": Decimal(1), "{beats}/min": Decimal(1)},
    "glucose": {"mmol/L": Decimal(1), "mg/dL": Decimal(1) / Decimal("18.0156")},
    "fraction": {"%": Decimal(1), "1": Decimal(100)},  # a HealthVault percentage is a fraction (0 to 1)
    "hba1c": {"mmol/mol": Decimal(1)},
    "duration": {"min": Decimal(1), "s": Decimal(1) / Decimal(60), "h": Decimal(60)},
    "flow": {"L/s": Decimal(1), "L/min": Decimal(1) / Decimal(60)},
    "volume": {"L": Decimal(1), "mL": Decimal("0.001")},
    # mass concentrations by molar mass: cholesterol 386.65 g/mol, triglycerides (as triolein) 885.7 g/mol
    "cholesterol": {"mmol/L": Decimal(1), "mg/dL": Decimal(1) / Decimal("38.665")},
    "triglyceride": {
        "mmol/L": Decimal(1),
        "mg/dL": Decimal(1) / Decimal("88.57"),
    },  # IFCC units; the NGSP % is a different quantity (a different code)
}

#: Unit texts other tools write without a UCUM code, as UCUM codes.
ALIASES = {
    "kilogram": "kg", "kilograms": "kg", "kgs": "kg", "gram": "g", "grams": "g",
    "lb": "[lb_av]", "lbs": "[lb_av]", "pound": "[lb_av]", "pounds": "[lb_av]", "oz": "[oz_av]",
    "meter": "m", "meters": "m", "metre": "m", "in": "[in_i]", "inch": "[in_i]", "inches": "[in_i]",
    "ft": "[ft_i]", "foot": "[ft_i]", "feet": "[ft_i]", "mmhg": "mm[Hg]", "bpm": "/min",
    "beats/min": "/min", "beats/minute": "/min", "mmol/l": "mmol/L", "mg/dl": "mg/dL",
    "°f": "[degF]", "degf": "[degF]", "°c": "Cel", "degc": "Cel", "breaths/min": "/min",
}  # fmt: skip


def ucum_code(quantity: dict[str, Any]) -> str | None:
    """The UCUM code of a FHIR Quantity (its ``code`` in the UCUM system, else its ``unit`` text)."""
    code = quantity.get("code")
    if code and quantity.get("system") in (UCUM, None):
        return str(code)
    unit = str(quantity.get("unit") or "").strip()
    if not unit:
        return None
    return ALIASES.get(unit.lower(), unit)


def convert(value: Decimal, unit: str, to: str, kind: str) -> Decimal:
    """``value`` in ``unit`` as ``to`` (both units of ``kind``)."""
    units = QUANTITIES[kind]
    if unit not in units:
        known = ", ".join(units)
        raise FhirError(422, f"the unit {unit!r} is not a unit of {kind} this server converts ({known})")
    if unit == to:
        return value
    result = value * units[unit] / units[to]
    return result.quantize(Decimal(1).scaleb(-12)).normalize()
