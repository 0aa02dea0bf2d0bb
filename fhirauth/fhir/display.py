"""FHIR values as a person reads them: names, codes, quantities, periods. Pure: no database,
no clock; every function takes whatever JSON a bundle holds and never raises on odd shapes
(a bundle that got past validation may still leave optional parts out)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from fhirauth.fhir.bundle import PasRequest
from fhirauth.fhir.references import Entry


@dataclass(frozen=True)
class Code:
    """One coding: ``system|code`` (or the code alone when no system is given) and its display."""

    key: str
    display: str | None = None


def _dict(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else []


def human_name(names: Any) -> str | None:
    """The official name (else the first): its text, else prefix given family suffix."""
    found = [n for n in _list(names) if isinstance(n, dict)]
    if not found:
        return None
    name = next((n for n in found if n.get("use") == "official"), found[0])
    if isinstance(name.get("text"), str) and name["text"].strip():
        return str(name["text"]).strip()
    parts = [
        *(str(p) for p in _list(name.get("prefix"))),
        *(str(g) for g in _list(name.get("given"))),
        *([str(name["family"])] if name.get("family") else []),
        *(str(s) for s in _list(name.get("suffix"))),
    ]
    return " ".join(parts) or None


def resource_name(resource: Any) -> str | None:
    """A person's name (Patient, Practitioner) or an organization's (Organization.name)."""
    res = _dict(resource)
    if isinstance(res.get("name"), str):
        return str(res["name"])
    return human_name(res.get("name"))


def codes(concept: Any) -> list[Code]:
    """Every coding of a CodeableConcept, as ``system|code`` with its display."""
    out = []
    for coding in _list(_dict(concept).get("coding")):
        c = _dict(coding)
        if not c.get("code"):
            continue
        key = f"{c['system']}|{c['code']}" if c.get("system") else str(c["code"])
        out.append(Code(key, str(c["display"]) if c.get("display") else None))
    return out


def concept_text(concept: Any) -> str | None:
    """What a CodeableConcept says: its text, else its first display, else its first code."""
    con = _dict(concept)
    if isinstance(con.get("text"), str) and con["text"]:
        return str(con["text"])
    found = codes(con)
    if not found:
        return None
    return found[0].display or found[0].key.rsplit("|", 1)[-1]


def identifiers(resource: Any) -> list[str]:
    """A resource's identifiers as ``system|value`` (the value alone without a system)."""
    out = []
    for ident in _list(_dict(resource).get("identifier")):
        i = _dict(ident)
        if i.get("value"):
            out.append(f"{i['system']}|{i['value']}" if i.get("system") else str(i["value"]))
    return out


def quantity(value: Any) -> str | None:
    """A Quantity as ``value unit``."""
    q = _dict(value)
    if q.get("value") is None:
        return None
    unit = q.get("unit") or q.get("code")
    return f"{q['value']} {unit}" if unit else str(q["value"])


def period(start: Any, end: Any) -> str | None:
    """``start to end`` (or the one that is given), dates and times as written."""
    if start and end:
        return f"{start} to {end}" if start != end else str(start)
    return str(start or end) if start or end else None


def serviced(item: Any) -> str | None:
    """When a Claim item's service is asked for: servicedPeriod or servicedDate."""
    it = _dict(item)
    if it.get("servicedDate"):
        return str(it["servicedDate"])
    span = _dict(it.get("servicedPeriod"))
    return period(span.get("start"), span.get("end"))


def plan(coverage: Any) -> str | None:
    """Coverage.class of type plan: its name and value."""
    for c in _list(_dict(coverage).get("class")):
        cls = _dict(c)
        kinds = {k.get("code") for k in _list(_dict(cls.get("type")).get("coding")) if k}
        if "plan" in kinds and cls.get("value"):
            return f"{cls['name']} ({cls['value']})" if cls.get("name") else str(cls["value"])
    return None


def referenced_name(req: PasRequest, referrer: Entry, ref: Any) -> str | None:
    """The name of what a Reference points at in the bundle, else the Reference's display."""
    if not isinstance(ref, dict):
        return None
    if isinstance(ref.get("reference"), str):
        found = req.resolve(ref["reference"], referrer)
        if len(found) == 1 and resource_name(found[0].resource):
            return resource_name(found[0].resource)
    return str(ref["display"]) if ref.get("display") else None


def provider_name(req: PasRequest) -> str | None:
    """Who requests (Claim.provider): an organization's or a practitioner's name; for a
    PractitionerRole, the practitioner's and the organization's."""
    entry = req.provider
    if entry.type != "PractitionerRole":
        return resource_name(entry.resource)
    names = [
        referenced_name(req, entry, entry.resource.get(k)) for k in ("practitioner", "organization")
    ]
    return ", ".join(n for n in names if n) or None
