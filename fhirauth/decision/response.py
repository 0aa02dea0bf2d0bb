"""Decision → PAS ClaimResponse → PAS response Bundle (plain dicts, serialized by the caller).

What the ClaimResponse carries, and where each element comes from (PAS 2.2.1 must-support):

* Payer-owned elements are always there: our authorization identifier and ``preAuthRef``, the
  X12 envelope ids (``TransmissionIdentifiers``, the request's swapped), the reviewer, the
  providers authorized for the whole request and the request-level ``adjudication`` (its review
  action, see :func:`request_action`, is the adjudication's reason: PAS 2.2.1 does not allow
  extension-reviewActionCode there).
* Elements that describe the request are echoed from it and never invented: the Claim
  identifier's ``subDepartment``/``jurisdiction``.
* ``request`` references the answered Claim. When that Claim is not a PAS Claim (a Claim
  Update, whose ``related`` PAS Claim forbids, or a Claim refused for deviating from the PAS
  Claim profile) the reference is kept, so the answer can be traced, and the data-absent-reason
  ``not-permitted`` says that the PAS Claim the profile expects is not there.

The parts are built elsewhere: each line's ``item`` and ``addItem`` by
:mod:`fhirauth.decision.items`, ``error`` by :mod:`fhirauth.decision.errors`, the
CommunicationRequests and Tasks asking for documentation by :mod:`fhirauth.decision.asks`.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import replace
from datetime import datetime
from typing import Any

from fhirauth.decision import asks, clocks
from fhirauth.decision.codes import (
    ADJUDICATION_SYSTEM,
    DATA_ABSENT_REASON,
    REVIEW_ACTION_SYSTEM,
    Naming,
    first_identifier,
    instant,
    pas_ext,
    period_of,
)
from fhirauth.decision.decide import CERTIFIED, REVIEW_ACTIONS, AaaError, Decision
from fhirauth.decision.errors import response_error
from fhirauth.decision.items import (
    add_item,
    authorized_provider_extension,
    rendering_provider,
    response_item,
)
from fhirauth.fhir.bundle import PasRequest
from fhirauth.fhir.extensions import PAS, TRANSMISSION_IDENTIFIERS, extensions
from fhirauth.fhir.references import Entry, resolve_one
from fhirauth.fhir.systems import NPI
from fhirauth.policy import is_expedited

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
        else asks.communication_requests(req, decision, naming)
    )
    when = due or clocks.due_at(decision.decided_at, is_expedited(claim))
    tasks = [] if decision.errors else asks.tasks(req, decision, naming, when, comm_requests)
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
        "preAuthPeriod": period_of(period),
    }
    # None to name: an inquiry that matched nothing, a refused request without identifiers.
    for key in ("identifier", "requestor", "preAuthRef"):
        if not cr[key]:
            del cr[key]
    root_ext = [_transmission(inquiry or req, req), _reviewer(decision)]
    root_ext += [
        authorized_provider_extension(url, typed=False)
        for url in ([] if decision.errors else _request_providers(req, decision))
    ]
    cr["extension"] = [e for e in root_ext if e]
    diagnoses_per_line = 1 if inquiry is not None else None
    if decision.items:
        cr["item"] = [
            response_item(
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
            add_item(d, req, items_by_seq[d.sequence], naming, decision.pre_auth_ref)
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
        cr["error"] = [response_error(e, notes, types) for e in decision.errors]
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
        out["extension"] = [pas_ext("extension-reviewAction", extension=[number])]
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


def _requestor(req: PasRequest) -> dict[str, str] | None:
    """ClaimResponse.requestor, which PAS allows to be an Organization or a PractitionerRole: the
    requesting provider, or (a Practitioner) a PractitionerRole of the bundle that is theirs."""
    if req.provider.type in ("Organization", "PractitionerRole"):
        return {"reference": req.provider.full_url}
    for entry in req.entries:
        if entry.type != "PractitionerRole":
            continue
        practitioner = resolve_one(entry.resource.get("practitioner"), entry, req.index)
        if practitioner is not None and practitioner.full_url == req.provider.full_url:
            return {"reference": entry.full_url}
    return None


def _transmission(answering: PasRequest, req: PasRequest) -> dict[str, Any] | None:
    """X12 envelope ids of our answer: the request's with sender and receiver swapped. A
    request without them (a FHIR-native client) is answered from the payer's identifier (the
    insurer's, as the request names it) to the provider's."""
    sent = extensions(answering.claim.resource, TRANSMISSION_IDENTIFIERS)
    parts = {
        e.get("url"): e.get("valueString")
        for e in (sent[0].get("extension") or [] if sent else [])
        if isinstance(e, dict)
    }
    payer = first_identifier(req.insurer.resource) or {}
    provider = first_identifier(req.provider.resource) or {}
    swapped = [
        ("applicationSenderCode", parts.get("applicationReceiverCode") or payer.get("value")),
        ("applicationReceiverCode", parts.get("applicationSenderCode") or provider.get("value")),
        ("interchangeSenderID", parts.get("interchangeReceiverID")),
        ("interchangeReceiverID", parts.get("interchangeSenderID")),
    ]
    if not (swapped[0][1] and swapped[1][1]):
        return None
    return pas_ext(
        "extension-TransmissionIdentifiers",
        extension=[{"url": name, "valueString": value} for name, value in swapped if value],
    )


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
                    "system": NPI,
                    "value": decision.reviewer_npi,
                },
            }
        )
    return {"url": f"{PAS}extension-claimResponseReviewer", "extension": sub}


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
            for e in extensions(m, PAS + "extension-careTeamClaimScope")
        )
    ]
    found = [u for u in (rendering_provider(req, r) for r in whole) if u]
    if not found:
        found = [u for u in [rendering_provider(req, claim.get("provider"))] if u]
    return list(dict.fromkeys(found))


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
        for ref in _references(entry.resource):
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


def _references(resource: dict[str, Any]) -> list[str]:
    """What ``resource`` references in the Bundle: a "#id" names a resource contained in it,
    which is echoed with it. Every ``reference`` string, contained resources aside, in
    document order (as ``fhir.references.references`` finds them, without the FHIRPath of
    each, which cost most of a response's rendering)."""
    found: list[str] = []
    _collect_references(resource, found)
    return [ref for ref in found if not ref.startswith("#")]


_CONTAINERS = (dict, list)


def _collect_references(node: dict[str, Any] | list[Any], found: list[str]) -> None:
    if isinstance(node, dict):
        ref = node.get("reference")
        if isinstance(ref, str):
            found.append(ref)
        for key, value in node.items():
            if isinstance(value, _CONTAINERS) and key != "contained":
                _collect_references(value, found)
    else:
        for value in node:
            if isinstance(value, _CONTAINERS):
                _collect_references(value, found)
