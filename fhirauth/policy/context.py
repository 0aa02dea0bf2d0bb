"""The normalized context policy conditions see, whatever the request's shape.

A Claim item (initial request or update) and a CoverageEligibilityRequest item both become an
:class:`ItemContext`; conditions read ``%item``, ``%patient``, ``%diagnoses`` and the like, never
raw bundle positions.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal
from typing import Any

from fhirauth.fhir.bundle import PasRequest
from fhirauth.fhir.extensions import PAS, codings, extension_value, extensions
from fhirauth.fhir.references import resolve_one
from fhirauth.fhir.systems import LOINC, canonical

# X12 UM06 level of service: U urgent, 03 emergency. PAS has no expedited flag (REQUIREMENTS §9
# item 8); this is our one documented rule, and CMS's 72-hour clock depends on it.
_URGENT_LEVELS = frozenset({"U", "03"})
_IMMEDIATE_APPEAL = "1"
# X12 1322 codes that ask about an authorization already given: appeal (immediate,
# standard), extension, renewal, revision.
_ABOUT_AN_AUTHORIZATION = frozenset({"1", "2", "4", "R", "S"})


@dataclass(frozen=True)
class ItemContext:
    sequence: int
    codes: tuple[tuple[str, str], ...]
    modifiers: frozenset[str]
    places: frozenset[str]
    quantity: Decimal | None
    requested: tuple[date, date] | None
    documents: frozenset[str]
    questionnaires: frozenset[str]
    variables: dict[str, Any] = field(repr=False)


def own_certification_types(node: dict[str, Any]) -> set[str]:
    """X12 1322 certificationType codes on this Claim or item itself (3 is cancel)."""
    concept = extension_value(node, "extension-certificationType", "valueCodeableConcept") or {}
    return {c.get("code") for c in concept.get("coding") or [] if isinstance(c, dict)}


def is_cancelled(item: dict[str, Any]) -> bool:
    """An item the provider withdraws: infoCancelled, or certificationType 3 on the item."""
    flags = extensions(item, PAS + "modifierextension-infoCancelled", "modifierExtension")
    return any(e.get("valueBoolean") for e in flags) or "3" in own_certification_types(item)


def signals_update(claim: dict[str, Any]) -> bool:
    """A PAS 2.0.1 update, which need not carry Claim.related: it declares the Claim Update
    profile, asks for an appeal, extension, renewal or revision of an authorization (X12
    1322 1, 2, 4, R, S), or flags items or supporting information as changed, added or cancelled."""
    profiles = (claim.get("meta") or {}).get("profile") or []
    if any(str(p).split("|", 1)[0] == PAS + "profile-claim-update" for p in profiles):
        return True
    if certification_types(claim) & _ABOUT_AN_AUTHORIZATION:
        return True
    for node in [*(claim.get("item") or []), *(claim.get("supportingInfo") or [])]:
        if isinstance(node, dict) and (
            extension_value(node, "extension-infoChanged", "valueCode") or is_cancelled(node)
        ):
            return True
    return False


def level_of_service(claim: dict[str, Any]) -> str | None:
    concept = extension_value(claim, "extension-levelOfServiceCode", "valueCodeableConcept")
    codes = [c.get("code") for c in codings(concept)]
    return codes[0] if codes else None


def certification_types(claim: dict[str, Any]) -> set[str]:
    nodes = [claim, *(claim.get("item") or [])]
    out = set()
    for node in nodes:
        concept = extension_value(node, "extension-certificationType", "valueCodeableConcept")
        out |= {c.get("code") for c in codings(concept)}
    return out


def is_expedited(claim: dict[str, Any]) -> bool:
    """Expedited (CMS 72 hours) when the level of service is urgent or emergency, the Claim's
    priority is stat, or the request is an immediate appeal (certificationType 1)."""
    priority = {c.get("code") for c in codings(claim.get("priority"))}
    return (
        level_of_service(claim) in _URGENT_LEVELS
        or "stat" in priority
        or _IMMEDIATE_APPEAL in certification_types(claim)
    )


def requested_dates(item: dict[str, Any], claim: dict[str, Any]) -> tuple[date, date] | None:
    """The dates of service an item asks for: servicedDate, servicedPeriod or billablePeriod."""
    if item.get("servicedDate"):
        d = _date(item["servicedDate"])
        return (d, d) if d else None
    period = item.get("servicedPeriod") or claim.get("billablePeriod")
    if isinstance(period, dict):
        start, end = _date(period.get("start")), _date(period.get("end"))
        if start and end:
            return start, end
        if start or end:
            return (start or end, start or end)  # type: ignore[return-value]
    return None


def _date(value: Any) -> date | None:
    if not isinstance(value, str) or len(value) < 10:
        return None
    try:
        return date.fromisoformat(value[:10])
    except ValueError:
        return None


def age_on(birth_date: Any, on: date) -> int | None:
    born = _date(birth_date)
    if born is None:
        return None
    return on.year - born.year - ((on.month, on.day) < (born.month, born.day))


def documents_present(
    resources: list[dict[str, Any]], info: list[dict[str, Any]]
) -> tuple[frozenset[str], frozenset[str]]:
    """LOINC codes of the documentation supplied, and the Questionnaires answered."""
    codes: set[str] = set()
    answered: set[str] = set()

    def visit(resource: dict[str, Any]) -> None:
        kind = resource.get("resourceType")
        if kind == "QuestionnaireResponse":
            if resource.get("status") in ("completed", "amended") and resource.get("questionnaire"):
                answered.add(str(resource["questionnaire"]).split("|", 1)[0])
        elif kind == "Bundle":  # a DTR QuestionnaireResponse bundle
            for entry in resource.get("entry") or []:
                if isinstance(entry, dict) and isinstance(entry.get("resource"), dict):
                    visit(entry["resource"])
        for key in ("type", "code"):
            # One CodeableConcept on a DocumentReference or an Observation, a list of them
            # on an Organization or a Location: supportingInfo may reference any resource.
            value = resource.get(key)
            for concept in value if isinstance(value, list) else [value]:
                codes.update(
                    c["code"]
                    for c in codings(concept)
                    if canonical(c.get("system")) == LOINC and c.get("code")
                )

    for resource in resources:
        visit(resource)
    for entry in info:
        codes.update(
            c["code"]
            for c in codings(entry.get("code"))
            if canonical(c.get("system")) == LOINC and c.get("code")
        )
    return frozenset(codes), frozenset(answered)


@dataclass(frozen=True)
class ClaimFacts:
    """What every item of one request shares. Worked out once per request: worked out per item,
    each item rescanned every other (certificationType for the expedited flag) and every
    supporting document, which made a request's cost grow with the square of its items."""

    level_of_service: str | None
    expedited: bool
    documents: frozenset[str]
    questionnaires: frozenset[str]


