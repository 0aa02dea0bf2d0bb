"""The FHIR JSON rules the R4 models let through, checked on the resource as received.

``fhir.resources`` validates in pydantic's lax mode: it reads ``"sequence": true`` as 1,
``"sequence": "2"`` as 2, ``"value": "5"`` as a decimal, ``"focal": "true"`` as a boolean,
``null`` as absent and ``"insurance": []`` as a list that R4's 1..* is content with. FHIR's JSON
format allows none of these (R4 json.html: a primitive is a JSON string, number or boolean by
its type, integers have no fraction, arrays are never empty, and ``null`` appears only in an
array of primitives, to line it up with its ``_element`` array), and neither does the HL7
validator. Periods must not end before they start (invariant per-1).

The walk follows the R4 model classes, so every element of every resource (extensions and
contained resources included) is checked; each problem is an :class:`~fhirauth.errors.Issue`
at the element's FHIRPath.
"""

from __future__ import annotations

import datetime
import decimal
import functools
import types
import typing
import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from fhir.resources.R4B import get_fhir_model_class
from fhir.resources.R4B.period import Period
from fhir_core.types import FhirBase, FhirElementOrResourceBase

from fhirauth.errors import Issue

_INTEGER = "integer"
_DECIMAL = "decimal"
_BOOLEAN = "boolean"
_STRING = "string"
_ELEMENT = "element"
_RESOURCE = "resource"

_EXPECTED = {
    _INTEGER: "a JSON number without a fraction",
    _DECIMAL: "a JSON number",
    _BOOLEAN: "true or false",
    _STRING: "a JSON string",
    _ELEMENT: "a JSON object",
    _RESOURCE: "a JSON object with a resourceType",
}
_TYPE_NAMES = {"EncodedBytes": "base64Binary", "UuidVersion": "uuid"}
_STRING_TYPES = (str, bytes, datetime.date, datetime.datetime, datetime.time, uuid.UUID)


@dataclass(frozen=True)
class _Field:
    kind: str
    many: bool
    model: type | None = None  # the model class of an element
    fhir_type: str = ""  # positiveInt, dateTime … for messages


def _fhir_type(annotation: Any) -> str:
    """``positiveInt`` for ``Annotated[int, PositiveInt(...)]``, and so on."""
    while typing.get_origin(annotation) in (list, typing.Union, types.UnionType):
        args = [a for a in typing.get_args(annotation) if a is not type(None)]
        annotation = args[0]
    if typing.get_origin(annotation) is typing.Annotated:
        name = type(typing.get_args(annotation)[1]).__name__
        return _TYPE_NAMES.get(name, name[:1].lower() + name[1:])
    return "boolean" if annotation is bool else ""


def _element_name(model: type | None) -> str:
    name = model.__name__ if model is not None else ""
    return "Element" if name == "FHIRPrimitiveExtension" else name


def _kind(annotation: Any) -> tuple[str | None, bool, type | None]:
    """(kind, is a list, model class) for a field annotation of an R4 model."""
    origin = typing.get_origin(annotation)
    if origin is typing.Annotated:
        return _kind(typing.get_args(annotation)[0])
    if origin is list:  # List[X] too
        kind, _, model = _kind(typing.get_args(annotation)[0])
        return kind, True, model
    if origin in (typing.Union, types.UnionType):
        found = [_kind(a) for a in typing.get_args(annotation) if a is not type(None)]
        kinds = {k for k, _, _ in found}
        if len(kinds) == 1:
            return found[0]
        return None, False, None
    if not isinstance(annotation, type):
        return None, False, None
    if issubclass(annotation, FhirElementOrResourceBase):
        return _RESOURCE, False, None
    if issubclass(annotation, FhirBase):
        return _ELEMENT, False, annotation.get_model_klass()
    if issubclass(annotation, bool):
        return _BOOLEAN, False, None
    if issubclass(annotation, int):
        return _INTEGER, False, None
    if issubclass(annotation, decimal.Decimal):
        return _DECIMAL, False, None
    if issubclass(annotation, _STRING_TYPES) or annotation.__module__.startswith("pydantic"):
        return _STRING, False, None
    return None, False, None


@functools.cache
def _fields(model: type) -> dict[str, _Field]:
    out: dict[str, _Field] = {}
    for name, info in model.model_fields.items():  # type: ignore[attr-defined]
        key = info.alias or name
        if key == "fhir_comments":
            continue
        kind, many, element = _kind(info.annotation)
        if kind is not None:
            named = _fhir_type(info.annotation) or _element_name(element) or kind
            out[key] = _Field(kind, many, element, named)
    return out


