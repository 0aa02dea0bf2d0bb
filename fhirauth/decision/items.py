"""ClaimResponse ``item`` and ``addItem``: what the payer says about each line of a request.

Per line the payer writes its own elements: our trace number (``itemTraceNumber``), our
administrative reference (``administrationReferenceNumber`` = the ``preAuthRef``, which
``$inquire`` and ``$submit-attachment`` accept), the review action and, for what is certified,
the dates, the authorized provider and the authorized detail.

Elements that describe the member, the service or the stay are echoed from the request and
never invented: the line's trace numbers and diagnoses (``communicatedDiagnosis``), admission
and discharge dates (``supportingInfo`` admissionDates/dischargeDates), and on ``addItem`` the
category, request and certification types, modifier, location, unit price, revenue code, code
range end, EPSDT flag (false when not asked), nursing-home status and level of care, unit rate
limit and the order behind the line (``requestedService``).
"""

from __future__ import annotations

from typing import Any

from fhirauth.decision.codes import (
    ADJUDICATION_SYSTEM,
    DECISION_REASON_SYSTEM,
    ENTITY_TYPE_SYSTEM,
    REVIEW_ACTION_SYSTEM,
    Naming,
    json_number,
    pas_ext,
    period_of,
)
from fhirauth.decision.decide import REVIEW_ACTIONS, ItemDecision, item_number
from fhirauth.fhir.bundle import PasRequest
from fhirauth.fhir.extensions import PAS, codings, extensions
from fhirauth.fhir.references import resolve_one
from fhirauth.fhir.systems import DIAGNOSIS_SYSTEMS, REQUESTED_SERVICE_SYSTEMS, within
from fhirauth.policy.context import diagnosis_code

_SERVICE_PROVIDER = {"system": ENTITY_TYPE_SYSTEM, "code": "SJ", "display": "Service Provider"}
# Item extensions an addItem repeats as the request gave them (what was asked is what the
# modified authorization is for, unless the payer says otherwise).
_ECHOED_ON_ADD_ITEM = (
    "extension-epsdtIndicator",
    "extension-nursingHomeResidentialStatus",
    "extension-nursingHomeLevelOfCare",
    "extension-productOrServiceCodeEnd",
    "extension-revenueUnitRateLimit",
    "extension-serviceItemRequestType",
    "extension-certificationType",
)


def response_item(
    d: ItemDecision,
    notes: list[dict[str, Any]],
    req: PasRequest,
    requested: dict[str, Any],
    naming: Naming,
    pre_auth_ref: str,
    diagnoses_per_line: int | None,
) -> dict[str, Any]:
    """ClaimResponse.item for line ``d``; its reason, unless pended, becomes a processNote
    appended to ``notes``."""
    head, stay = _line_extensions(d, req, requested, naming, pre_auth_ref)
    ext = head
    if d.requested:
        ext.append(
            pas_ext("extension-itemRequestedServiceDate", valuePeriod=period_of(d.requested))
        )
    provider = _authorized_provider(req, d)
    if provider:
        ext.append(authorized_provider_extension(provider))
    if d.certified and d.action != "A6":
        detail: list[dict[str, Any]] = []
        code = within(requested.get("productOrService"), REQUESTED_SERVICE_SYSTEMS)
        if code:
            detail.append({"url": "productOrServiceCode", "valueCodeableConcept": code})
        quantity = dict(requested.get("quantity") or {})
        if d.authorized_quantity is not None:
            quantity["value"] = json_number(d.authorized_quantity)
        if quantity.get("value") is not None:
            detail.append({"url": "quantity", "valueQuantity": quantity})
        if detail:
            ext.append(pas_ext("extension-itemAuthorizedDetail", extension=detail))
    ext += stay
    diagnoses = line_diagnoses(req, requested) if requested else []
    ext += [
        pas_ext("extension-communicatedDiagnosis", valueCodeableConcept=c)
        for c in diagnoses[:diagnoses_per_line]
    ]
    item: dict[str, Any] = {"extension": ext, "itemSequence": d.sequence}
    if d.reason and d.action != "A4":
        number = len(notes) + 1
        notes.append({"number": number, "type": "display", "text": d.reason})
        item["noteNumber"] = [number]
    item["adjudication"] = [_review_action(d, d.action)]
    return item


