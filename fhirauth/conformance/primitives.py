"""FHIR R4 data types: choice-element suffixes and the JSON form of each primitive."""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

PRIMITIVES = [
    "base64Binary",
    "boolean",
    "canonical",
    "code",
    "date",
    "dateTime",
    "decimal",
    "id",
    "instant",
    "integer",
    "markdown",
    "oid",
    "positiveInt",
    "string",
    "time",
    "unsignedInt",
    "uri",
    "url",
    "uuid",
    "xhtml",
]
COMPLEX = [
    "Address",
    "Age",
    "Annotation",
    "Attachment",
    "CodeableConcept",
    "Coding",
    "ContactPoint",
    "Count",
    "Distance",
    "Duration",
    "HumanName",
    "Identifier",
    "Money",
    "Period",
    "Quantity",
    "Range",
    "Ratio",
    "Reference",
    "SampledData",
    "Signature",
    "Timing",
    "ContactDetail",
    "Contributor",
    "DataRequirement",
    "Expression",
    "ParameterDefinition",
    "RelatedArtifact",
    "TriggerDefinition",
    "UsageContext",
    "Dosage",
    "Meta",
]
# Sets of the same, for the membership test made on every value.
_PRIMITIVE = frozenset(PRIMITIVES)
_COMPLEX = frozenset(COMPLEX)
# value[x] → valueDateTime: the JSON suffix of each type, back to its code.
SUFFIXES = {t[0].upper() + t[1:]: t for t in PRIMITIVES + COMPLEX}

_DATE = r"-?[0-9]{4}(-(0[1-9]|1[0-2])(-(0[0-9]|[1-2][0-9]|3[0-1]))?)?"
_TIME = r"([01][0-9]|2[0-3]):[0-5][0-9]:([0-5][0-9]|60)(\.[0-9]+)?"
_ZONE = r"(Z|(\+|-)((0[0-9]|1[0-3]):[0-5][0-9]|14:00))"
_REGEX = {
    "date": re.compile(f"^{_DATE}$"),
    "dateTime": re.compile(
        r"^-?[0-9]{4}(-(0[1-9]|1[0-2])(-(0[0-9]|[1-2][0-9]|3[0-1])"
        f"(T{_TIME}{_ZONE})?)?)?$"
    ),
    "instant": re.compile(
        r"^-?[0-9]{4}-(0[1-9]|1[0-2])-(0[0-9]|[1-2][0-9]|3[0-1])" f"T{_TIME}{_ZONE}$"
    ),
    "time": re.compile(f"^{_TIME}$"),
    "code": re.compile(r"^[^\s]+( [^\s]+)*$"),
    "id": re.compile(r"^[A-Za-z0-9\-.]{1,64}$"),
    "uri": re.compile(r"^\S*$"),
}


def _int(v: Any) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


_CHECKS: dict[str, Callable[[Any], bool]] = {
    "boolean": lambda v: isinstance(v, bool),
    "integer": _int,
    "positiveInt": lambda v: _int(v) and v > 0,
    "unsignedInt": lambda v: _int(v) and v >= 0,
    "decimal": lambda v: isinstance(v, int | float) and not isinstance(v, bool),
}


def problem(type_: str, value: Any) -> str | None:
    """Why ``value`` is not valid JSON for a ``type_``, or None."""
    if type_ in _COMPLEX or type_[:1].isupper():
        if not isinstance(value, dict):
            return f"a {type_} is a JSON object, found {value!r}"
        return None
    if type_ not in _PRIMITIVE:
        return None
    if isinstance(value, dict | list):
        found = "an object" if isinstance(value, dict) else "an array"
        return f"a {type_} is a JSON primitive, found {found}"
    check = _CHECKS.get(type_)
    if check is not None:
        return None if check(value) else f"{value!r} is not a valid {type_}"
    if not isinstance(value, str):
        return f"a {type_} is a JSON string, found {value!r}"
    regex = _REGEX.get(type_) or (
        _REGEX["uri"] if type_ in ("uri", "url", "canonical", "oid", "uuid") else None
    )
    if regex is not None and not regex.match(value):
        return f"{value!r} is not a valid {type_}"
    return None
