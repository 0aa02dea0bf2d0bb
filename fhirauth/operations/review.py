"""Human review of pended authorizations: the queue, one authorization's case, a reviewer's
decision on a pended item, and the reopening of a final one; each decision and reopening is
the next ClaimResponse version, notified like any other.

Medicare Advantage and Medicaid managed care require a qualified reviewer for denials and
reductions (42 CFR 422.566(d), 438.210(b)(3)); every decision made here records who made it
(claimResponseReviewer: wasHumanReviewedFlag, reviewer NPI) in the response and the trace.
The reviewer is the authenticated caller (the client its access token names), never a name
in the request; a client never decides or reopens a request it submitted or whose requesting
organization it acts for. With authentication off every caller is the anonymous principal,
recorded as such.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from fhirauth.access import acts_for
from fhirauth.decision import clocks
from fhirauth.decision.decide import REVIEW_ACTIONS, Decision, ItemDecision, item_number
from fhirauth.errors import FhirError, Forbidden, Issue, NotFound, invalid
from fhirauth.fhir.bundle import PasRequest, parse_request
from fhirauth.operations import appeals
from fhirauth.operations.pipeline import REFUSED, notify, render, store_version
from fhirauth.policy import Documentation
from fhirauth.principal import Principal
from fhirauth.services import Services
from fhirauth.store.models import (
    Appeal,
    Authorization,
    AuthorizationItem,
    Client,
    DecisionEvent,
    Submission,
)
from fhirauth.store.records import determine, fill_item, item_event, status_of, stored_decision

ACTIONS = ("approve", "modify", "deny", "request-info")
PENDED = "A4"  # the only review action a reviewer decides; every other one is final
# What an authorization id, preAuthRef or ClaimResponse id is made of.
_KEY = re.compile(r"[A-Za-z0-9._-]{1,64}\Z")
LOINC_NAMES = {
    "11506-3": "Progress note",
    "18748-4": "Diagnostic imaging study",
    "28570-0": "Procedure note",
    "18842-5": "Discharge summary",
    "34117-2": "History and physical note",
}


@dataclass(frozen=True)
class Reviewer:
    """Who decides: the caller's client id and the name it is registered under; ``npi`` is
    the NPI the ClaimResponse names (claimResponseReviewer.reviewerNPI), if given."""

    id: str
    name: str
    npi: str | None = None

    @property
    def actor(self) -> str:
        return f"reviewer:{self.id}"

    def trace(self) -> dict[str, Any]:
        return {"decided_by": self.actor, "reviewer": self.name, "reviewer_npi": self.npi}


def reviewer_for(session: Session, principal: Principal, npi: str | None = None) -> Reviewer:
    """The reviewer a principal is: with authentication off, the anonymous principal."""
    if principal.anonymous:
        return Reviewer(principal.id, "anonymous (authentication off)", npi)
    client = session.get(Client, principal.id)
    return Reviewer(principal.id, client.name if client else principal.id, npi)


@dataclass(frozen=True)
class ReviewDecision:
    sequence: int
    action: str  # approve | modify | deny | request-info
    period_days: int | None = None
    quantity: Decimal | None = None
    reason_code: str | None = None
    reason: str | None = None
    documents: tuple[str, ...] = ()


def find(session: Session, key: str, *, lock: bool = False) -> Authorization:
    """An authorization by its id, its preAuthRef or its ClaimResponse id (the one handle a
    refused submission has); ``lock`` holds its row until the transaction ends (PostgreSQL),
    so that two reviewers never write the same version. A key no authorization could have
    (what the ids and numbers are made of, at most 64 characters) is not looked up: PostgreSQL
    refuses a NUL in a query, and a URL may carry one."""
    if not _KEY.match(key):
        raise NotFound(f"authorization {key[:64]!r}")
    stmt = select(Authorization).where(
        or_(
            Authorization.id == key,
            Authorization.pre_auth_ref == key,
            Authorization.claim_response_id == key,
        )
    )
    auth = session.scalar(stmt.with_for_update() if lock else stmt)
    if auth is None:
        raise NotFound(f"authorization {key}")
    return auth


def conflict(diagnostics: str, where: str = "item") -> FhirError:
    """409: the item (or ``where``) is not in a state this action applies to."""
    return FhirError([Issue("business-rule", diagnostics, (where,))], 409)


def _reviewable(
    session: Session, key: str, sequence: int, principal: Principal
) -> tuple[Authorization, AuthorizationItem]:
    """The authorization and item a reviewer acts on, locked; refused when the request was
    refused (not an authorization), is the caller's own, or has no such item, or the provider
    cancelled the item."""
    auth = find(session, key, lock=True)
    if auth.status == REFUSED:
        raise conflict(
            f"{key} is a refused submission (outcome error), not an authorization: there is "
            "nothing to decide or reopen; the provider sends a corrected request"
        )
    if not principal.anonymous and is_own(session, auth, principal):
        raise Forbidden(
            "This client submitted this request, or acts for its requesting organization: a "
            "client never decides or reopens its own request"
        )
    row = next((r for r in auth.items if r.sequence == sequence), None)
    if row is None:
        raise invalid(f"authorization {key} has no item {sequence}", "item")
    if row.review_action == "C":
        raise conflict(
            f"item {sequence} of {key} was cancelled by the provider (C): it is neither decided "
            "nor reopened; the provider sends a new request"
        )
    return auth, row


def is_own(session: Session, auth: Authorization, principal: Principal) -> bool:
    """Did this principal submit any request of the authorization, or does it act for the
    requesting organization of one?"""
    submissions = session.execute(
        select(Submission.principal, Submission.provider_identifier).where(
            Submission.authorization_id == auth.id
        )
    ).all()
    return principal.id == auth.principal or any(
        who == principal.id or (org is not None and acts_for(principal, [org]))
        for who, org in submissions
    )


def latest_submission(session: Session, auth: Authorization) -> Submission:
    sub = session.scalars(
        select(Submission)
        .where(Submission.authorization_id == auth.id)
        .order_by(Submission.received_at.desc(), Submission.id)
    ).first()
    assert sub is not None, "every authorization has its submission"
    return sub


def running_clock(auth: Authorization, appeal: Appeal | None) -> tuple[datetime, datetime, bool]:
    """The CMS clock a case runs under: its open appeal's, else the request's: received,
    due, expedited."""
    if appeal is not None:
        return appeal.received_at, appeal.due_at, appeal.expedited
    due = auth.due_at or clocks.due_at(auth.received_at, auth.expedited)
    return auth.received_at, due, auth.expedited


def case(auth: Authorization, now: datetime, appeal: Appeal | None = None) -> dict[str, Any]:
    """A case in the queue, under the clock it runs on (an open appeal's, if any)."""
    received, due, expedited = running_clock(auth, appeal)
    return {
        "id": auth.id,
        "preAuthRef": auth.pre_auth_ref,
        "status": auth.status,
        "expedited": expedited,
        "receivedAt": received.isoformat(),
        "dueAt": due.isoformat(),
        "urgency": clocks.urgency(received, due, now),
        "hoursLeft": round((due - now).total_seconds() / 3600, 1),
        "appeal": appeals.summary(appeal) if appeal is not None else None,
        "reviewExtendedAt": auth.review_extended_at.isoformat()
        if auth.review_extended_at
        else None,
        "decidedAt": auth.decided_at.isoformat() if auth.decided_at else None,
        "deliveredAt": auth.delivered_at.isoformat() if auth.delivered_at else None,
        "documentationReceivedAt": auth.documentation_received_at.isoformat()
        if auth.documentation_received_at
        else None,
        "pendingItems": [i.sequence for i in auth.items if i.review_action == "A4"],
    }


def queue(session: Session, now: datetime, *, overdue_only: bool = False) -> dict[str, Any]:
    """Pended authorizations by due time, and decisions made but not yet delivered."""
    pended = session.scalars(select(Authorization).where(Authorization.status == "pended")).all()
    open_appeals = {
        a.authorization_id: a
        for a in session.scalars(
            select(Appeal).where(
                Appeal.decided_at.is_(None),
                Appeal.authorization_id.in_(
                    select(Authorization.id).where(Authorization.status == "pended")
                ),
            )
        )
    }
    cases = sorted((case(a, now, open_appeals.get(a.id)) for a in pended), key=lambda c: c["dueAt"])
    if overdue_only:
        cases = [c for c in cases if c["urgency"] != "on-time"]
    undelivered = session.scalars(
        select(Authorization).where(
            Authorization.decided_at.is_not(None),
            Authorization.delivered_at.is_(None),
            Authorization.status != "pended",
        )
    ).all()
    return {
        "pended": cases,
        "undelivered": sorted(
            (case(a, now) for a in undelivered), key=lambda c: c["decidedAt"] or ""
        ),
    }


def show(session: Session, key: str, now: datetime) -> dict[str, Any]:
    auth = find(session, key)
    sub = latest_submission(session, auth)
    claim_items = {int(i["sequence"]): i for i in sub.claim.get("item") or []}
    events = session.scalars(
        select(DecisionEvent)
        .where(DecisionEvent.authorization_id == auth.id)
        .order_by(DecisionEvent.id)
    ).all()
    latest_trace: dict[int, dict[str, Any]] = {}
    for e in events:
        if e.item_sequence is not None:
            latest_trace[e.item_sequence] = e.trace
    return {
        **case(auth, now, appeals.open_appeal(session, auth.id)),
        "items": [
            {
                "sequence": i.sequence,
                "code": f"{i.code_system}|{i.code}" if i.code else None,
                "reviewAction": i.review_action,
                "recommendation": i.recommendation,
                "authorizationNumber": i.authorization_number,
                "requestedDates": [i.requested_start.isoformat(), i.requested_end.isoformat()]
                if i.requested_start and i.requested_end
                else None,
                "quantity": (claim_items.get(i.sequence, {}).get("quantity") or {}).get("value"),
                "requestedDocuments": i.requested_documents or [],
                "why": latest_trace.get(i.sequence, {}).get("why"),
            }
            for i in auth.items
        ],
        # What the latest submission deviated in (profiles, references): for technical staff.
        "warnings": (sub.warnings or {}).get("issues", []),
    }


def _state(action: str) -> str:
    return f"{action}, {REVIEW_ACTIONS.get(action, action).lower()}"


class FinalItem(FhirError):
    """A decision on an item that is final (409): changing it is a reopen. ``state`` lets the
    console say so in its own words, pointing at its form rather than at the API."""

    def __init__(self, key: str, sequence: int, action: str) -> None:
        self.state = _state(action)
        super().__init__(
            conflict(
                f"item {sequence} of {key} is final ({self.state}): only a pended item (A4) "
                f"is decided. To change a final decision, reopen it first: POST "
                f'/admin/review/{key}/reopen with {{"item": {sequence}, "reason": "..."}} '
                f"(fhirauth review reopen {key} --item {sequence} --reason TEXT)"
            ).issues,
            409,
        )


def decide(
    session: Session,
    key: str,
    choice: ReviewDecision,
    principal: Principal,
    services: Services,
    npi: str | None = None,
    reviewer: Reviewer | None = None,
) -> bytes:
    """Apply a reviewer's decision on one pended item; store and return the next response
    Bundle. A final item is refused (409): changing it is a reopen. ``reviewer`` names a
    console user; by default the reviewer is the calling client."""
    auth, row = _reviewable(session, key, choice.sequence, principal)
    if row.review_action != PENDED:
        raise FinalItem(key, row.sequence, row.review_action)
    reviewer = reviewer or reviewer_for(session, principal, npi)
    appeal = appeals.open_appeal(session, auth.id)
    if appeal is not None and row.sequence in appeals.items_of(appeal):
        appeals.check_reviewer(appeal, row.sequence, reviewer.actor, principal)
    else:
        appeal = None
    now = services.clock()
    req = parse_request(latest_submission(session, auth).raw)
    decided = _apply(choice, row, auth, req, services, now, reviewer)
    if appeal is not None:
        decided = replace(decided, trace={**decided.trace, "appeal": appeal.id})
    return new_version(
        session,
        auth,
        req,
        {decided.sequence: decided},
        services,
        now,
        reviewer=reviewer,
        actor=reviewer.actor,
    )


def reopen(
    session: Session,
    key: str,
    sequence: int,
    reason: str,
    principal: Principal,
    services: Services,
    npi: str | None = None,
    reviewer: Reviewer | None = None,
) -> bytes:
    """Put a final item back to pended (A4), for ``reason``: the next response Bundle, stored
    and notified; the item is then decided again like any pended one. The reason goes to the
    decision trace, not to the provider."""
    auth, row = _reviewable(session, key, sequence, principal)
    if row.review_action == PENDED:
        raise conflict(
            f"item {sequence} of {key} is pended already (A4): decide it "
            f"(POST /admin/review/{key}/decisions)"
        )
    reviewer = reviewer or reviewer_for(session, principal, npi)
    now = services.clock()
    reopened = ItemDecision(
        sequence,
        PENDED,
        "reviewer",
        requested=stored_decision(row).requested,
        reason=reason,
        trace={**reviewer.trace(), "why": reason, "reopened_from": row.review_action},
    )
    return new_version(
        session,
        auth,
        parse_request(latest_submission(session, auth).raw),
        {sequence: reopened},
        services,
        now,
        reviewer=reviewer,
        actor=reviewer.actor,
    )


def _apply(
    choice: ReviewDecision,
    row: AuthorizationItem,
    auth: Authorization,
    req: PasRequest,
    services: Services,
    now: datetime,
    reviewer: Reviewer,
) -> ItemDecision:
    today = now.date()
    current = stored_decision(row)
    requested = current.requested
    trace = {**reviewer.trace(), "why": choice.reason or f"reviewer chose {choice.action}"}
    if choice.action == "deny":
        if not (choice.reason_code and choice.reason):
            raise invalid(
                "a denial needs an X12 886 reason code and a reason the clinician can "
                "act on (CMS-0057-F)",
                "reason",
            )
        return ItemDecision(
            row.sequence,
            "A3",
            "reviewer",
            issue_date=today,
            reason_code=choice.reason_code,
            reason=choice.reason,
            requested=requested,
            trace=trace,
        )
    if choice.action == "request-info":
        if not choice.documents:
            raise invalid("request-info needs at least one LOINC code", "documents")
        missing = tuple(
            Documentation(LOINC_NAMES.get(c, f"Document LOINC {c}"), code=c)
            for c in choice.documents
        )
        return ItemDecision(
            row.sequence, "A4", "reviewer", requested=requested, missing=missing, trace=trace
        )
    start = max(requested[0], today) if requested else today
    policy = next((p for p in services.policies.policies if p.id == auth.policy_id), None)
    days = choice.period_days or (policy.approval_period_days if policy else 90)
    item = next((i for i in req.items if int(i["sequence"]) == row.sequence), {})
    asked = (
        Decimal(str((item.get("quantity") or {}).get("value")))
        if (item.get("quantity") or {}).get("value") is not None
        else None
    )
    action = "A1"
    if choice.action == "modify":
        action = "A6"
    elif choice.quantity is not None and asked is not None and choice.quantity < asked:
        action = "A2"
    return ItemDecision(
        row.sequence,
        action,
        "reviewer",
        number=item_number(auth.pre_auth_ref, row.sequence),
        period=(start, start + timedelta(days=days - 1)),
        issue_date=today,
        reason_code=choice.reason_code if action != "A1" else None,
        reason=choice.reason if action != "A1" else None,
        requested=requested,
        authorized_quantity=choice.quantity,
        trace=trace,
    )


def new_version(
    session: Session,
    auth: Authorization,
    req: PasRequest,
    changed: dict[int, ItemDecision],
    services: Services,
    now: datetime,
    *,
    reviewer: Reviewer | None = None,
    actor: str | None = None,
) -> bytes:
    """Store the next ClaimResponse version of ``auth``: every item of the latest submitted Claim
    answered from its stored state, with ``changed`` items replaced (spec-46)."""
    rows = {r.sequence: r for r in auth.items}
    codes = {r.sequence: ((r.code_system, r.code),) if r.code else () for r in auth.items}
    for seq, d in changed.items():
        fill_item(rows[seq], d, None, codes[seq])  # type: ignore[arg-type]
    answered = tuple(
        changed.get(int(i["sequence"])) or stored_decision(rows[int(i["sequence"])])
        for i in req.items
        if int(i["sequence"]) in rows
    )
    version = auth.current_version + 1
    assert auth.pre_auth_ref, "a refused submission has no versions after its answer"
    decision = Decision(
        auth.pre_auth_ref, now, answered, reviewer_npi=(reviewer.npi or "") if reviewer else None
    )
    _, due, _ = running_clock(auth, appeals.open_appeal(session, auth.id))
    out = render(req, decision, auth.claim_response_id, version, services, due=due)
    auth.current_version = version
    auth.status = status_of([r.review_action for r in auth.items])
    auth.updated_at = now
    if auth.status != "pended":
        auth.decided_at = now
        auth.delivered_at = None  # until a notification carries it (or the provider reads it)
    # The initial review's word stands for the metrics; an appeal has an outcome of its own.
    appealed = appeals.ever_appealed(session, auth.id)
    determine(auth, [r.review_action for r in auth.items], now, again=not appealed)
    if appealed:
        appeals.settle(session, auth, now, actor)
    store_version(session, auth.id, version, out, now)
    session.add_all(item_event(auth.id, d, now, actor) for d in changed.values())
    notify(session, auth.id, req, out, now)
    return out