def add_item(
    d: ItemDecision, req: PasRequest, requested: dict[str, Any], naming: Naming, pre_auth_ref: str
) -> dict[str, Any]:
    """spec-36/37: a modified item is answered A6; what was authorized goes in addItem, with
    the line's own details as the request gave them and the authorized quantity and period."""
    head, stay = _line_extensions(d, req, requested, naming, pre_auth_ref)
    ext = head
    if isinstance(requested.get("category"), dict):
        ext.append(pas_ext("extension-itemCategory", valueCodeableConcept=requested["category"]))
    for name in _ECHOED_ON_ADD_ITEM:
        ext += extensions(requested, PAS + name)[:1]
    if not extensions(requested, PAS + "extension-epsdtIndicator"):
        # Not asked for under EPSDT, so not authorized under it.
        ext.append(pas_ext("extension-epsdtIndicator", valueBoolean=False))
    if isinstance(requested.get("revenue"), dict):
        ext.append(pas_ext("extension-revenueCode", valueCodeableConcept=requested["revenue"]))
    order = extensions(requested, PAS + "extension-requestedService")
    if order:
        target = resolve_one(order[0].get("valueReference"), req.claim, req.index)
        if target is not None:
            ext.append(
                pas_ext("extension-requestedService", valueReference={"reference": target.full_url})
            )
    ext += stay
    added: dict[str, Any] = {"extension": ext, "itemSequence": [d.sequence]}
    provider = _authorized_provider(req, d)
    if provider:
        added["provider"] = [
            {
                "extension": [
                    pas_ext(
                        "extension-authorizedProviderType",
                        valueCodeableConcept={"coding": [_SERVICE_PROVIDER]},
                    )
                ],
                "reference": provider,
            }
        ]
    added["productOrService"] = requested["productOrService"]
    if "modifier" in requested:
        added["modifier"] = requested["modifier"]
    if d.period:
        added["servicedPeriod"] = period_of(d.period)
    else:
        for key in ("servicedDate", "servicedPeriod"):
            if key in requested:
                added[key] = requested[key]
    for key in ("locationCodeableConcept", "locationAddress"):
        if key in requested:
            added[key] = requested[key]
    if "locationReference" in requested:
        target = resolve_one(requested["locationReference"], req.claim, req.index)
        if target is not None:
            added["locationReference"] = {"reference": target.full_url}
    if d.authorized_quantity is not None:
        quantity = dict(requested.get("quantity") or {})
        quantity["value"] = json_number(d.authorized_quantity)
        added["quantity"] = quantity
    elif "quantity" in requested:
        added["quantity"] = requested["quantity"]
    if "unitPrice" in requested:
        added["unitPrice"] = requested["unitPrice"]
    added["adjudication"] = [_review_action(d, "A1")]
    return added


def line_trace(d: ItemDecision, naming: Naming, pre_auth_ref: str) -> dict[str, str]:
    """Our trace number of a line (X12 2000F TRN); also its DTR questionnaire context id."""
    return {"system": naming.authorization_system, "value": item_number(pre_auth_ref, d.sequence)}


def line_diagnoses(req: PasRequest, item: dict[str, Any]) -> list[dict[str, Any]]:
    """The diagnoses of a line as communicatedDiagnosis may carry them: those its
    diagnosisSequence names, else (a line naming none) every diagnosis of the request; coded
    or referenced (a Condition's code); only their codings in X12278DiagnosisCodes."""
    claim = req.claim.resource
    by_seq = {d.get("sequence"): d for d in claim.get("diagnosis") or [] if isinstance(d, dict)}
    chosen = [by_seq[s] for s in item.get("diagnosisSequence") or [] if s in by_seq]
    if not item.get("diagnosisSequence"):
        chosen = list(by_seq.values())

    def resolve(ref: Any) -> dict[str, Any] | None:
        entry = resolve_one(ref, req.claim, req.index)
        return entry.resource if entry is not None else None

    coded = (within(diagnosis_code(d, resolve), DIAGNOSIS_SYSTEMS) for d in chosen)
    return [c for c in coded if c]


def authorized_provider_extension(provider: str, *, typed: bool = True) -> dict[str, Any]:
    """itemAuthorizedProvider. On a line it says the provider type (Service Provider); at the
    ClaimResponse root it cannot: authorizedProviderType's declared context is the line's."""
    sub: list[dict[str, Any]] = [{"url": "provider", "valueReference": {"reference": provider}}]
    if typed:
        sub.append(
            pas_ext(
                "extension-authorizedProviderType",
                valueCodeableConcept={"coding": [_SERVICE_PROVIDER]},
            )
        )
    return pas_ext("extension-itemAuthorizedProvider", extension=sub)


def rendering_provider(req: PasRequest, ref: Any) -> str | None:
    """The fullUrl of the Practitioner or Organization a reference of the Claim stands for (a
    PractitionerRole gives its Practitioner)."""
    entry = resolve_one(ref, req.claim, req.index)
    if entry is not None and entry.type == "PractitionerRole":
        entry = resolve_one(entry.resource.get("practitioner"), entry, req.index)
    if entry is not None and entry.type in ("Practitioner", "Organization"):
        return entry.full_url
    return None


