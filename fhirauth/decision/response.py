"""Decision → PAS ClaimResponse → PAS response Bundle (plain dicts, serialized by the caller).

What the response carries, and where each element comes from (PAS 2.2.1 must-support):

* Payer-owned elements are always there: our authorization identifier and ``preAuthRef``, the
  X12 envelope ids (``TransmissionIdentifiers``, the request's swapped), the reviewer, the
  providers authorized for the whole request, the request-level ``adjudication`` (its review
  action, see :func:`request_action`, is the adjudication's reason: PAS 2.2.1 does not allow
  extension-reviewActionCode there), and per line our trace number
  (``itemTraceNumber``), our administrative reference (``administrationReferenceNumber`` = the
  ``preAuthRef``, which ``$inquire`` and ``$submit-attachment`` accept), the review action and,
  for what is certified, the dates, the authorized provider and the authorized detail.
* Elements that describe the member, the service or the stay are echoed from the request and
  never invented: the Claim identifier's ``subDepartment``/``jurisdiction``, the line's trace
  numbers and diagnoses (``communicatedDiagnosis``), admission and discharge dates
  (``supportingInfo`` admissionDates/dischargeDates), and on ``addItem`` the category,
  request and certification types, modifier, location, unit price, revenue code, code range
  end, EPSDT flag (false when not asked), nursing-home status and level of care, unit rate
  limit and the order behind the line (``requestedService``).
* ``error.extension[errorElement]`` names the FHIR element an error is about (we are
  FHIR-native: ``Coverage.identifier``, not an X12 loop and segment) and links the processNote
  that explains it.
* ``request`` references the answered Claim. When that Claim is not a PAS Claim (a Claim
  Update, whose ``related`` PAS Claim forbids, or a Claim refused for deviating from the PAS
  Claim profile) the reference is kept, so the answer can be traced, and the data-absent-reason
  ``not-permitted`` says that the PAS Claim the profile expects is not there.
* A pended line that waits for documentation gets a PAS CommunicationRequest per document
  (referenced from ``communicationRequest``) and one PAS Task (the provider's to-do list, an
  entry of the Bundle that nothing references) listing everything the line waits for.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import date, datetime
from decimal import Decimal
from typing import Any

from fhirauth.decision import clocks
from fhirauth.decision.decide import (
    CERTIFIED,
    REVIEW_ACTIONS,
    AaaError,
    Decision,
    ItemDecision,
    item_number,
)
from fhirauth.fhir.bundle import Entry, PasRequest
from fhirauth.fhir.systems import DIAGNOSIS_SYSTEMS, REQUESTED_SERVICE_SYSTEMS, within
from fhirauth.policy import Documentation, is_expedited
from fhirauth.policy.context import diagnosis_code

PAS = "http://hl7.org/fhir/us/davinci-pas/StructureDefinition/"
PAS_CODES = "http://hl7.org/fhir/us/davinci-pas/CodeSystem/PASTempCodes"
REVIEW_ACTION_SYSTEM = "https://codesystem.x12.org/005010/306"
DECISION_REASON_SYSTEM = "https://codesystem.x12.org/external/886"
REJECT_REASON_SYSTEM = "https://codesystem.x12.org/005010/901"
FOLLOWUP_SYSTEM = "https://codesystem.x12.org/005010/889"
REPORT_TYPE_SYSTEM = "https://codesystem.x12.org/005010/755"
ENTITY_TYPE_SYSTEM = "https://codesystem.x12.org/005010/98"
ADJUDICATION_SYSTEM = "http://terminology.hl7.org/CodeSystem/adjudication"
DATA_ABSENT_REASON = "http://hl7.org/fhir/StructureDefinition/data-absent-reason"
LOINC = "http://loinc.org"
# LOINC 102089-0: "complete the payer's questionnaire" (PAS additional information, ainfo-2).
QUESTIONNAIRE_REQUEST = "102089-0"
# The scope of every LOINC attachment we ask for (HIPAA minimum necessary): LOINC attachment
# modifier 18804-5, observations made 3 months or fewer before the start of service.
CONTENT_MODIFIER = {
    "system": LOINC,
    "code": "18804-5",
    "display": "Include all data of the selected type that represents observations made "
    "3 months or fewer before the starting date of service",
}
# PWK01 report type (X12 755) of the document a LOINC attachment code asks for.
_REPORT_TYPES = {
    "11506-3": ("09", "Progress Report"),
    "18748-4": ("DG", "Diagnostic Report"),
    "28570-0": ("OB", "Operative Note"),
    "18842-5": ("DS", "Discharge Summary"),
    "34117-2": ("P5", "Patient Medical History Document"),
}
_SUPPORT_DATA = ("OZ", "Support Data for Claim")
_SERVICE_PROVIDER = {"system": ENTITY_TYPE_SYSTEM, "code": "SJ", "display": "Service Provider"}
_SUMMARY = {
    "A1": "certified",
    "A2": "partially certified",
    "A3": "not certified",
    "A4": "pended",
    "A6": "certified with modifications",
    "C": "cancelled",
    "CT": "to discuss with the payer",
    "NA": "not requiring authorization",
}


@dataclass(frozen=True)
class Naming:
    """How resources we create are named: our base URL, identifier systems, fresh ids."""

    base_url: str
    authorization_system: str
    attachment_system: str
    new_id: Callable[[], str]

    def full_url(self, resource: dict[str, Any]) -> str:
        return f"{self.base_url}/{resource['resourceType']}/{resource['id']}"


def instant(at: datetime) -> str:
    return at.isoformat(timespec="seconds")


def _period(span: tuple[date, date | None]) -> dict[str, str]:
    out = {"start": span[0].isoformat()}
    if span[1]:
        out["end"] = span[1].isoformat()
    return out


def _number(value: Decimal) -> int | float:
    """A JSON number for ``value``: an integer when it is one that JSON (orjson) can hold."""
    if value == value.to_integral_value() and abs(value) < 2**63:
        return int(value)
    return float(value)


def _ext(name: str, **value: Any) -> dict[str, Any]:
    return {"url": PAS + name, **value}


def _pas_extensions(node: dict[str, Any], name: str) -> list[dict[str, Any]]:
    return [e for e in node.get("extension") or [] if e.get("url") == PAS + name]


def claim_response(
    req: PasRequest,
    decision: Decision,
    *,
    response_id: str,
    naming: Naming,
    due: datetime | None = None,
    inquiry: PasRequest | None = None,
) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """The ClaimResponse and the resources created alongside it: a PAS CommunicationRequest
    per missing document, then a PAS Task per pended line waiting for documentation.

    ``due`` is when the documentation is needed (the CMS decision clock; by default counted
    from the decision). With ``inquiry`` (the Claim Inquiry it answers) this is a PAS Claim
    Inquiry Response instead: no communicationRequest (the profile has none, spec-9), one
    communicatedDiagnosis per line, the inquiry's envelope ids swapped, and only the Tasks.
    """
    if decision.errors:
        # A refused request is not an authorization: no number of ours (preAuthRef, our
        # identifier, a line's number, trace number or administrative reference) and no
        # validity, whatever the caller's decision holds.
        decision = replace(
            decision,
            pre_auth_ref="",
            items=tuple(replace(d, number=None, period=None) for d in decision.items),
        )
    claim = req.claim.resource
    notes: list[dict[str, Any]] = []
    items_by_seq = {int(i["sequence"]): i for i in req.items}
    # A request that cannot be processed answers no items, so it asks for nothing either.
    comm_requests = (
        []
        if decision.errors or inquiry is not None
        else _communication_requests(req, decision, naming)
    )
    when = due or clocks.due_at(decision.decided_at, is_expedited(claim))
    tasks = [] if decision.errors else _tasks(req, decision, naming, when, comm_requests)
    # What the authorization covers when anything is certified; otherwise the dates asked for,
    # or (nothing asked) an open period from the decision date.
    period = (
        (None if decision.errors else decision.period)
        or decision.requested
        or (decision.decided_at.date(), None)
    )
    profile = "profile-claiminquiryresponse" if inquiry is not None else "profile-claimresponse"
    cr: dict[str, Any] = {
        "resourceType": "ClaimResponse",
        "id": response_id,
        "meta": {"profile": [f"{PAS}{profile}"]},
        "identifier": _identifiers(claim, decision, naming),
        "status": "active",
        "type": claim["type"],
        "use": "preauthorization",
        "patient": {"reference": req.patient.full_url},
        "created": instant(decision.decided_at),
        "insurer": {"reference": req.insurer.full_url},
        "requestor": _requestor(req),
        "request": _request(req, decision),
        "outcome": "error" if decision.errors else "complete",
        "disposition": disposition(decision),
        "preAuthRef": decision.pre_auth_ref,
        "preAuthPeriod": _period(period),
    }
    # None to name: an inquiry that matched nothing, a refused request without identifiers.
    for key in ("identifier", "requestor", "preAuthRef"):
        if not cr[key]:
            del cr[key]
    extensions = [_transmission(inquiry or req, req), _reviewer(decision)]
    extensions += [
        _authorized_provider_extension(url, typed=False)
        for url in ([] if decision.errors else _request_providers(req, decision))
    ]
    cr["extension"] = [e for e in extensions if e]
    diagnoses_per_line = 1 if inquiry is not None else None
    if decision.items:
        cr["item"] = [
            _item(
                d,
                notes,
                req,
                items_by_seq.get(d.sequence, {}),
                naming,
                decision.pre_auth_ref,
                diagnoses_per_line,
            )
            for d in decision.items
        ]
    if not decision.errors:
        added = [
            _add_item(d, req, items_by_seq[d.sequence], naming, decision.pre_auth_ref)
            for d in decision.items
            if d.action == "A6" and d.sequence in items_by_seq
        ]
        if added:
            cr["addItem"] = added
    action = request_action(decision)
    if action:
        cr["adjudication"] = [_request_adjudication(action, decision)]
    if req.deviations and not decision.errors and inquiry is None:
        # For the sender's technical staff (printoper), not the clinician (spec-40/41).
        notes.append({"number": len(notes) + 1, "type": "printoper", "text": deviations_note(req)})
    if notes:
        cr["processNote"] = notes
    if comm_requests:
        cr["communicationRequest"] = [{"reference": naming.full_url(c)} for c in comm_requests]
    if decision.errors:
        types = {e.index: e.type for e in req.entries}
        cr["error"] = [_error(e, notes, types) for e in decision.errors]
        cr["processNote"] = notes
    return cr, [*comm_requests, *tasks]


def deviations_note(req: PasRequest) -> str:
    n = req.deviations
    return (
        f"The request deviates from the PAS profiles in {n} place{'s' if n != 1 else ''}; "
        "none of them affects the decision, which was made on the data received. The payer "
        "keeps the list with this request for the sender's technical staff."
    )


def disposition(decision: Decision) -> str:
    if decision.errors:
        return "The request could not be processed: " + "; ".join(
            AaaError(*e).text for e in decision.errors
        )
    counts = Counter(d.action for d in decision.items)
    parts = [f"{n} item{'s' if n > 1 else ''} {_SUMMARY[a]}" for a, n in sorted(counts.items())]
    if not parts:
        return "The whole request is cancelled." if decision.header_action == "C" else "."
    return "; ".join(parts) + "."


def request_action(decision: Decision) -> str | None:
    """The review action of the request as a whole (ClaimResponse.adjudication): C for a whole
    cancel; A4 while any line is pended; else the one action all lines that still need
    authorization share (lines needing none, NA, and cancelled lines, C, set it only when they
    are all there is); A2 when some are certified and others not, A6 when all are certified
    but some modified (A2 if any is partial); CT when nothing is certified. None when the
    request could not be processed."""
    if decision.errors:
        return None
    if decision.header_action:
        return decision.header_action
    actions = {d.action for d in decision.items}
    if not actions:
        return None
    live = actions - {"NA", "C"}
    if not live:
        return "C" if "C" in actions else "NA"
    if "A4" in live:
        return "A4"
    if len(live) == 1:
        return live.pop()
    if not live & CERTIFIED:
        return "CT"
    if live - CERTIFIED or "A2" in live:
        return "A2"
    return "A6"


def _request_adjudication(action: str, decision: Decision) -> dict[str, Any]:
    """ClaimResponse.adjudication: the request as a whole. Its review action is the
    adjudication's reason: PAS 2.2.1 declares extension-reviewActionCode's context as the item
    and addItem adjudications only, so a reviewAction code here is a validator error (not among
    the IG's or Inferno's suppressed messages). The reviewAction carries the certification
    number of the request (HCR02: the preAuthRef) when it is certified or cancelled."""
    out: dict[str, Any] = {}
    if action in CERTIFIED or action == "C":
        number = {"url": "number", "valueString": decision.pre_auth_ref}
        out["extension"] = [_ext("extension-reviewAction", extension=[number])]
    out["category"] = {"coding": [{"system": ADJUDICATION_SYSTEM, "code": "submitted"}]}
    out["reason"] = {
        "coding": [
            {"system": REVIEW_ACTION_SYSTEM, "code": action, "display": REVIEW_ACTIONS[action]}
        ],
        "text": f"The request as a whole: {_SUMMARY[action]}",
    }
    return out


def _identifiers(claim: dict[str, Any], decision: Decision, naming: Naming) -> list[dict[str, Any]]:
    """Our authorization number, then the Claim's identifiers (its TRNs) as sent, with the
    PASIdentifier extensions (subDepartment, jurisdiction) they carry."""
    out: list[dict[str, Any]] = (
        [{"system": naming.authorization_system, "value": decision.pre_auth_ref}]
        if decision.pre_auth_ref
        else []
    )
    for ident in claim.get("identifier") or []:
        if not (isinstance(ident, dict) and ident.get("system") and ident.get("value")):
            continue
        echoed: dict[str, Any] = {}
        kept = [
            e
            for e in ident.get("extension") or []
            if isinstance(e, dict)
            and e.get("url")
            in (PAS + "extension-identifierSubDepartment", PAS + "extension-identifierJurisdiction")
        ]
        if kept:
            echoed["extension"] = kept
        echoed |= {"system": ident["system"], "value": ident["value"]}
        out.append(echoed)
    return out


def _request(req: PasRequest, decision: Decision) -> dict[str, Any]:
    claim = req.claim.resource
    request: dict[str, Any] = {}
    claim_deviates = any(
        (AaaError(*e).path or "").startswith(req.claim.path) for e in decision.errors
    )
    if req.is_update or claim_deviates:
        # ClaimResponse.request targets the PAS Claim profile, which a Claim Update (related
        # 0..0 there) or a Claim refused for deviating from it is not.
        request["extension"] = [{"url": DATA_ABSENT_REASON, "valueCode": "not-permitted"}]
    request["reference"] = req.claim.full_url
    idents = [i for i in claim.get("identifier") or [] if isinstance(i, dict) and i.get("value")]
    if idents and idents[0].get("system"):
        request["identifier"] = {"system": idents[0]["system"], "value": idents[0]["value"]}
    return request


def _first_identifier(resource: dict[str, Any]) -> dict[str, str] | None:
    for ident in resource.get("identifier") or []:
        if isinstance(ident, dict) and ident.get("system") and ident.get("value"):
            return {"system": str(ident["system"]), "value": str(ident["value"])}
    return None


def _transmission(answering: PasRequest, req: PasRequest) -> dict[str, Any] | None:
    """X12 envelope ids of our answer: the request's with sender and receiver swapped. A
    request without them (a FHIR-native client) is answered from the payer's identifier (the
    insurer's, as the request names it) to the provider's."""
    sent = _pas_extensions(answering.claim.resource, "extension-TransmissionIdentifiers")
    parts = {
        e.get("url"): e.get("valueString")
        for e in (sent[0].get("extension") or [] if sent else [])
        if isinstance(e, dict)
    }
    payer = _first_identifier(req.insurer.resource) or {}
    provider = _first_identifier(req.provider.resource) or {}
    swapped = [
        ("applicationSenderCode", parts.get("applicationReceiverCode") or payer.get("value")),
        ("applicationReceiverCode", parts.get("applicationSenderCode") or provider.get("value")),
        ("interchangeSenderID", parts.get("interchangeReceiverID")),
        ("interchangeReceiverID", parts.get("interchangeSenderID")),
    ]
    if not (swapped[0][1] and swapped[1][1]):
        return None
    return _ext(
        "extension-TransmissionIdentifiers",
        extension=[{"url": name, "valueString": value} for name, value in swapped if value],
    )


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
        ext.append(_ext("extension-itemPreAuthIssueDate", valueDate=d.issue_date.isoformat()))
    if d.period:
        ext.append(_ext("extension-itemPreAuthPeriod", valuePeriod=_period(d.period)))
    return ext


def _reviewer(decision: Decision) -> dict[str, Any]:
    """claimResponseReviewer: whether a person decided (issue 5's reviewers) or the policy."""
    sub: list[dict[str, Any]] = [
        {"url": "wasHumanReviewedFlag", "valueBoolean": decision.reviewer_npi is not None}
    ]
    if decision.reviewer_npi:
        sub.append(
            {
                "url": "reviewerNPI",
                "valueIdentifier": {
                    "system": "http://hl7.org/fhir/sid/us-npi",
                    "value": decision.reviewer_npi,
                },
            }
        )
    return {"url": f"{PAS}extension-claimResponseReviewer", "extension": sub}


def _authorized_provider_extension(provider: str, *, typed: bool = True) -> dict[str, Any]:
    """itemAuthorizedProvider. On a line it says the provider type (Service Provider); at the
    ClaimResponse root it cannot: authorizedProviderType's declared context is the line's."""
    sub: list[dict[str, Any]] = [{"url": "provider", "valueReference": {"reference": provider}}]
    if typed:
        sub.append(
            _ext(
                "extension-authorizedProviderType",
                valueCodeableConcept={"coding": [_SERVICE_PROVIDER]},
            )
        )
    return _ext("extension-itemAuthorizedProvider", extension=sub)


def _rendering(req: PasRequest, ref: Any) -> str | None:
    """The fullUrl of the Practitioner or Organization a reference of the Claim stands for (a
    PractitionerRole gives its Practitioner)."""
    entry = _one(req, ref, req.claim)
    if entry is not None and entry.type == "PractitionerRole":
        entry = _one(req, entry.resource.get("practitioner"), entry)
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
        found = _rendering(req, ref)
        if found:
            return found
    return None


def _request_providers(req: PasRequest, decision: Decision) -> list[str]:
    """The providers authorized for the request as a whole (X12 2010EA at the patient event):
    the care-team members whose careTeamClaimScope says they serve the whole claim, else the
    requesting provider. Only when something is certified."""
    if not any(d.certified for d in decision.items):
        return []
    claim = req.claim.resource
    whole = [
        m.get("provider")
        for m in claim.get("careTeam") or []
        if any(
            e.get("valueBoolean") is True
            for e in _pas_extensions(m, "extension-careTeamClaimScope")
        )
    ]
    found = [u for u in (_rendering(req, r) for r in whole) if u]
    if not found:
        found = [u for u in [_rendering(req, claim.get("provider"))] if u]
    return list(dict.fromkeys(found))


def _one(req: PasRequest, ref: Any, referrer: Entry) -> Entry | None:
    if not isinstance(ref, dict) or not isinstance(ref.get("reference"), str):
        return None
    found = req.resolve(ref["reference"], referrer)
    return found[0] if len(found) == 1 else None


def _diagnoses(req: PasRequest, item: dict[str, Any]) -> list[dict[str, Any]]:
    """The diagnoses of a line as communicatedDiagnosis may carry them: those its
    diagnosisSequence names, else (a line naming none) every diagnosis of the request; coded
    or referenced (a Condition's code); only their codings in X12278DiagnosisCodes."""
    claim = req.claim.resource
    by_seq = {d.get("sequence"): d for d in claim.get("diagnosis") or [] if isinstance(d, dict)}
    chosen = [by_seq[s] for s in item.get("diagnosisSequence") or [] if s in by_seq]
    if not item.get("diagnosisSequence"):
        chosen = list(by_seq.values())

    def resolve(ref: Any) -> dict[str, Any] | None:
        entry = _one(req, ref, req.claim)
        return entry.resource if entry is not None else None

    coded = (within(diagnosis_code(d, resolve), DIAGNOSIS_SYSTEMS) for d in chosen)
    return [c for c in coded if c]


def _stay(req: PasRequest, d: ItemDecision) -> list[dict[str, Any]]:
    """Admission and discharge dates of a certified line, from the request's supportingInfo
    (PASTempCodes admissionDates, dischargeDates): the admission as asked, cut to the
    authorized period's end; the discharge date when it falls within the authorized period."""
    if not d.certified or not d.period:
        return []
    out: list[dict[str, Any]] = []
    end = d.period[1].isoformat()
    for info in req.claim.resource.get("supportingInfo") or []:
        codes = {c.get("code") for c in (info.get("category") or {}).get("coding") or []}
        if "admissionDates" in codes and not any("admission" in e["url"] for e in out):
            if info.get("timingDate"):
                out.append(_ext("extension-admissionDates", valueDate=info["timingDate"]))
            elif isinstance(info.get("timingPeriod"), dict):
                stay = dict(info["timingPeriod"])
                if str(stay.get("end") or "9999")[:10] > end:
                    stay["end"] = end
                out.append(_ext("extension-admissionDates", valuePeriod=stay))
        if "dischargeDates" in codes and not any("discharge" in e["url"] for e in out):
            day = info.get("timingDate") or (info.get("timingPeriod") or {}).get("end")
            if isinstance(day, str) and d.period[0].isoformat() <= day[:10] <= end:
                out.append(_ext("extension-dischargeDate", valueDate=day[:10]))
    return out


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
        for e in _pas_extensions(requested, "extension-itemTraceNumber")
        if isinstance(e.get("valueIdentifier"), dict)
    ]
    if not pre_auth_ref:
        return [*traces, *_dates(d)], _stay(req, d)
    traces.append(
        _ext("extension-itemTraceNumber", valueIdentifier=_trace(d, naming, pre_auth_ref))
    )
    head = [*traces, *_dates(d)]
    sent = _pas_extensions(requested, "extension-authorizationNumber")
    # A number carried over (a stored decision answered again) or cancelled was issued before
    # this answer; one the provider sent (REF-BB) is what the request refers to.
    previous = (sent[0].get("valueString") if sent else None) or (
        d.number if d.number and (not d.trace or d.action == "C") else None
    )
    if previous:
        head.append(_ext("extension-authorizationNumber", valueString=previous))
    head.append(_ext("extension-administrationReferenceNumber", valueString=pre_auth_ref))
    return head, _stay(req, d)


