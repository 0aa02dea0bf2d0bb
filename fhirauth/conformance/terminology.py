"""Value sets reduced to what we can check locally, and the code lists nobody can resolve."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from fhirauth.conformance.model import Binding, unversioned
from fhirauth.fhir.systems import canonical

# Code lists that are licensed and not published: a validator can never expand them.
_LICENSED = {
    "https://codesystem.x12.org/": "X12",
    "https://valueset.x12.org/": "X12",
    "https://www.nubc.org/": "NUBC",
}


def licensed(url: str | None) -> str | None:
    """'X12' or 'NUBC' when the code system or value set is licensed and unpublished."""
    if url:
        for prefix, owner in _LICENSED.items():
            if url.startswith(prefix):
                return owner
    return None


def unpublished_reason(url: str) -> str:
    owner = licensed(url) or "its owner"
    return f"{owner} code lists are licensed and cannot be resolved publicly"


@dataclass(frozen=True)
class ValueSetDef:
    url: str
    codes: frozenset[tuple[str | None, str]]
    systems: frozenset[str]  # included whole or by a filter: codes not checked
    notes: tuple[str, ...] = ()


def _all_codes(concepts: list[dict[str, Any]]) -> list[str]:
    out = []
    for c in concepts:
        out.append(c["code"])
        out += _all_codes(c.get("concept", []))
    return out


def value_set_from_json(vs: dict[str, Any], code_systems: dict[str, list[str]]) -> ValueSetDef:
    """Enumerated concepts and whole code systems of ``compose.include``; code systems whose
    content we hold (``code_systems``) are expanded."""
    codes: set[tuple[str | None, str]] = set()
    systems: set[str] = set()
    notes = []
    compose = vs.get("compose", {})
    for inc in compose.get("include", []):
        system = canonical(inc.get("system"))
        if inc.get("valueSet"):
            notes.append(f"includes value sets {', '.join(inc['valueSet'])}, not expanded")
        if not system:
            continue
        if inc.get("concept"):
            codes |= {(system, c["code"]) for c in inc["concept"]}
        elif inc.get("filter"):
            systems.add(system)
            notes.append(f"filters {system}: codes of that system are not checked")
        elif system in code_systems:
            codes |= {(system, code) for code in code_systems[system]}
        else:
            systems.add(system)
    if compose.get("exclude"):
        notes.append("has exclusions, which are not applied")
    return ValueSetDef(unversioned(vs["url"]), frozenset(codes), frozenset(systems), tuple(notes))


def code_system_codes(cs: dict[str, Any]) -> list[str] | None:
    """The codes of a CodeSystem whose content is complete, else None."""
    if cs.get("content") != "complete":
        return None
    return _all_codes(cs.get("concept", []))


def resolve_binding(
    strength: str, value_set: str | None, value_sets: dict[str, ValueSetDef]
) -> Binding:
    """A binding from a StructureDefinition: resolved against the value sets we hold; an
    unpublished X12/NUBC value set is marked to warn on every coded value."""
    url = unversioned(value_set) if value_set else None
    vs = value_sets.get(url) if url else None
    if vs is not None:
        owners = {licensed(s) for s in vs.systems} - {None}
        reason = (
            f"{' and '.join(sorted(o for o in owners if o))} code lists are licensed and "
            "cannot be resolved publicly"
            if owners
            else None
        )
        return Binding(strength, url, vs.codes, vs.systems, reason, warn=bool(owners))
    if licensed(url):
        return Binding(strength, url, unverifiable=unpublished_reason(url or ""), warn=True)
    return Binding(strength, url, resolved=False)
