"""Reading extensions and codings the way every layer needs them: tolerant of what is not
there or not shaped as FHIR says (a request is read before and after its profiles judge it)."""

from __future__ import annotations

from typing import Any

PAS = "http://hl7.org/fhir/us/davinci-pas/StructureDefinition/"
TRANSMISSION_IDENTIFIERS = PAS + "extension-TransmissionIdentifiers"


def extensions(node: Any, url: str, key: str = "extension") -> list[dict[str, Any]]:
    """``node``'s extensions (``key="modifierExtension"`` for those) whose url is ``url``;
    anything that is not an extension is passed over."""
    found = node.get(key) if isinstance(node, dict) else None
    if not isinstance(found, list):
        return []
    return [e for e in found if isinstance(e, dict) and e.get("url") == url]


def extension_value(node: Any, name: str, key: str) -> Any:
    """The ``key`` (``valueString``, ``valueCodeableConcept``, …) of ``node``'s first PAS
    extension named ``name`` (``extension-certificationType``); None when it has none."""
    found = extensions(node, PAS + name)
    return found[0].get(key) if found else None


def interchange_sender_ids(node: Any) -> list[str]:
    """Every ISA06 in ``node``'s TransmissionIdentifiers extensions
    (``.extension[interchangeSenderID].valueString``), trimmed, in order, once each."""
    found = [
        sub.get("valueString")
        for ext in extensions(node, TRANSMISSION_IDENTIFIERS)
        for sub in extensions(ext, "interchangeSenderID")
    ]
    return list(dict.fromkeys(v.strip() for v in found if isinstance(v, str) and v.strip()))


def codings(concept: Any) -> list[dict[str, Any]]:
    """The codings of a CodeableConcept; none for anything that is not one."""
    found = concept.get("coding") if isinstance(concept, dict) else None
    return [c for c in found if isinstance(c, dict)] if isinstance(found, list) else []
