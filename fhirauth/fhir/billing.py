"""A billing Claim (``use=claim``) as ``Claim/$check-authorization`` reads it: alone, or first in
a collection Bundle with what it references, or inside a Parameters (``resource``, and
``record`` as a valueBoolean). Every service line becomes a :class:`BilledLine`."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from typing import Any

from fhirauth.errors import Invalid, invalid
from fhirauth.fhir.bundle import collection_entries, model_issues
from fhirauth.fhir.extensions import codings, extension_value
from fhirauth.fhir.references import Entry, EntryIndex, resolve_one
from fhirauth.fhir.strict_json import load_json
from fhirauth.fhir.systems import canonical

NPI = "http://hl7.org/fhir/sid/us-npi"


@dataclass(frozen=True)
class BilledLine:
    """One ``Claim.item`` of a billing claim, in the terms an authorization is checked in."""

    sequence: int
    codes: tuple[tuple[str, str], ...]  # (canonical system, code)
    modifiers: frozenset[str]
    quantity: Decimal
    dates: tuple[date, date] | None
    places: frozenset[str]
    providers: frozenset[str]  # rendering provider NPIs
    numbers: frozenset[str]  # authorization numbers the line (or its claim) names
    item: dict[str, Any]


@dataclass(frozen=True)
class BillingClaim:
    claim: dict[str, Any]
    path: str  # FHIRPath of the Claim: "Claim" alone, "Bundle.entry[0].resource" in a Bundle
    identifier: str | None  # "system|value" of Claim.identifier[0]
    patient: dict[str, Any]
    coverage: dict[str, Any]
    insurer: dict[str, Any]
    lines: tuple[BilledLine, ...]
    record: bool


def parse_billing(body: bytes | dict[str, Any], record: bool = False) -> BillingClaim:
    """Read a billing claim; anything malformed raises ``Invalid`` with FHIRPaths."""
    data = load_json(body) if isinstance(body, bytes) else body
    if isinstance(data, dict) and data.get("resourceType") == "Parameters":
        data, record = _from_parameters(data, record)
    if not isinstance(data, dict):
        raise invalid("The body must be a FHIR resource (a JSON object)", code="structure")
    if data.get("resourceType") == "Bundle":
        entries, issues, _ = collection_entries(data, "A billing claim Bundle")
        if issues:
            raise Invalid(issues)
        claim, index = entries[0], EntryIndex(entries)
        if claim.type != "Claim":
            raise invalid("The first entry must be the billing Claim", claim.path)
    elif data.get("resourceType") == "Claim":
        issues = model_issues("Claim", data, "Claim")
        if issues:
            raise Invalid(issues)
        claim, index = _Alone(0, "", data), EntryIndex([])
    else:
        raise invalid(
            f"Expected a Claim or a Bundle, got {data.get('resourceType')!r}", "resourceType"
        )
    resource = claim.resource
    if resource.get("use") != "claim":
        raise invalid(
            "Claim.use must be 'claim': $check-authorization checks a claim that bills "
            "services (a prior authorization request goes to Claim/$submit)",
            f"{claim.path}.use",
        )
    if not resource.get("item"):
        raise invalid(
            "The claim bills no service (Claim.item)", f"{claim.path}.item", code="required"
        )

    def resolve(ref: Any) -> dict[str, Any]:
        found = resolve_one(ref, claim, index)
        return found.resource if found is not None else {}

    def practitioner(ref: Any) -> dict[str, Any]:
        """A care-team member's resource; for a PractitionerRole, its Practitioner."""
        found = resolve_one(ref, claim, index)
        if found is not None and found.type == "PractitionerRole":
            found = resolve_one(found.resource.get("practitioner"), found, index)
        return found.resource if found is not None else {}

    insurance = resource.get("insurance") or []
    focal = next(
        (i for i in insurance if i.get("focal") is True), insurance[0] if insurance else {}
    )
    numbers = frozenset(str(n) for i in insurance for n in i.get("preAuthRef") or [] if n)
    team = {m.get("sequence"): m for m in resource.get("careTeam") or []}
    lines = tuple(
        _line(item, numbers, team, resource, practitioner) for item in resource.get("item") or []
    )
    coverage = resolve(focal.get("coverage"))
    logical = (focal.get("coverage") or {}).get("identifier")
    if not coverage and isinstance(logical, dict):
        # A claim sent alone names its Coverage by the member id (a logical reference).
        coverage = {"identifier": [{**logical, "type": {"coding": [{"code": "MB"}]}}]}
    patient = resolve(resource.get("patient"))
    ref = resource.get("patient") or {}
    if not patient and isinstance(ref.get("identifier"), dict):
        patient = {"identifier": [ref["identifier"]]}
    insurer = resolve(resource.get("insurer"))
    if not insurer and isinstance((resource.get("insurer") or {}).get("identifier"), dict):
        insurer = {"identifier": [resource["insurer"]["identifier"]]}
    return BillingClaim(
        resource,
        claim.path,
        _identifier(resource),
        patient,
        coverage,
        insurer,
        lines,
        record,
    )


