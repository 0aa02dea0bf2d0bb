"""Decision → PAS ClaimResponse → PAS response Bundle (plain dicts, serialized by the caller)."""

from __future__ import annotations

from collections import Counter
from datetime import date, datetime
from typing import Any

from fhirauth.decision.decide import REVIEW_ACTIONS, Decision, ItemDecision
from fhirauth.fhir.bundle import Entry, PasRequest

PAS = "http://hl7.org/fhir/us/davinci-pas/StructureDefinition/"
REVIEW_ACTION_SYSTEM = "https://codesystem.x12.org/005010/306"
DECISION_REASON_SYSTEM = "https://codesystem.x12.org/external/886"
ADJUDICATION_SYSTEM = "http://terminology.hl7.org/CodeSystem/adjudication"
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


def instant(at: datetime) -> str:
    return at.isoformat(timespec="seconds")


def _period(span: tuple[date, date | None]) -> dict[str, str]:
    out = {"start": span[0].isoformat()}
    if span[1]:
        out["end"] = span[1].isoformat()
    return out


def claim_response(
    req: PasRequest, decision: Decision, *, response_id: str, identifier_system: str
) -> dict[str, Any]:
    claim = req.claim.resource
    notes: list[dict[str, Any]] = []
    items = [_item(d, notes) for d in decision.items]
    identifiers = [{"system": identifier_system, "value": decision.pre_auth_ref}]
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
    period = decision.period or decision.requested or (decision.decided_at.date(), None)
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
        "outcome": "complete",
        "disposition": disposition(decision),
        "preAuthRef": decision.pre_auth_ref,
    }
    cr["preAuthPeriod"] = _period(period)
    cr["item"] = items
    if notes:
        cr["processNote"] = notes
    return cr


def disposition(decision: Decision) -> str:
    counts = Counter(d.action for d in decision.items)
    parts = [f"{n} item{'s' if n > 1 else ''} {_SUMMARY[a]}" for a, n in sorted(counts.items())]
    return "; ".join(parts) + "."


def _item(d: ItemDecision, notes: list[dict[str, Any]]) -> dict[str, Any]:
    ext: list[dict[str, Any]] = []
    if d.issue_date and d.action != "A4":
        ext.append(
            {"url": f"{PAS}extension-itemPreAuthIssueDate", "valueDate": d.issue_date.isoformat()}
        )
    if d.period:
        ext.append({"url": f"{PAS}extension-itemPreAuthPeriod", "valuePeriod": _period(d.period)})
    if d.requested:
        ext.append(
            {"url": f"{PAS}extension-itemRequestedServiceDate", "valuePeriod": _period(d.requested)}
        )
    review: list[dict[str, Any]] = [
        {
            "url": f"{PAS}extension-reviewActionCode",
            "valueCodeableConcept": {
                "coding": [
                    {
                        "system": REVIEW_ACTION_SYSTEM,
                        "code": d.action,
                        "display": REVIEW_ACTIONS[d.action],
                    }
                ]
            },
        }
    ]
    if d.number:
        review.append({"url": "number", "valueString": d.number})
    if d.reason_code:
        review.append(
            {
                "url": "reasonCode",
                "valueCodeableConcept": {
                    "coding": [{"system": DECISION_REASON_SYSTEM, "code": d.reason_code}],
                    "text": d.reason or None,
                },
            }
        )
    item: dict[str, Any] = {}
    if ext:
        item["extension"] = ext
    item["itemSequence"] = d.sequence
    if d.reason:
        number = len(notes) + 1
        notes.append({"number": number, "type": "display", "text": d.reason})
        item["noteNumber"] = [number]
    item["adjudication"] = [
        {
            "extension": [{"url": f"{PAS}extension-reviewAction", "extension": review}],
            "category": {"coding": [{"system": ADJUDICATION_SYSTEM, "code": "submitted"}]},
        }
    ]
    return _drop_none(item)


def _drop_none(node: Any) -> Any:
    if isinstance(node, dict):
        return {k: _drop_none(v) for k, v in node.items() if v is not None}
    if isinstance(node, list):
        return [_drop_none(v) for v in node]
    return node


def response_bundle(
    req: PasRequest,
    cr: dict[str, Any],
    *,
    bundle_id: str,
    response_full_url: str,
    now: datetime,
) -> dict[str, Any]:
    """The PAS response Bundle: the ClaimResponse first, then every resource it references
    (and what those reference), echoed with the fullUrl they had in the request (spec-33).
    The Claim is among them, so the response resolves every reference the request made."""
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
    return {
        "resourceType": "Bundle",
        "id": bundle_id,
        "meta": {"profile": [f"{PAS}profile-pas-response-bundle"]},
        "identifier": {"system": "urn:ietf:rfc:3986", "value": f"urn:uuid:{_uuid(bundle_id)}"},
        "type": "collection",
        "timestamp": instant(now),
        "entry": [{"fullUrl": response_full_url, "resource": cr}]
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