def _authorized_provider(req: PasRequest, d: ItemDecision) -> str | None:
    """The fullUrl of who may render a certified item: its care-team member, else the
    requesting provider."""
    if not d.certified:
        return None
    claim = req.claim.resource
    item = next((i for i in req.items if int(i["sequence"]) == d.sequence), {})
    team = {m.get("sequence"): m for m in claim.get("careTeam") or []}
    refs = [team[s].get("provider") for s in item.get("careTeamSequence") or [] if s in team]
    refs.append(claim.get("provider"))
    for ref in refs:
        found = rendering_provider(req, ref)
        if found:
            return found
    return None


def _line_extensions(
    d: ItemDecision,
    req: PasRequest,
    requested: dict[str, Any],
    naming: Naming,
    pre_auth_ref: str,
) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """What an item and its addItem both say, in two parts (before and after the line's own
    extensions): trace numbers, dates, authorization numbers; admission and discharge dates.
    Without a ``pre_auth_ref`` (a refused request) the line carries no number of ours."""
    traces = [
        e
        for e in extensions(requested, PAS + "extension-itemTraceNumber")
        if isinstance(e.get("valueIdentifier"), dict)
    ]
    if not pre_auth_ref:
        return [*traces, *_dates(d)], _stay(req, d)
    traces.append(
        pas_ext("extension-itemTraceNumber", valueIdentifier=line_trace(d, naming, pre_auth_ref))
    )
    head = [*traces, *_dates(d)]
    sent = extensions(requested, PAS + "extension-authorizationNumber")
    # A number carried over (a stored decision answered again) or cancelled was issued before
    # this answer; one the provider sent (REF-BB) is what the request refers to.
    previous = (sent[0].get("valueString") if sent else None) or (
        d.number if d.number and (not d.trace or d.action == "C") else None
    )
    if previous:
        head.append(pas_ext("extension-authorizationNumber", valueString=previous))
    head.append(pas_ext("extension-administrationReferenceNumber", valueString=pre_auth_ref))
    return head, _stay(req, d)


def _review_action(d: ItemDecision, action: str) -> dict[str, Any]:
    review: list[dict[str, Any]] = [
        {
            "url": f"{PAS}extension-reviewActionCode",
            "valueCodeableConcept": {
                "coding": [
                    {
                        "system": REVIEW_ACTION_SYSTEM,
                        "code": action,
                        "display": REVIEW_ACTIONS[action],
                    }
                ]
            },
        }
    ]
    if d.number:
        review.append({"url": "number", "valueString": d.number})
    if d.reason_code and action == d.action:
        concept: dict[str, Any] = {
            "coding": [{"system": DECISION_REASON_SYSTEM, "code": d.reason_code}]
        }
        if d.reason:
            concept["text"] = d.reason
        review.append({"url": "reasonCode", "valueCodeableConcept": concept})
    return {
        "extension": [{"url": f"{PAS}extension-reviewAction", "extension": review}],
        "category": {"coding": [{"system": ADJUDICATION_SYSTEM, "code": "submitted"}]},
    }


def _dates(d: ItemDecision) -> list[dict[str, Any]]:
    ext: list[dict[str, Any]] = []
    if d.issue_date:
        ext.append(pas_ext("extension-itemPreAuthIssueDate", valueDate=d.issue_date.isoformat()))
    if d.period:
        ext.append(pas_ext("extension-itemPreAuthPeriod", valuePeriod=period_of(d.period)))
    return ext


def _stay(req: PasRequest, d: ItemDecision) -> list[dict[str, Any]]:
    """Admission and discharge dates of a certified line, from the request's supportingInfo
    (PASTempCodes admissionDates, dischargeDates): the admission as asked, cut to the
    authorized period's end; the discharge date when it falls within the authorized period."""
    if not d.certified or not d.period:
        return []
    out: list[dict[str, Any]] = []
    end = d.period[1].isoformat()
    for info in req.claim.resource.get("supportingInfo") or []:
        codes = {c.get("code") for c in codings(info.get("category"))}
        if "admissionDates" in codes and not any("admission" in e["url"] for e in out):
            if info.get("timingDate"):
                out.append(pas_ext("extension-admissionDates", valueDate=info["timingDate"]))
            elif isinstance(info.get("timingPeriod"), dict):
                stay = dict(info["timingPeriod"])
                if str(stay.get("end") or "9999")[:10] > end:
                    stay["end"] = end
                out.append(pas_ext("extension-admissionDates", valuePeriod=stay))
        if "dischargeDates" in codes and not any("discharge" in e["url"] for e in out):
            day = info.get("timingDate") or (info.get("timingPeriod") or {}).get("end")
            if isinstance(day, str) and d.period[0].isoformat() <= day[:10] <= end:
                out.append(pas_ext("extension-dischargeDate", valueDate=day[:10]))
    return out
