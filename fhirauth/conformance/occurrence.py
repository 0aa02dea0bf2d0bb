"""Occurrences: where an element of a profile appears in the instance JSON.

An element may occur as a list or a single value, as a primitive's ``_companion`` alone, and,
for a choice ``value[x]``, under any of its typed names (``valueCodeableConcept``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from fhirauth.conformance import primitives
from fhirauth.conformance.model import Element
from fhirauth.conformance.package import is_resource


@dataclass(frozen=True)
class Occ:
    """One occurrence of an element in the instance."""

    value: Any  # the JSON value; None for a primitive given only by its _companion
    ext: Any  # a primitive's _companion (id, extension), else None
    path: str  # FHIRPath of the occurrence
    type: str | None  # its type code, when known
    anchors: tuple[str, ...] | None  # its element path within each enclosing type


def text(value: Any) -> str | None:
    return value if isinstance(value, str) else None


def occurrences(parent: Occ, child: Element, data: dict[str, Any]) -> list[Occ]:
    name = child.name
    if not child.is_choice:
        type_ = child.types[0].code if len(child.types) == 1 else None
        return _make(parent, name, data.get(name), data.get("_" + name), type_)
    prefix = name[:-3]
    out: list[Occ] = []
    for key in data:
        if key.startswith(prefix) and key != prefix:
            type_ = primitives.SUFFIXES.get(key[len(prefix) :])
            if type_ is not None:
                out += _make(parent, name, data[key], data.get("_" + key), type_, key)
        elif key.startswith("_" + prefix) and key[1:] not in data:
            type_ = primitives.SUFFIXES.get(key[len(prefix) + 1 :])
            if type_ is not None:
                out += _make(parent, name, None, data[key], type_, key[1:])
    return out


def _make(
    parent: Occ,
    name: str,
    value: Any,
    ext: Any,
    type_: str | None,
    key: str | None = None,
) -> list[Occ]:
    if value is None and ext is None:
        return []
    key = key or name
    if type_ in ("", "Resource") or (type_ and is_resource(type_)):
        type_ = text(value.get("resourceType")) if isinstance(value, dict) else None
    anchors = None
    if parent.anchors is not None:
        anchors = tuple(f"{a}.{name}" for a in parent.anchors)
        if type_ and type_[0].isupper() and type_ != "BackboneElement":
            anchors += (type_,)
    if isinstance(value, list) or isinstance(ext, list):
        values = value if isinstance(value, list) else []
        exts = ext if isinstance(ext, list) else []
        return [
            Occ(
                values[i] if i < len(values) else None,
                exts[i] if i < len(exts) else None,
                f"{parent.path}.{key}[{i}]",
                type_,
                anchors,
            )
            for i in range(max(len(values), len(exts)))
            if (i < len(values) and values[i] is not None)
            or (i < len(exts) and exts[i] is not None)
        ]
    return [Occ(value, ext, f"{parent.path}.{key}", type_, anchors)]
