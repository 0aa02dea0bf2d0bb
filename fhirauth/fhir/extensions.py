"""Reading extensions and codings the way every layer needs them: tolerant of what is not
there or not shaped as FHIR says (a request is read before and after its profiles judge it)."""

from __future__ import annotations

from typing import Any

PAS = "http://hl7.org/fhir/us/davinci-pas/StructureDefinition/"


def extension_value(node: dict[str, Any], name: str, key: str) -> Any:
    """The ``key`` (``valueString``, ``valueCodeableConcept``, …) of ``node``'s first PAS
    extension named ``name`` (``extension-certificationType``); None when it has none."""
    for ext in node.get("extension") or []:
        if isinstance(ext, dict) and ext.get("url") == PAS + name:
            return ext.get(key)
    return None


def codings(concept: Any) -> list[dict[str, Any]]:
    """The codings of a CodeableConcept; none for anything that is not one."""
    if not isinstance(concept, dict):
        return []
    return [c for c in concept.get("coding") or [] if isinstance(c, dict)]