def _trace(d: ItemDecision, naming: Naming, pre_auth_ref: str) -> dict[str, str]:
    """Our trace number of a line (X12 2000F TRN); also its DTR questionnaire context id."""
    return {"system": naming.authorization_system, "value": item_number(pre_auth_ref, d.sequence)}


def _item(
    d: ItemDecision,
    notes: list[dict[str, Any]],
    req: PasRequest,
    requested: dict[str, Any],
    naming: Naming,
    pre_auth_ref: str,
    diagnoses_per_line: int | None,
) -> dict[str, Any]:
    head, stay = _line_extensions(d, req, requested, naming, pre_auth_ref)
    ext = head
    if d.requested:
        ext.append(_ext("extension-itemRequestedServiceDate", valuePeriod=_period(d.requested)))
    provider = _authorized_provider(req, d)
    if provider:
        ext.append(_authorized_provider_extension(provider))
    if d.certified and d.action != "A6":
        detail: list[dict[str, Any]] = []
        code = within(requested.get("productOrService"), REQUESTED_SERVICE_SYSTEMS)
        if code:
            detail.append({"url": "productOrServiceCode", "valueCodeableConcept": code})
        quantity = dict(requested.get("quantity") or {})
        if d.authorized_quantity is not None:
            quantity["value"] = _number(d.authorized_quantity)
        if quantity.get("value") is not None:
            detail.append({"url": "quantity", "valueQuantity": quantity})
        if detail:
            ext.append(_ext("extension-itemAuthorizedDetail", extension=detail))
    ext += stay
    diagnoses = _diagnoses(req, requested) if requested else []
    ext += [
        _ext("extension-communicatedDiagnosis", valueCodeableConcept=c)
        for c in diagnoses[:diagnoses_per_line]
    ]
    item: dict[str, Any] = {"extension": ext, "itemSequence": d.sequence}
    if d.reason and d.action != "A4":
        number = len(notes) + 1
        notes.append({"number": number, "type": "display", "text": d.reason})
        item["noteNumber"] = [number]
    item["adjudication"] = [_review_action(d, d.action)]
    return item


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


