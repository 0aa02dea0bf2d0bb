"""Decision → PAS ClaimResponse → PAS response Bundle (plain dicts, serialized by the caller)."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from typing import Any

from fhirauth.decision.decide import REVIEW_ACTIONS, AaaError, Decision, ItemDecision
from fhirauth.fhir.bundle import Entry, PasRequest

PAS = "http://hl7.org/fhir/us/davinci-pas/StructureDefinition/"
PAS_CODES = "http://hl7.org/fhir/us/davinci-pas/CodeSystem/PASTempCodes"
REVIEW_ACTION_SYSTEM = "https://codesystem.x12.org/005010/306"
DECISION_REASON_SYSTEM = "https://codesystem.x12.org/external/886"
REJECT_REASON_SYSTEM = "https://codesystem.x12.org/005010/901"
FOLLOWUP_SYSTEM = "https://codesystem.x12.org/005010/889"
ADJUDICATION_SYSTEM = "http://terminology.hl7.org/CodeSystem/adjudication"
LOINC = "http://loinc.org"
# LOINC 102089-0: "complete the payer's questionnaire" (PAS additional information, ainfo-2).
QUESTIONNAIRE_REQUEST = "102089-0"
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
    return int(value) if value == value.to_integral_value() else float(value)


def claim_response(
    req: PasRequest, decision: Decision, *, response_id: str, naming: Naming
) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """The ClaimResponse and the resources it creates alongside (CommunicationRequests)."""
    claim = req.claim.resource
    notes: list[dict[str, Any]] = []
    items_by_seq = {int(i["sequence"]): i for i in req.items}
    # A request that cannot be processed answers no items, so it asks for nothing either.
    comm_requests = [] if decision.errors else _communication_requests(req, decision, naming)
    identifiers = [{"system": naming.authorization_system, "value": decision.pre_auth_ref}]
    identifiers += [
        {"system": i["system"], "value": i["value"]}
        for i in claim.get("identifier") or []
        if i.get("system") and i.get("value")
    ]
    request: dict[str, Any] = {"reference": req.claim.full_url}
    if identifiers[1:]:
        request["identifier"] = identifiers[1]
    # What the authorization covers when anything is certified; otherwise the dates asked for,
    # or (nothing asked) an open period from the decision date.
    period = (
        (None if decision.errors else decision.period)
        or decision.requested
        or (decision.decided_at.date(), None)
    )
    cr: dict[str, Any] = {
        "resourceType": "ClaimResponse",
        "id": response_id,
        "meta": {"profile": [f"{PAS}profile-claimresponse"]},
        "identifier": identifiers,
        "status": "active",
        "type": claim["type"],
        "use": "preauthorization",
        "patient": {"reference": req.patient.full_url},
        "created": instant(decision.decided_at),
        "insurer": {"reference": req.insurer.full_url},
        "requestor": {"reference": req.provider.full_url},
        "request": request,
        "outcome": "error" if decision.errors else "complete",
        "disposition": disposition(decision),
        "preAuthRef": decision.pre_auth_ref,
        "preAuthPeriod": _period(period),
    }
    cr["extension"] = [_reviewer(decision)]
    if decision.items:
        cr["item"] = [
            _item(d, notes, items_by_seq.get(d.sequence, {}), _authorized_provider(req, d))
            for d in decision.items
        ]
    if not decision.errors:
        added = [_add_item(d, items_by_seq[d.sequence]) for d in decision.items if d.action == "A6"]
        if added:
            cr["addItem"] = added
    if decision.header_action:
        cr["adjudication"] = [
            _review_action(ItemDecision(0, decision.header_action, None), decision.header_action)
        ]
    if notes:
        cr["processNote"] = notes
    if comm_requests:
        cr["communicationRequest"] = [{"reference": naming.full_url(c)} for c in comm_requests]
    if decision.errors:
        cr["error"] = [_error(e, notes) for e in decision.errors]
        cr["processNote"] = notes
    return cr, comm_requests


def disposition(decision: Decision) -> str:
    if decision.errors:
        return "The request could not be processed: " + "; ".join(
            AaaError(*e).text for e in decision.errors
        )
    counts = Counter(d.action for d in decision.items)
    parts = [f"{n} item{'s' if n > 1 else ''} {_SUMMARY[a]}" for a, n in sorted(counts.items())]
    return "; ".join(parts) + "."


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
        ext.append(
            {"url": f"{PAS}extension-itemPreAuthIssueDate", "valueDate": d.issue_date.isoformat()}
        )
    if d.period:
        ext.append({"url": f"{PAS}extension-itemPreAuthPeriod", "valuePeriod": _period(d.period)})
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


def _authorized_provider(req: PasRequest, d: ItemDecision) -> str | None:
    """The fullUrl of who may render a certified item: its care-team member, else the
    requesting provider (a PractitionerRole gives its Practitioner)."""
    if not d.certified:
        return None
    claim = req.claim.resource
    item = next((i for i in req.items if int(i["sequence"]) == d.sequence), {})
    team = {m.get("sequence"): m for m in claim.get("careTeam") or []}
    refs = [team[s].get("provider") for s in item.get("careTeamSequence") or [] if s in team]
    refs.append(claim.get("provider"))
    for ref in refs:
        entry = _one(req, ref, req.claim)
        if entry is not None and entry.type == "PractitionerRole":
            entry = _one(req, entry.resource.get("practitioner"), entry)
        if entry is not None and entry.type in ("Practitioner", "Organization"):
            return entry.full_url
    return None


def _one(req: PasRequest, ref: Any, referrer: Entry) -> Entry | None:
    if not isinstance(ref, dict) or not isinstance(ref.get("reference"), str):
        return None
    found = req.resolve(ref["reference"], referrer)
    return found[0] if len(found) == 1 else None


def _item(
    d: ItemDecision, notes: list[dict[str, Any]], requested: dict[str, Any], provider: str | None
) -> dict[str, Any]:
    ext = _dates(d)
    if d.requested:
        ext.append(
            {"url": f"{PAS}extension-itemRequestedServiceDate", "valuePeriod": _period(d.requested)}
        )
    if provider:
        ext.append(
            {
                "url": f"{PAS}extension-itemAuthorizedProvider",
                "extension": [
                    {"url": "provider", "valueReference": {"reference": provider}},
                    {
                        "url": "providerType",
                        "valueCodeableConcept": {
                            "coding": [
                                {
                                    "system": "https://codesystem.x12.org/005010/98",
                                    "code": "SJ",
                                    "display": "Service Provider",
                                }
                            ]
                        },
                    },
                ],
            }
        )
    if d.certified and d.action != "A6":
        detail: list[dict[str, Any]] = []
        if requested.get("productOrService"):
            detail.append(
                {
                    "url": "productOrServiceCode",
                    "valueCodeableConcept": requested["productOrService"],
                }
            )
        quantity = dict(requested.get("quantity") or {})
        if d.authorized_quantity is not None:
            quantity["value"] = _number(d.authorized_quantity)
        if quantity.get("value") is not None:
            detail.append({"url": "quantity", "valueQuantity": quantity})
        if detail:
            ext.append({"url": f"{PAS}extension-itemAuthorizedDetail", "extension": detail})
    item: dict[str, Any] = {}
    if ext:
        item["extension"] = ext
    item["itemSequence"] = d.sequence
    if d.reason and d.action != "A4":
        number = len(notes) + 1
        notes.append({"number": number, "type": "display", "text": d.reason})
        item["noteNumber"] = [number]
    item["adjudication"] = [_review_action(d, d.action)]
    return item


def _add_item(d: ItemDecision, requested: dict[str, Any]) -> dict[str, Any]:
    """spec-36/37: a modified item is answered A6; what was authorized goes in addItem."""
    added: dict[str, Any] = {
        "extension": _dates(d),
        "itemSequence": [d.sequence],
        "productOrService": requested["productOrService"],
    }
    for key in ("modifier", "servicedDate", "servicedPeriod", "locationCodeableConcept"):
        if key in requested:
            added[key] = requested[key]
    if d.period and ("servicedPeriod" in requested or "servicedDate" not in requested):
        added.pop("servicedPeriod", None)
        added["servicedPeriod"] = _period(d.period)
    if d.authorized_quantity is not None:
        quantity = dict(requested.get("quantity") or {})
        quantity["value"] = _number(d.authorized_quantity)
        added["quantity"] = quantity
    elif "quantity" in requested:
        added["quantity"] = requested["quantity"]
    added["adjudication"] = [_review_action(d, "A1")]
    return added


_FOLLOWUPS = {
    "C": "Please correct and resubmit",
    "N": "Resubmission not allowed; submit a new request",
    "P": "Please resubmit the original transaction",
    "R": "Resubmission allowed",
}


def _error(error: tuple[Any, ...], notes: list[dict[str, Any]]) -> dict[str, Any]:
    err = AaaError(*error)
    number = len(notes) + 1
    notes.append({"number": number, "type": "display", "text": err.text})
    ext: list[dict[str, Any]] = [
        {
            "url": f"{PAS}extension-errorFollowupAction",
            "valueCodeableConcept": {
                "coding": [{"system": FOLLOWUP_SYSTEM, "code": err.followup}],
                "text": _FOLLOWUPS.get(err.followup, err.followup),
            },
        },
    ]
    if err.path:
        ext.append({"url": f"{PAS}extension-errorPath", "valueString": err.path})
    return {
        "extension": ext,
        "code": {"coding": [{"system": REJECT_REASON_SYSTEM, "code": err.code}], "text": err.text},
    }


def _communication_requests(
    req: PasRequest, decision: Decision, naming: Naming
) -> list[dict[str, Any]]:
    """PAS CommunicationRequests: one per missing piece of documentation of a pended item."""
    out = []
    for d in decision.items:
        for n, doc in enumerate(d.missing, start=1):
            code = doc.code or QUESTIONNAIRE_REQUEST
            resource: dict[str, Any] = {
                "resourceType": "CommunicationRequest",
                "id": naming.new_id(),
                "meta": {"profile": [f"{PAS}profile-communicationrequest"]},
                "extension": [
                    {"url": f"{PAS}extension-serviceLineNumber", "valuePositiveInt": d.sequence}
                ],
                # The attachment control number: CDex $submit-attachment's TrackingId.
                "identifier": [
                    {
                        "system": naming.attachment_system,
                        "value": f"{decision.pre_auth_ref}-{d.sequence}-{n}",
                    }
                ],
                "status": "active",
                "medium": [{"coding": [{"system": PAS_CODES, "code": "CDEX"}]}],
                "subject": {"reference": req.patient.full_url},
                "payload": [{"contentString": code}],
                "authoredOn": instant(decision.decided_at),
                "requester": {"reference": req.insurer.full_url},
                "recipient": [{"reference": req.provider.full_url}],
                "note": [
                    {
                        "text": doc.description
                        + (f" (questionnaire {doc.questionnaire})" if doc.questionnaire else "")
                    }
                ],
            }
            out.append(resource)
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
    in the request (spec-33). The Claim is among them, so every reference resolves."""
    echoed: dict[str, Entry] = {}
    queue = [req.claim, req.patient, req.insurer, req.provider]
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
