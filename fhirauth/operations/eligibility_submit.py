"""``POST [base]/CoverageEligibilityRequest/$submit``: does a service need authorization, and
what documentation? Decided by the same policy engine as Claim/$submit, so the two never
disagree. Nothing is stored: this is a question, not a request for authorization.

The body is a Bundle whose first entry is the CoverageEligibilityRequest (with the Patient,
Coverage, insurer and provider it references), a bare CoverageEligibilityRequest whose
references point at contained resources, or a Parameters holding either.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import Any

from fhirauth.errors import Invalid, Issue, invalid
from fhirauth.fhir.bundle import (
    EntryIndex,
    collection_entries,
    load_json,
    model_issues,
    unwrap_parameters,
)
from fhirauth.fhir.claim_values import negative_quantities
from fhirauth.fhir.references import resolve_one
from fhirauth.policy import RuleResult, evaluate_item
from fhirauth.policy.context import claim_facts, item_context
from fhirauth.principal import Principal
from fhirauth.services import Services

ANSWERED = ("auth-requirements", "validation")
LOINC = "http://loinc.org"


@dataclass
class EligibilityRequest:
    resource: dict[str, Any]
    path: str
    full_url: str | None
    patient: dict[str, Any]
    coverage: dict[str, Any]
    coverage_ref: str | None
    lookup: Any  # Reference → resource or None


def parse(body: bytes | dict[str, Any]) -> EligibilityRequest:
    data = unwrap_parameters(load_json(body) if isinstance(body, bytes) else body)
    if not isinstance(data, dict):
        raise invalid("The body must be a FHIR resource (a JSON object)", code="structure")
    kind = data.get("resourceType")
    if kind == "Bundle":
        entries, issues, _ = collection_entries(data, "An eligibility Bundle")
        first = entries[0]
        if first.type != "CoverageEligibilityRequest":
            raise Invalid(
                [
                    *issues,
                    Issue(
                        "invalid",
                        "The first entry must be a CoverageEligibilityRequest",
                        (first.path,),
                    ),
                ]
            )
        if issues:
            raise Invalid(issues)

        index = EntryIndex(entries)

        def lookup(ref: Any) -> dict[str, Any] | None:
            found = resolve_one(ref, first, index)
            return found.resource if found is not None else None

        return _request(first.resource, first.path, first.full_url, lookup)
    if kind == "CoverageEligibilityRequest":
        problems = model_issues(kind, data, kind)
        if problems:
            raise Invalid(problems)
        contained = {
            f"#{c.get('id')}": c for c in data.get("contained") or [] if isinstance(c, dict)
        }

        def lookup_contained(ref: Any) -> dict[str, Any] | None:
            if not isinstance(ref, dict):
                return None
            return contained.get(ref.get("reference"))

        return _request(data, kind, None, lookup_contained)
    raise invalid(
        f"Expected a Bundle or a CoverageEligibilityRequest, got {kind!r}",
        str(kind) if kind else "$this",
    )


def _request(
    cer: dict[str, Any], path: str, full_url: str | None, lookup: Any
) -> EligibilityRequest:
    issues = negative_quantities(cer.get("item"), f"{path}.item")
    purposes = cer.get("purpose") or []
    for i, purpose in enumerate(purposes):
        if purpose not in ANSWERED:
            issues.append(
                Issue(
                    "not-supported",
                    f"purpose {purpose!r} is not answered here; "
                    f"this endpoint answers {' and '.join(ANSWERED)}",
                    (f"{path}.purpose[{i}]",),
                )
            )
    patient = lookup(cer.get("patient"))
    if patient is None or patient.get("resourceType") != "Patient":
        issues.append(
            Issue(
                "not-found",
                "patient must reference a Patient in the request",
                (f"{path}.patient.reference",),
            )
        )
    coverage_ref = None
    coverage = None
    for i, ins in enumerate(cer.get("insurance") or []):
        found = lookup(ins.get("coverage"))
        if found is None or found.get("resourceType") != "Coverage":
            issues.append(
                Issue(
                    "not-found",
                    "insurance.coverage must reference a Coverage in the request",
                    (f"{path}.insurance[{i}].coverage.reference",),
                )
            )
        elif coverage is None or ins.get("focal"):
            coverage, coverage_ref = found, ins["coverage"].get("reference")
    if coverage is None and not any(
        i.expression[0].startswith(f"{path}.insurance") for i in issues
    ):
        issues.append(
            Issue(
                "required",
                "The request needs the member's Coverage in insurance",
                (f"{path}.insurance",),
            )
        )
    if issues:
        raise Invalid(issues)
    return EligibilityRequest(
        cer, path, full_url, patient or {}, coverage or {}, coverage_ref, lookup
    )


def _claim_like(cer: dict[str, Any]) -> dict[str, Any]:
    """The CoverageEligibilityRequest in the shape policy contexts read (a Claim's)."""
    items = []
    for n, raw in enumerate(cer.get("item") or [], start=1):
        item = {k: v for k, v in raw.items() if k != "diagnosis"}
        item["sequence"] = n
        for key in ("servicedDate", "servicedPeriod"):
            if key in cer:
                item[key] = cer[key]
        item["diagnosis"] = [
            d["diagnosisCodeableConcept"]
            for d in raw.get("diagnosis") or []
            if d.get("diagnosisCodeableConcept")
        ]
        items.append(item)
    return {
        "resourceType": "CoverageEligibilityRequest",
        "priority": cer.get("priority"),
        "extension": cer.get("extension") or [],
        "item": items,
        "diagnosis": [{"diagnosisCodeableConcept": dx} for i in items for dx in i["diagnosis"]],
    }


def submit(
    body: bytes | dict[str, Any], principal: Principal, services: Services
) -> dict[str, Any]:
    req = parse(body)
    now = services.clock()
    today = now.date()
    cer = req.resource
    claim = _claim_like(cer)
    info = [i for i in cer.get("supportingInfo") or [] if isinstance(i, dict)]
    supporting = [r for r in (req.lookup(i.get("information")) for i in info) if r]
    diagnoses = [d["diagnosisCodeableConcept"] for d in claim["diagnosis"]]
    facts = claim_facts(claim, supporting, info)
    contexts = [
        item_context(
            sequence=item["sequence"],
            item=item,
            claim=claim,
            diagnoses=diagnoses,
            patient=req.patient,
            coverage=req.coverage,
            request=req.lookup((item.get("detail") or [None])[0]),
            supporting=supporting,
            supporting_info=info,
            today=today,
            facts=facts,
        )
        for item in claim["item"]
    ]
    starts = [c.requested[0] for c in contexts if c.requested]
    service_date = min(starts) if starts else today
    insurer = req.lookup(cer.get("insurer")) or {}
    policy = services.policies.select(insurer.get("identifier") or [], req.coverage, service_date)
    eligibility = services.membership.check(req.coverage, req.patient, service_date)
    results = [evaluate_item(policy, c) for c in contexts]
    answer_items = "auth-requirements" in (cer.get("purpose") or [])

    insurance: dict[str, Any] = {
        "coverage": {"reference": req.coverage_ref},
        "inforce": eligibility.active,
    }
    if answer_items and eligibility.active:
        insurance["item"] = [
            _item(raw, r) for raw, r in zip(cer.get("item") or [], results, strict=True)
        ]
    response: dict[str, Any] = {
        "resourceType": "CoverageEligibilityResponse",
        "id": services.ids(),
        "status": "active",
        "purpose": cer.get("purpose"),
        "patient": cer["patient"],
        "created": now.isoformat(timespec="seconds"),
        "request": _request_reference(req),
        "outcome": "complete",
        "disposition": _disposition(
            eligibility.active, results if answer_items else [], service_date, eligibility.message
        ),
        "insurer": cer["insurer"],
        "insurance": [insurance],
    }
    for key in ("servicedDate", "servicedPeriod"):
        if key in cer:
            response[key] = cer[key]
    if cer.get("contained"):
        response["contained"] = cer["contained"]
    if not eligibility.active:
        response["error"] = [
            {
                "code": {
                    "coding": [
                        {
                            "system": "https://codesystem.x12.org/005010/901",
                            "code": eligibility.code,
                        }
                    ],
                    "text": eligibility.message,
                }
            }
        ]
    return response


def _request_reference(req: EligibilityRequest) -> dict[str, Any]:
    if req.full_url:
        return {"reference": req.full_url}
    if req.resource.get("identifier"):
        return {"identifier": req.resource["identifier"][0]}
    return {"display": "the CoverageEligibilityRequest in this exchange"}


def _item(raw: dict[str, Any], r: RuleResult) -> dict[str, Any]:
    item: dict[str, Any] = {}
    for key in ("category", "productOrService", "modifier"):
        if key in raw:
            item[key] = raw[key]
    item["excluded"] = r.excluded
    if r.excluded:
        item["description"] = r.reason
        return item
    item["authorizationRequired"] = r.authorization_required
    if r.authorization_required and r.required:
        item["authorizationSupporting"] = [
            {"coding": [{"system": LOINC, "code": d.code}], "text": d.description}
            if d.code
            else {"text": f"{d.description} ({d.questionnaire})"}
            for d in r.required
        ]
    if r.authorization_url:
        item["authorizationUrl"] = r.authorization_url
    elif r.authorization_required and any(d.questionnaire for d in r.required):
        item["authorizationUrl"] = next(str(d.questionnaire) for d in r.required if d.questionnaire)
    return item


def _disposition(active: bool, results: list[RuleResult], on: date, why: str | None) -> str:
    if not active:
        return f"Coverage is not in force on {on.isoformat()}: {why}"
    if not results:
        return f"Coverage is in force on {on.isoformat()}."
    needed = sum(1 for r in results if r.authorization_required)
    excluded = sum(1 for r in results if r.excluded)
    parts = [
        f"Coverage is in force on {on.isoformat()}",
        f"{needed} of {len(results)} services need prior authorization",
    ]
    if excluded:
        parts.append(f"{excluded} not covered")
    return "; ".join(parts) + "."
