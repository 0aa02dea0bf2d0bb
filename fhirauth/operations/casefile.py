"""Everything the console's case page shows about one authorization: the patient, coverage and
requesting provider as the latest submission gives them, each item with its codes, its review
action and the decision trace of the rules and reviewers that decided it, and (from
``casefile_history``) the request's versions, the documents received, the notifications sent
and the audit trail. Read-only; deciding is ``review.decide``."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from fhirauth.decision.decide import REVIEW_ACTIONS
from fhirauth.errors import Invalid
from fhirauth.fhir.bundle import PasRequest, parse_bundle, request_bundle
from fhirauth.fhir.display import (
    Code,
    codes,
    concept_text,
    identifiers,
    period,
    plan,
    provider_name,
    quantity,
    referenced_name,
    resource_name,
    serviced,
)
from fhirauth.membership import member_id
from fhirauth.operations import appeals, review
from fhirauth.operations.casefile_history import (
    AuditLine,
    Document,
    Notification,
    SubmissionLine,
    VersionLine,
    audit_trail,
    documents,
    notifications,
    submissions,
    versions,
)
from fhirauth.operations.worklist import remaining
from fhirauth.store.models import AuthorizationItem, DecisionEvent


@dataclass(frozen=True)
class Patient:
    name: str | None
    birth_date: str | None
    gender: str | None
    member_id: str | None


@dataclass(frozen=True)
class CoverageInfo:
    payer: str | None
    member_id: str | None
    plan: str | None
    status: str | None


@dataclass(frozen=True)
class Party:
    """A provider (or payer) as the bundle names it."""

    kind: str
    name: str | None
    identifiers: tuple[str, ...]


@dataclass(frozen=True)
class Event:
    at: datetime
    actor: str
    action: str
    reason_code: str | None
    note: str | None
    trace: dict[str, Any]

    @property
    def action_label(self) -> str:
        return REVIEW_ACTIONS.get(self.action, self.action)

    @property
    def why(self) -> str | None:
        why = self.trace.get("why")
        return str(why) if why else None

    @property
    def rule(self) -> str | None:
        rule = self.trace.get("decided_by")
        return str(rule) if rule else None

    @property
    def steps(self) -> list[dict[str, Any]]:
        """The rule's steps (approve, deny, limit): each condition and whether it held."""
        return [s for s in self.trace.get("steps") or [] if isinstance(s, dict)]


@dataclass(frozen=True)
class Item:
    sequence: int
    codes: tuple[Code, ...]
    modifiers: tuple[Code, ...]
    quantity: str | None
    requested: str | None  # the requested service period or date
    place: str | None  # place of service (locationCodeableConcept)
    category: str | None
    review_action: str
    reason_code: str | None
    reason: str | None
    authorization_number: str | None
    authorized: str | None  # the certified period
    authorized_quantity: str | None
    requested_documents: tuple[str, ...]
    under_appeal: bool
    events: tuple[Event, ...]

    @property
    def action_label(self) -> str:
        return REVIEW_ACTIONS.get(self.review_action, self.review_action)

    @property
    def pended(self) -> bool:
        return self.review_action == review.PENDED


@dataclass(frozen=True)
class Casefile:
    id: str
    pre_auth_ref: str | None
    status: str
    policy: str
    version: int
    received: datetime
    due: datetime
    left: str
    urgency: str
    expedited: bool
    appeal: dict[str, Any] | None
    assigned_to: str | None
    documentation_received_at: datetime | None
    patient: Patient
    coverage: CoverageInfo
    provider: Party
    items: tuple[Item, ...]
    submissions: list[SubmissionLine]
    versions: list[VersionLine]
    documents: list[Document]
    notifications: list[Notification]
    audit: list[AuditLine]

    @property
    def overdue(self) -> bool:
        return self.urgency == "overdue"


def parsed(raw: bytes) -> PasRequest | None:
    """The stored request (it passed validation when it came in), or None if it no longer
    parses (never for what this server stored)."""
    try:
        return parse_bundle(request_bundle(raw), models=False)
    except Invalid:
        return None


def patient_of(req: PasRequest | None) -> Patient:
    if req is None:
        return Patient(None, None, None, None)
    pat = req.patient.resource
    cov = req.coverages[0].resource if req.coverages else {}
    return Patient(
        resource_name(pat),
        str(pat["birthDate"]) if pat.get("birthDate") else None,
        str(pat["gender"]) if pat.get("gender") else None,
        member_id(cov, pat),
    )