def _json_type(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int | float):
        return "a number"
    if isinstance(value, str):
        return "a string"
    return "an array" if isinstance(value, list) else "an object"


def _fits(kind: str, value: Any) -> bool:
    if kind == _INTEGER:
        return isinstance(value, int) and not isinstance(value, bool)
    if kind == _DECIMAL:
        return isinstance(value, int | float) and not isinstance(value, bool)
    if kind == _BOOLEAN:
        return isinstance(value, bool)
    if kind == _STRING:
        return isinstance(value, str)
    return isinstance(value, dict)


def json_issues(kind: str, resource: Any, path: str) -> list[Issue]:
    """What in ``resource`` (a resource of type ``kind``) breaks FHIR's JSON rules."""
    try:
        model = get_fhir_model_class(kind)
    except (KeyError, ValueError, TypeError):
        return []  # the models report an unknown resource type
    issues: list[Issue] = []
    _walk(resource, model, path, issues)
    return issues


def load_models(resource_types: Iterable[str]) -> set[type]:
    """Build the R4 model classes of these resource types and of every element type they hold,
    with this module's field tables: the classes.

    ``fhir.resources`` imports an element's class the first time an instance needs it, so a
    server's first request built some 80 classes (0.2-0.5 s); a worker that calls this before
    it serves answers its first request as fast as the rest, and ``gc.freeze`` keeps what it
    built out of every later collection."""
    seen: set[type] = set()
    todo = [get_fhir_model_class(kind) for kind in resource_types]
    while todo:
        model = todo.pop()
        if model not in seen:
            seen.add(model)
            todo.extend(f.model for f in _fields(model).values() if f.model is not None)
    return seen


def _walk(node: Any, model: type, path: str, issues: list[Issue]) -> None:
    if not isinstance(node, dict):
        return  # the models report an element that is not an object
    fields = _fields(model)
    for key, value in node.items():
        spec = fields.get(key)
        if spec is None:
            continue  # resourceType, or an unknown element the models report
        where = f"{path}.{key.lstrip('_')}"
        if value is None:
            issues.append(
                Issue(
                    "structure", f"{key} is null; FHIR JSON leaves an absent element out", (where,)
                )
            )
        elif value == []:
            issues.append(
                Issue("structure", f"{key} is an empty array; leave an element out", (where,))
            )
        elif spec.many and isinstance(value, list):
            primitive = spec.kind not in (_ELEMENT, _RESOURCE) or key.startswith("_")
            for i, each in enumerate(value):
                if each is None and primitive:
                    continue  # lines up a primitive array with its _element array
                _value(spec, each, f"{where}[{i}]", key, issues)
        elif not spec.many:
            _value(spec, value, where, key, issues)


def _value(spec: _Field, value: Any, where: str, key: str, issues: list[Issue]) -> None:
    if value is None:
        issues.append(Issue("structure", f"{key} has a null in its array", (where,)))
        return
    if not _fits(spec.kind, value):
        issues.append(
            Issue(
                "structure",
                f"{key} must be {_EXPECTED[spec.kind]} (FHIR {spec.fhir_type}), "
                f"not {_json_type(value)}",
                (where,),
            )
        )
        return
    if spec.kind == _RESOURCE:
        kind = value.get("resourceType")
        if isinstance(kind, str):
            issues.extend(json_issues(kind, value, where))
    elif spec.kind == _ELEMENT and spec.model is not None:
        _walk(value, spec.model, where, issues)
        if spec.model is Period:
            issues.extend(_period_order(value, where))


def _period_order(period: dict[str, Any], where: str) -> list[Issue]:
    start, end = period.get("start"), period.get("end")
    if isinstance(start, str) and isinstance(end, str) and ends_before_start(start, end):
        return [
            Issue(
                "invariant",
                f"the period ends ({end}) before it starts ({start}) (per-1)",
                (f"{where}.start", f"{where}.end"),
            )
        ]
    return []


def _instant(value: str) -> datetime.datetime | None:
    try:
        moment = datetime.datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None  # a leap second, or a value the models already refuse
    return moment if moment.tzinfo is not None else None


def ends_before_start(start: str, end: str) -> bool:
    """FHIR dateTime comparison for per-1: two times with zones as instants; otherwise the
    dates at the precision both have (2026 vs 2026-03 compares years)."""
    if "T" in start and "T" in end:
        first, last = _instant(start), _instant(end)
        if first is not None and last is not None:
            return first > last
    a, b = start.split("T", 1)[0], end.split("T", 1)[0]
    n = min(len(a), len(b))
    return a[:n] > b[:n]