class _Alone(Entry):
    """A Claim sent on its own: its FHIRPaths start at ``Claim``."""

    @property
    def path(self) -> str:
        return "Claim"


def _from_parameters(data: dict[str, Any], record: bool) -> tuple[Any, bool]:
    found = [p for p in data.get("parameter") or [] if isinstance(p, dict)]
    resources = [p.get("resource") for p in found if p.get("name") == "resource"]
    if len(resources) != 1:
        raise invalid(
            "A Parameters body carries exactly one 'resource' parameter: the Claim, or a "
            "Bundle whose first entry is the Claim",
            "Parameters.parameter",
        )
    for p in found:
        if p.get("name") == "record":
            if not isinstance(p.get("valueBoolean"), bool):
                raise invalid("'record' is a valueBoolean", "Parameters.parameter.value")
            record = record or p["valueBoolean"]
    return resources[0], record


def _identifier(claim: dict[str, Any]) -> str | None:
    for ident in claim.get("identifier") or []:
        if isinstance(ident, dict) and ident.get("value"):
            return f"{ident.get('system', '')}|{ident['value']}"
    return None


def _day(value: Any) -> date | None:
    try:
        return date.fromisoformat(str(value)[:10]) if value else None
    except ValueError:
        return None


def _npis(resource: dict[str, Any]) -> set[str]:
    return {
        str(i.get("value"))
        for i in resource.get("identifier") or []
        if isinstance(i, dict) and i.get("system") == NPI and i.get("value")
    }


def _rendering(member: dict[str, Any]) -> bool:
    roles = {c.get("code") for c in codings(member.get("role"))}
    return not roles or bool(roles & {"primary", "rendering"})


def _line(
    item: dict[str, Any],
    claim_numbers: frozenset[str],
    team: dict[Any, dict[str, Any]],
    claim: dict[str, Any],
    resolve: Any,
) -> BilledLine:
    if item.get("servicedDate"):
        day = _day(item["servicedDate"])
        dates = (day, day) if day else None
    else:
        period = item.get("servicedPeriod") or claim.get("billablePeriod") or {}
        start, end = _day(period.get("start")), _day(period.get("end"))
        dates = (start or end, end or start) if (start or end) else None  # type: ignore[assignment]
    providers: set[str] = set()
    # The line's own care team, else the claim's rendering (primary) provider.
    members = [team.get(seq) or {} for seq in item.get("careTeamSequence") or []] or [
        m for m in team.values() if _rendering(m)
    ]
    for member in members:
        ref = member.get("provider") or {}
        providers |= _npis(resolve(ref))
        if isinstance(ref.get("identifier"), dict) and ref["identifier"].get("system") == NPI:
            providers.add(str(ref["identifier"].get("value")))
    numbers = set(claim_numbers)
    for name in ("extension-authorizationNumber", "extension-administrationReferenceNumber"):
        value = extension_value(item, name, "valueString")
        if value:
            numbers.add(str(value))
    quantity = (item.get("quantity") or {}).get("value")
    return BilledLine(
        sequence=int(item["sequence"]),
        codes=tuple(
            (str(canonical(c.get("system"))), str(c["code"]))
            for c in codings(item.get("productOrService"))
            if c.get("code")
        ),
        modifiers=frozenset(
            str(c["code"]) for m in item.get("modifier") or [] for c in codings(m) if c.get("code")
        ),
        quantity=Decimal(str(quantity)) if isinstance(quantity, int | float) else Decimal(1),
        dates=dates,
        places=frozenset(
            str(c["code"]) for c in codings(item.get("locationCodeableConcept")) if c.get("code")
        ),
        providers=frozenset(providers),
        numbers=frozenset(numbers),
        item=item,
    )


__all__ = ["BilledLine", "BillingClaim", "parse_billing"]