def coverage_of(req: PasRequest | None) -> CoverageInfo:
    if req is None or not req.coverages:
        return CoverageInfo(None, None, None, None)
    entry = req.coverages[0]
    cov = entry.resource
    payors = cov.get("payor") or []
    payer = referenced_name(req, entry, payors[0]) if payors else None
    return CoverageInfo(
        payer or resource_name(req.insurer.resource),
        member_id(cov, req.patient.resource),
        plan(cov),
        str(cov["status"]) if cov.get("status") else None,
    )


def provider_of(req: PasRequest | None, stored: str | None) -> Party:
    if req is None:
        return Party("Organization", None, (stored,) if stored else ())
    res = req.provider.resource
    return Party(req.provider.type, provider_name(req), tuple(identifiers(res)))


def _events(session: Session, auth_id: str) -> dict[int, list[Event]]:
    out: dict[int, list[Event]] = {}
    for e in session.scalars(
        select(DecisionEvent)
        .where(DecisionEvent.authorization_id == auth_id)
        .order_by(DecisionEvent.id)
    ):
        if e.item_sequence is not None:
            trace = e.trace if isinstance(e.trace, dict) else {}
            out.setdefault(e.item_sequence, []).append(
                Event(e.at, e.actor, e.action, e.reason_code, e.note, trace)
            )
    return out


def item_of(
    row: AuthorizationItem, claim_item: dict[str, Any], events: list[Event], appealed: set[int]
) -> Item:
    wanted = [
        str(d.get("description") or d.get("code") or d.get("questionnaire"))
        for d in row.requested_documents or []
        if isinstance(d, dict)
    ]
    fallback = (Code(f"{row.code_system}|{row.code}"),) if row.code else ()
    return Item(
        sequence=row.sequence,
        codes=tuple(codes(claim_item.get("productOrService"))) or fallback,
        modifiers=tuple(c for m in claim_item.get("modifier") or [] for c in codes(m)),
        quantity=quantity(claim_item.get("quantity")),
        requested=serviced(claim_item),
        place=concept_text(claim_item.get("locationCodeableConcept")),
        category=concept_text(claim_item.get("category")),
        review_action=row.review_action,
        reason_code=row.reason_code,
        reason=row.reason,
        authorization_number=row.authorization_number,
        authorized=period(row.period_start, row.period_end),
        authorized_quantity=row.authorized_quantity,
        requested_documents=tuple(wanted),
        under_appeal=row.sequence in appealed,
        events=tuple(events),
    )


def casefile(session: Session, auth_id: str, now: datetime) -> Casefile:
    """The case of the authorization ``auth_id`` (its id, preAuthRef or ClaimResponse id)."""
    auth = review.find(session, auth_id)
    sub = review.latest_submission(session, auth)
    req = parsed(sub.raw)
    claim_items = {
        int(i.get("sequence", 0)): i
        for i in (req.items if req else sub.claim.get("item") or [])
        if isinstance(i, dict)
    }
    appeal = appeals.open_appeal(session, auth.id)
    appealed = appeals.items_of(appeal) if appeal is not None else set()
    received, due, expedited = review.running_clock(auth, appeal)
    events = _events(session, auth.id)
    return Casefile(
        id=auth.id,
        pre_auth_ref=auth.pre_auth_ref,
        status=auth.status,
        policy=auth.policy_id,
        version=auth.current_version,
        received=received,
        due=due,
        left=remaining(due, now),
        urgency=review.case(auth, now, appeal)["urgency"],
        expedited=expedited,
        appeal=appeals.summary(appeal) if appeal is not None else None,
        assigned_to=auth.assigned_to,
        documentation_received_at=auth.documentation_received_at,
        patient=patient_of(req),
        coverage=coverage_of(req),
        provider=provider_of(req, sub.provider_identifier),
        items=tuple(
            item_of(row, claim_items.get(row.sequence, {}), events.get(row.sequence, []), appealed)
            for row in auth.items
        ),
        submissions=submissions(session, auth),
        versions=versions(session, auth),
        documents=documents(session, auth),
        notifications=notifications(session, auth),
        audit=audit_trail(session, auth),
    )
