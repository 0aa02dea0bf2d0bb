"""``POST [base]/$submit-attachment`` (Da Vinci CDex 2.1.0): documentation a payer asked for.

The provider answers a PAS CommunicationRequest by sending its attachment control number as
``TrackingId`` with ``AttachTo`` = ``preauthorization``, the member id, and one or more
``Attachment`` parts (``LineItem``, ``Code``, ``Content`` = DocumentReference or
QuestionnaireResponse). fhirauth stores the documents, re-evaluates the pended items with them,
decides those the policy can now decide, and returns the others to the reviewer queue marked
"documentation received". A decided item reaches the provider as the next ClaimResponse version
(a Subscription notification); the HTTP answer is an informational OperationOutcome.
"""

from __future__ import annotations

import copy
import uuid
from dataclasses import dataclass
from typing import Any

import orjson
from sqlalchemy import select
from sqlalchemy.orm import Session

from fhirauth.access import may_read
from fhirauth.decision.decide import decide
from fhirauth.errors import Invalid, Issue, NotFound, invalid
from fhirauth.fhir.bundle import load_json, model_issues, parse_request
from fhirauth.membership import member_id
from fhirauth.operations import appeals, review
from fhirauth.operations.pipeline import evaluate
from fhirauth.principal import Principal
from fhirauth.services import Services
from fhirauth.store.models import Attachment, Authorization

PAS_CODES = "http://hl7.org/fhir/us/davinci-pas/CodeSystem/PASTempCodes"
_CONTENT_TYPES = ("DocumentReference", "QuestionnaireResponse", "Bundle")


@dataclass(frozen=True)
class Document:
    line_items: tuple[int, ...]
    code: str | None
    resource: dict[str, Any]


@dataclass(frozen=True)
class AttachmentRequest:
    tracking_id: str
    member: str | None
    documents: tuple[Document, ...]


def _param(params: list[dict[str, Any]], name: str) -> list[dict[str, Any]]:
    return [p for p in params if isinstance(p, dict) and p.get("name") == name]


def parse(body: bytes | dict[str, Any]) -> AttachmentRequest:
    data = load_json(body) if isinstance(body, bytes) else body
    if not isinstance(data, dict) or data.get("resourceType") != "Parameters":
        raise invalid("$submit-attachment takes a Parameters resource", "Parameters")
    # An R4 Parameters first (no null parameter, no string where an Identifier belongs), so
    # that what is read below has the shapes it is read as.
    structure = model_issues("Parameters", data, "Parameters")
    if structure:
        raise Invalid(structure)
    params = data.get("parameter") or []
    issues = []
    tracking = _param(params, "TrackingId")
    tracking_id = (tracking[0].get("valueIdentifier") or {}).get("value") if tracking else None
    if not tracking_id:
        issues.append(
            Issue(
                "required",
                "TrackingId (the attachment control number of the "
                "CommunicationRequest) is required",
                ("Parameters.parameter",),
            )
        )
    elif len(str(tracking_id)) > 128:  # ours are <preAuthRef>-<line>-<n>
        where = next(i for i, p in enumerate(params) if p.get("name") == "TrackingId")
        issues.append(
            Issue(
                "value",
                "TrackingId is longer than any attachment control number (128 characters)",
                (f"Parameters.parameter[{where}].valueIdentifier.value",),
            )
        )
    attach_to = _param(params, "AttachTo")
    if not attach_to or attach_to[0].get("valueCode") != "preauthorization":
        issues.append(
            Issue(
                "not-supported",
                "AttachTo must be 'preauthorization' here; claims "
                "attachments go to the claims system",
                ("Parameters.parameter",),
            )
        )
    member = _param(params, "MemberId")
    documents = []
    for i, p in enumerate(params):
        if p.get("name") != "Attachment":
            continue
        parts = p.get("part") or []
        content = _param(parts, "Content")
        resource = content[0].get("resource") if content else None
        if not isinstance(resource, dict) or resource.get("resourceType") not in _CONTENT_TYPES:
            issues.append(
                Issue(
                    "required",
                    "each Attachment needs a Content part holding a "
                    "DocumentReference or QuestionnaireResponse",
                    (f"Parameters.parameter[{i}].part",),
                )
            )
            continue
        lines = tuple(
            int(x.get("valueString") or x.get("valuePositiveInt") or 0)
            for x in _param(parts, "LineItem")
            if str(x.get("valueString") or x.get("valuePositiveInt") or "").isdigit()
        )
        code = next(
            (
                c.get("code")
                for x in _param(parts, "Code")
                for c in (x.get("valueCodeableConcept") or {}).get("coding") or []
            ),
            None,
        )
        if isinstance(code, str) and len(code) > 64:
            issues.append(
                Issue(
                    "value",
                    "the Attachment's Code is longer than any LOINC code (64 characters)",
                    (f"Parameters.parameter[{i}].part",),
                )
            )
            continue
        documents.append(Document(lines, code, resource))
    if not documents and not issues:
        issues.append(
            Issue("required", "at least one Attachment is required", ("Parameters.parameter",))
        )
    if issues:
        raise Invalid(issues)
    return AttachmentRequest(
        str(tracking_id),
        (member[0].get("valueIdentifier") or {}).get("value") if member else None,
        tuple(documents),
    )


