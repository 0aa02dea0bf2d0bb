"""Occurrences: where an element of a profile appears in the instance JSON.

An element may occur as a list or a single value, as a primitive's ``_companion`` alone, and,
for a choice ``value[x]``, under any of its typed names (``valueCodeableConcept``).
"""

from __future__ import annotations

from functools import partial
from typing import Any, NamedTuple

from fhirauth.conformance.plan import Plan


# A named tuple, not a frozen dataclass: a request makes hundreds, and a frozen dataclass
# builds each through object.__setattr__ per field.
class Occ(NamedTuple):
    """One occurrence of an element in the instance."""

    value: Any  # the JSON value; None for a primitive given only by its _companion
    ext: Any  # a primitive's _companion (id, extension), else None
    path: str  # FHIRPath of the occurrence
    type: str | None  # its type code, when known
    anchors: tuple[str, ...] | None  # its element path within each enclosing type


# Occ(...) runs a Python-level __new__; the walk makes hundreds per request, so _make builds
# them with tuple.__new__ directly (the same tuple, positionally).
_occ = partial(tuple.__new__, Occ)


def text(value: Any) -> str | None:
    return value if isinstance(value, str) else None


# Anchors already derived in one walk: (id of the parent's anchors, name, type) → (the
# parent's anchors, kept so that the id stays theirs, the child's anchors). The occurrences of
# one array share their anchors, and so do their children of one name.
Anchors = dict[tuple[int, str, str | None], tuple[tuple[str, ...], tuple[str, ...]]]


def named(parent: Occ, p: Plan, value: Any, ext: Any, memo: Anchors) -> list[Occ]:
    """The occurrences of a non-choice element: ``value`` and ``ext`` are what its JSON name
    and ``_companion`` hold."""
    if value is None and ext is None:
        return []
    type_ = p.occ_type
    if p.from_data:  # a Resource-typed element takes the type of the resource it holds
        type_ = text(value.get("resourceType")) if isinstance(value, dict) else None
    return _make(parent, p.name, value, ext, type_, p.name, memo)


def choices(parent: Occ, p: Plan, data: dict[str, Any], memo: Anchors) -> list[Occ]:
    """The occurrences of a choice element, under each of its typed names."""
    name = p.name
    typed, companions = p.typed_names, p.companions
    out: list[Occ] = []
    for key in data:
        type_ = typed.get(key)
        if type_ is not None:
            out += _make(parent, name, data[key], data.get("_" + key), type_, key, memo)
            continue
        type_ = companions.get(key)
        if type_ is not None and key[1:] not in data:
            out += _make(parent, name, None, data[key], type_, key[1:], memo)
    return out


def _make(
    parent: Occ,
    name: str,
    value: Any,
    ext: Any,
    type_: str | None,
    key: str,
    memo: Anchors,
) -> list[Occ]:
    if value is None and ext is None:
        return []
    anchors = None
    up = parent.anchors
    if up is not None:
        known = memo.get((id(up), name, type_))
        if known is not None:
            anchors = known[1]
        else:
            anchors = tuple([f"{a}.{name}" for a in up])
            if type_ and type_[0].isupper() and type_ != "BackboneElement":
                anchors += (type_,)
            memo[(id(up), name, type_)] = (up, anchors)
    if ext is None and isinstance(value, list):  # the usual array, without _companions
        at = f"{parent.path}.{key}"
        return [
            _occ((v, None, f"{at}[{i}]", type_, anchors))
            for i, v in enumerate(value)
            if v is not None
        ]
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
    return [_occ((value, ext, f"{parent.path}.{key}", type_, anchors))]