def claim_facts(
    claim: dict[str, Any], supporting: list[dict[str, Any]], supporting_info: list[dict[str, Any]]
) -> ClaimFacts:
    docs, answered = documents_present(supporting, supporting_info)
    return ClaimFacts(level_of_service(claim), is_expedited(claim), docs, answered)


def _num(value: Any) -> Decimal | None:
    if isinstance(value, bool) or not isinstance(value, int | float | Decimal | str):
        return None
    try:
        return Decimal(str(value))
    except ArithmeticError:
        return None


def item_context(
    *,
    sequence: int,
    item: dict[str, Any],
    claim: dict[str, Any],
    diagnoses: list[dict[str, Any]],
    patient: dict[str, Any] | None,
    coverage: dict[str, Any] | None,
    request: dict[str, Any] | None,
    supporting: list[dict[str, Any]],
    supporting_info: list[dict[str, Any]],
    today: date,
    facts: ClaimFacts | None = None,
) -> ItemContext:
    """``facts``: what the request's items share (``claim_facts``); pass it when building the
    contexts of many items, so that each item does not work it out again."""
    if facts is None:
        facts = claim_facts(claim, supporting, supporting_info)
    docs, answered = facts.documents, facts.questionnaires
    requested = requested_dates(item, claim)
    service_date = requested[0] if requested else today
    quantity = _num((item.get("quantity") or {}).get("value"))
    patient = patient or {}
    variables = {
        "claim": claim,
        "item": item,
        "patient": patient,
        "coverage": coverage,
        "request": request,
        "diagnoses": diagnoses,
        "age": age_on(patient.get("birthDate"), service_date),
        "sex": patient.get("gender"),
        "serviceDate": service_date.isoformat(),
        "levelOfService": facts.level_of_service,
        "supportingInfo": supporting,
        "documents": sorted(docs),
        "questionnaires": sorted(answered),
        "quantity": float(quantity) if quantity is not None else None,
        "expedited": facts.expedited,
    }
    return ItemContext(
        sequence=sequence,
        codes=tuple(
            (str(canonical(c["system"])), c["code"])
            for c in codings(item.get("productOrService"))
            if c.get("system") and c.get("code")
        ),
        modifiers=frozenset(
            c.get("code") for m in item.get("modifier") or [] for c in codings(m) if c.get("code")
        ),
        places=frozenset(
            c.get("code") for c in codings(item.get("locationCodeableConcept")) if c.get("code")
        ),
        quantity=quantity,
        requested=requested,
        documents=docs,
        questionnaires=answered,
        variables=variables,
    )