def _find(session: Session, tracking_id: str) -> Authorization:
    ref = tracking_id.split("-", 1)[0]
    auth = session.scalar(select(Authorization).where(Authorization.pre_auth_ref == ref))
    if auth is None:
        raise NotFound(f"attachment control number {tracking_id}")
    return auth


def submit_attachment(
    body: bytes | dict[str, Any], principal: Principal, services: Services
) -> dict[str, Any]:
    request = parse(body)
    now = services.clock()
    with services.sessions.begin() as session:
        auth = _find(session, request.tracking_id)
        sub = review.latest_submission(session, auth)
        if not may_read(principal, auth.principal, sub.provider_identifier):
            raise NotFound(f"attachment control number {request.tracking_id}")
        req = parse_request(sub.raw)
        member = member_id(req.coverages[0].resource if req.coverages else {}, req.patient.resource)
        if request.member is None or request.member != member:
            # Do not confirm that the number exists to someone who does not know the member.
            raise NotFound(f"attachment control number {request.tracking_id}")
        for doc in request.documents:
            session.add(
                Attachment(
                    id=uuid.uuid4().hex,
                    authorization_id=auth.id,
                    item_sequence=doc.line_items[0] if doc.line_items else None,
                    tracking_id=request.tracking_id,
                    code=doc.code,
                    principal=principal.id,
                    content=doc.resource,
                    received_at=now,
                )
            )
        session.flush()
        changed = reevaluate(session, auth, services, now)
    decided = ", ".join(f"item {s}: {a}" for s, a in sorted(changed.items())) or "none yet"
    return {
        "resourceType": "OperationOutcome",
        "issue": [
            {
                "severity": "information",
                "code": "informational",
                "diagnostics": f"{len(request.documents)} document(s) attached to authorization "
                f"{auth.pre_auth_ref}; decided now: {decided}",
            }
        ],
    }


def with_attachments(raw: bytes, attachments: list[Attachment]) -> bytes:
    """The latest request as the policy should see it: every document received since added to
    the Claim's supportingInfo (the stored request itself is never changed)."""
    bundle = orjson.loads(raw)
    if bundle.get("resourceType") == "Parameters":
        bundle = next(p["resource"] for p in bundle["parameter"] if p.get("name") == "resource")
    bundle = copy.deepcopy(bundle)
    claim = bundle["entry"][0]["resource"]
    info = claim.setdefault("supportingInfo", [])
    seq = max((int(i.get("sequence", 0)) for i in info), default=0)
    for att in attachments:
        url = f"urn:uuid:{uuid.UUID(att.id)}"
        bundle["entry"].append({"fullUrl": url, "resource": att.content})
        seq += 1
        info.append(
            {
                "sequence": seq,
                "category": {"coding": [{"system": PAS_CODES, "code": "additionalInformation"}]},
                "valueReference": {"reference": url},
            }
        )
    return orjson.dumps(bundle)


def reevaluate(
    session: Session, auth: Authorization, services: Services, now: Any
) -> dict[int, str]:
    """Decide the pended items the policy can now decide; mark the rest documentation
    received. Returns the items decided, with their new review action."""
    sub = review.latest_submission(session, auth)
    docs = session.scalars(
        select(Attachment)
        .where(Attachment.authorization_id == auth.id)
        .order_by(Attachment.received_at)
    ).all()
    seen = parse_request(with_attachments(sub.raw, list(docs)))
    ev = evaluate(seen, services.policies, services.membership, now.date())
    results = {r.sequence: r for r in ev.results}
    contexts = {c.sequence: c for c in ev.contexts}
    auth.documentation_received_at = now
    # Items under appeal are for their reviewer: documents are kept for them, not decided.
    appealed = appeals.under_appeal(session, auth.id)
    pended = [r for r in auth.items if r.review_action == "A4" and r.sequence not in appealed]
    redo = [
        results[r.sequence]
        for r in pended
        if r.sequence in results and results[r.sequence].action != "A4"
    ]
    changed = {
        d.sequence: d for d in decide(seen.claim.resource, redo, auth.pre_auth_ref, now).items
    }
    for row in pended:  # still pended: ask only for what is still missing
        if row.sequence not in changed and row.requested_documents:
            ctx = contexts.get(row.sequence)
            row.requested_documents = [
                d
                for d in row.requested_documents
                if ctx is None
                or (d.get("code") and d["code"] not in ctx.documents)
                or (d.get("questionnaire") and d["questionnaire"] not in ctx.questionnaires)
            ] or None
    if changed:
        review.new_version(
            session, auth, parse_request(sub.raw), changed, services, now, actor="documentation"
        )
    return {s: d.action for s, d in changed.items()}