def _add_item(
    d: ItemDecision, req: PasRequest, requested: dict[str, Any], naming: Naming, pre_auth_ref: str
) -> dict[str, Any]:
    """spec-36/37: a modified item is answered A6; what was authorized goes in addItem, with
    the line's own details as the request gave them and the authorized quantity and period."""
    head, stay = _line_extensions(d, req, requested, naming, pre_auth_ref)
    ext = head
    if isinstance(requested.get("category"), dict):
        ext.append(_ext("extension-itemCategory", valueCodeableConcept=requested["category"]))
    for name in _ECHOED_ON_ADD_ITEM:
        ext += _pas_extensions(requested, name)[:1]
    if not _pas_extensions(requested, "extension-epsdtIndicator"):
        # Not asked for under EPSDT, so not authorized under it.
        ext.append(_ext("extension-epsdtIndicator", valueBoolean=False))
    if isinstance(requested.get("revenue"), dict):
        ext.append(_ext("extension-revenueCode", valueCodeableConcept=requested["revenue"]))
    order = _pas_extensions(requested, "extension-requestedService")
    if order:
        target = _one(req, order[0].get("valueReference"), req.claim)
        if target is not None:
            ext.append(
                _ext("extension-requestedService", valueReference={"reference": target.full_url})
            )
    ext += stay
    added: dict[str, Any] = {"extension": ext, "itemSequence": [d.sequence]}
    provider = _authorized_provider(req, d)
    if provider:
        added["provider"] = [
            {
                "extension": [
                    _ext(
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
        added["servicedPeriod"] = _period(d.period)
    else:
        for key in ("servicedDate", "servicedPeriod"):
            if key in requested:
                added[key] = requested[key]
    for key in ("locationCodeableConcept", "locationAddress"):
        if key in requested:
            added[key] = requested[key]
    if "locationReference" in requested:
        target = _one(req, requested["locationReference"], req.claim)
        if target is not None:
            added["locationReference"] = {"reference": target.full_url}
    if d.authorized_quantity is not None:
        quantity = dict(requested.get("quantity") or {})
        quantity["value"] = _number(d.authorized_quantity)
        added["quantity"] = quantity
    elif "quantity" in requested:
        added["quantity"] = requested["quantity"]
    if "unitPrice" in requested:
        added["unitPrice"] = requested["unitPrice"]
    added["adjudication"] = [_review_action(d, "A1")]
    return added


_FOLLOWUPS = {
    "C": "Please correct and resubmit",
    "N": "Resubmission not allowed; submit a new request",
    "P": "Please resubmit the original transaction",
    "R": "Resubmission allowed",
}
_INDEX = re.compile(r"\[\d+\]")


def element_name(path: str | None, types: dict[int, str]) -> str | None:
    """The FHIR element a FHIRPath from the Bundle is about, by resource type and element
    names (``Bundle.entry[3].resource.identifier[0]`` → ``Coverage.identifier``): what
    errorElement carries for a FHIR-native payer, where X12 puts a loop and segment."""
    if not path:
        return None
    m = re.match(r"^Bundle\.entry\[(\d+)\]\.resource(.*)$", path)
    if m and int(m.group(1)) in types:
        path = types[int(m.group(1))] + m.group(2)
    return _INDEX.sub("", path)


def _error(
    error: tuple[Any, ...], notes: list[dict[str, Any]], types: dict[int, str]
) -> dict[str, Any]:
    err = AaaError(*error)
    number = len(notes) + 1
    notes.append({"number": number, "type": "display", "text": err.text})
    element: list[dict[str, Any]] = [{"url": "processNote", "valuePositiveInt": number}]
    name = element_name(err.path, types)
    if name:
        element.append({"url": "error", "valueString": name})
    ext: list[dict[str, Any]] = [
        _ext(
            "extension-errorFollowupAction",
            valueCodeableConcept={
                "coding": [{"system": FOLLOWUP_SYSTEM, "code": err.followup}],
                "text": _FOLLOWUPS.get(err.followup, err.followup),
            },
        ),
        _ext("extension-errorElement", extension=element),
    ]
    if err.path:
        ext.append(_ext("extension-errorPath", valueString=err.path))
    return {
        "extension": ext,
        "code": {"coding": [{"system": REJECT_REASON_SYSTEM, "code": err.code}], "text": err.text},
    }


def _requestor(req: PasRequest) -> dict[str, str] | None:
    """ClaimResponse.requestor, which PAS allows to be an Organization or a PractitionerRole: the
    requesting provider, or (a Practitioner) a PractitionerRole of the bundle that is theirs."""
    if req.provider.type in ("Organization", "PractitionerRole"):
        return {"reference": req.provider.full_url}
    for entry in req.entries:
        if entry.type != "PractitionerRole":
            continue
        practitioner = _one(req, entry.resource.get("practitioner"), entry)
        if practitioner is not None and practitioner.full_url == req.provider.full_url:
            return {"reference": entry.full_url}
    return None


def _recipients(req: PasRequest) -> list[dict[str, str]] | None:
    """CommunicationRequest.recipient, a Practitioner or an Organization: the requesting
    provider, or a requesting PractitionerRole's practitioner (else its organization)."""
    entry: Entry | None = req.provider
    if req.provider.type == "PractitionerRole":
        role = req.provider.resource
        entry = _one(req, role.get("practitioner"), req.provider) or _one(
            req, role.get("organization"), req.provider
        )
    if entry is None or entry.type not in ("Practitioner", "Organization"):
        return None
    return [{"reference": entry.full_url}]


def _sender(req: PasRequest) -> str | None:
    """Who is to send the documentation (PAS Requestor, an Organization): the requesting
    provider, or the organization of a requesting PractitionerRole."""
    if req.provider.type == "Organization":
        return req.provider.full_url
    if req.provider.type == "PractitionerRole":
        org = _one(req, req.provider.resource.get("organization"), req.provider)
        if org is not None and org.type == "Organization":
            return org.full_url
    return None


def _report_type(doc: Documentation) -> dict[str, str]:
    code, display = _REPORT_TYPES.get(doc.code or "", _SUPPORT_DATA)
    return {"system": REPORT_TYPE_SYSTEM, "code": code, "display": display}


def _communication_requests(
    req: PasRequest, decision: Decision, naming: Naming
) -> list[dict[str, Any]]:
    """PAS CommunicationRequests: one per missing piece of documentation of a pended item."""
    out = []
    items_by_seq = {int(i["sequence"]): i for i in req.items}
    sender = _sender(req)
    for d in decision.items:
        diagnoses = _diagnoses(req, items_by_seq.get(d.sequence, {}))
        for n, doc in enumerate(d.missing, start=1):
            payload_ext = [
                _ext("extension-communicatedDiagnosis", valueCodeableConcept=c) for c in diagnoses
            ]
            if doc.code:
                payload_ext.append(
                    _ext(
                        "extension-contentModifier",
                        valueCodeableConcept={"coding": [CONTENT_MODIFIER]},
                    )
                )
            payload: dict[str, Any] = {"contentString": doc.code or QUESTIONNAIRE_REQUEST}
            if payload_ext:
                payload = {"extension": payload_ext, **payload}
            resource: dict[str, Any] = {
                "resourceType": "CommunicationRequest",
                "id": naming.new_id(),
                "meta": {"profile": [f"{PAS}profile-communicationrequest"]},
                "extension": [_ext("extension-serviceLineNumber", valuePositiveInt=d.sequence)],
                # The attachment control number: CDex $submit-attachment's TrackingId.
                "identifier": [
                    {
                        "system": naming.attachment_system,
                        "value": f"{decision.pre_auth_ref}-{d.sequence}-{n}",
                    }
                ],
                "status": "active",
                "category": [{"coding": [_report_type(doc)]}],
                "medium": [{"coding": [{"system": PAS_CODES, "code": "CDEX"}]}],
                "subject": {"reference": req.patient.full_url},
                "payload": [payload],
                "authoredOn": instant(decision.decided_at),
                "requester": {"reference": req.insurer.full_url},
                "recipient": _recipients(req),
            }
            if not resource["recipient"]:
                del resource["recipient"]
            if sender:
                resource["sender"] = {"reference": sender}
            resource["note"] = [
                {
                    "text": doc.description
                    + (f" (questionnaire {doc.questionnaire})" if doc.questionnaire else "")
                }
            ]
            out.append(resource)
    return out


def _coded(code: str) -> dict[str, Any]:
    return {"coding": [{"system": PAS_CODES, "code": code}]}


def _tasks(
    req: PasRequest,
    decision: Decision,
    naming: Naming,
    due: datetime,
    comm_requests: list[dict[str, Any]],
) -> list[dict[str, Any]]:
    """PAS Tasks: for each pended line waiting for documentation, the provider's to-do list
    (REQUIREMENTS.md §4), ready for an EHR to act on: where to send it ($submit-attachment),
    each LOINC document needed and each questionnaire to complete (its DTR context id is the
    line's trace number), for which line, by when (the CMS decision clock)."""
    payer = _first_identifier(req.insurer.resource) or {
        "system": "urn:ietf:rfc:3986",
        "value": naming.base_url,
    }
    provider = _first_identifier(req.provider.resource) or {
        "system": "urn:ietf:rfc:3986",
        "value": req.provider.full_url,
    }
    out = []
    for d in decision.items:
        if d.action != "A4" or not d.missing:
            continue
        line = _ext("extension-serviceLineNumber", valuePositiveInt=d.sequence)
        inputs: list[dict[str, Any]] = [
            {"type": _coded("payer-url"), "valueUrl": f"{naming.base_url}/$submit-attachment"}
        ]
        for doc in d.missing:
            if doc.code:
                inputs.append(
                    {
                        "extension": [
                            line,
                            _ext(
                                "extension-contentModifier",
                                valueCodeableConcept={"coding": [CONTENT_MODIFIER]},
                            ),
                        ],
                        "type": _coded("attachments-needed"),
                        "valueCodeableConcept": {
                            "coding": [{"system": LOINC, "code": doc.code}],
                            "text": doc.description,
                        },
                    }
                )
            else:
                inputs.append(
                    {
                        "extension": [line],
                        "type": _coded("questionnaire-context"),
                        "valueString": _trace(d, naming, decision.pre_auth_ref)["value"],
                    }
                )
        wanted = "; ".join(
            doc.description + (f" (questionnaire {doc.questionnaire})" if doc.questionnaire else "")
            for doc in d.missing
        )
        task: dict[str, Any] = {
            "resourceType": "Task",
            "id": naming.new_id(),
            "meta": {"profile": [f"{PAS}profile-task"]},
            # The line's attachment tracking id: $submit-attachment takes it as TrackingId
            # (each document then names its LineItem and Code).
            "identifier": [
                {
                    "system": naming.attachment_system,
                    "value": item_number(decision.pre_auth_ref, d.sequence),
                }
            ],
        }
        based_on = [
            {"reference": naming.full_url(c)}
            for c in comm_requests
            if c["extension"][0]["valuePositiveInt"] == d.sequence
        ]
        if based_on:
            task["basedOn"] = based_on
        task |= {
            "status": "requested",
            "statusReason": {
                "text": f"Item {d.sequence} is pended until the payer has this documentation"
            },
            "intent": "order",
            "code": _coded(
                "attachment-request-code"
                if any(doc.code for doc in d.missing)
                else "attachment-request-questionnaire"
            ),
            "description": f"Send for item {d.sequence}: {wanted}",
            "for": {"reference": req.patient.full_url},
            "authoredOn": instant(decision.decided_at),
            "requester": {"reference": req.insurer.full_url, "identifier": payer},
            "owner": {"reference": req.provider.full_url, "identifier": provider},
            "reasonCode": _coded("priorAuthorization"),
            "reasonReference": {"reference": req.claim.full_url},
            "restriction": {"period": {"end": instant(due)}},
            "input": inputs,
        }
        out.append(task)
    return out


def response_bundle(
    req: PasRequest,
    cr: dict[str, Any],
    *,
    created: list[dict[str, Any]],
    naming: Naming,
    bundle_id: str,
    now: datetime,
    profile: str = "profile-pas-response-bundle",
) -> dict[str, Any]:
    """The PAS response Bundle: the ClaimResponse first, the resources created with it, then
    every resource they reference (and what those reference), echoed with the fullUrl they had
    in the request (spec-33). The Claim is among them, so every reference resolves, except
    for a Claim Update that cancels the whole request without items (REQUIREMENTS.md §9.4):
    PAS Claim Update requires items, so that Claim is referenced (``request``) but not sent
    back, which the IG allows ("This Claim resource does not need to be included")."""
    echoed: dict[str, Entry] = {}
    answered = [req.claim] if req.claim.resource.get("item") or not req.is_update else []
    queue = [*answered, req.patient, req.insurer, req.provider]
    while queue:
        entry = queue.pop(0)
        if entry.full_url in echoed:
            continue
        echoed[entry.full_url] = entry
        for ref in _refs(entry.resource):
            targets = req.resolve(ref, entry)
            if len(targets) == 1:
                queue.append(targets[0])
    ours = [cr, *created]
    return {
        "resourceType": "Bundle",
        "id": bundle_id,
        "meta": {"profile": [f"{PAS}{profile}"]},
        "identifier": {"system": "urn:ietf:rfc:3986", "value": f"urn:uuid:{_uuid(bundle_id)}"},
        "type": "collection",
        "timestamp": instant(now),
        "entry": [{"fullUrl": naming.full_url(r), "resource": r} for r in ours]
        + [{"fullUrl": url, "resource": e.resource} for url, e in echoed.items()],
    }


def _uuid(hex32: str) -> str:
    h = hex32.replace("-", "")
    return f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:32]}"


def _refs(node: Any) -> list[str]:
    out: list[str] = []
    if isinstance(node, dict):
        if isinstance(node.get("reference"), str) and not node["reference"].startswith("#"):
            out.append(node["reference"])
        for k, v in node.items():
            if k != "contained":
                out += _refs(v)
    elif isinstance(node, list):
        for v in node:
            out += _refs(v)
    return out