def diagnosis_code(
    diagnosis: dict[str, Any], resolve: Callable[[Any], dict[str, Any] | None]
) -> dict[str, Any] | None:
    """A Claim.diagnosis as a CodeableConcept: diagnosisCodeableConcept, or the code of the
    Condition that diagnosisReference points at (EHRs send either; PAS asks for the first)."""
    concept = diagnosis.get("diagnosisCodeableConcept")
    if isinstance(concept, dict):
        return concept
    condition = resolve(diagnosis.get("diagnosisReference"))
    if condition and condition.get("resourceType") == "Condition":
        code = condition.get("code")
        return code if isinstance(code, dict) else None
    return None


def request_contexts(req: PasRequest, today: date) -> list[ItemContext]:
    """One context per item of a parsed PAS request, its references resolved in the Bundle."""

    def resolve(ref: Any) -> dict[str, Any] | None:
        found = resolve_one(ref, req.claim, req.index)
        return found.resource if found is not None else None

    return claim_contexts(
        req.claim.resource,
        patient=req.patient.resource,
        coverage=req.coverages[0].resource if req.coverages else {},
        resolve=resolve,
        today=today,
    )


def claim_contexts(
    claim: dict[str, Any],
    *,
    patient: dict[str, Any] | None,
    coverage: dict[str, Any] | None,
    resolve: Callable[[Any], dict[str, Any] | None],
    today: date,
) -> list[ItemContext]:
    """One context per Claim item. ``resolve`` turns a Reference into the bundle resource."""
    coded_dx = [
        (d.get("sequence"), diagnosis_code(d, resolve))
        for d in claim.get("diagnosis") or []
        if isinstance(d, dict)
    ]
    all_dx = [dx for _, dx in coded_dx if dx]
    dx_by_seq = dict(coded_dx)
    info = [i for i in claim.get("supportingInfo") or [] if isinstance(i, dict)]
    supporting = [r for r in (resolve(i.get("valueReference")) for i in info) if r]
    facts = claim_facts(claim, supporting, info)
    out = []
    for raw in claim.get("item") or []:
        item = dict(raw)
        seqs = raw.get("diagnosisSequence") or []
        item["diagnosis"] = [dx_by_seq[s] for s in seqs if dx_by_seq.get(s)] or all_dx
        requested = resolve(extension_value(raw, "extension-requestedService", "valueReference"))
        out.append(
            item_context(
                sequence=int(raw["sequence"]),
                item=item,
                claim=claim,
                diagnoses=all_dx,
                patient=patient,
                coverage=coverage,
                request=requested,
                supporting=supporting,
                supporting_info=info,
                today=today,
                facts=facts,
            )
        )
    return out
