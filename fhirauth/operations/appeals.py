"""Appeals: a request with X12 1322 certificationType ``1`` (immediate) or ``2`` (standard)
that names an authorization with denied (A3) items asks for them to be decided again.

It is not refused as an update of a denial is: the appealed items go back to pended (A4) in
the next ClaimResponse version, answered at once and notified like any other, and the
authorization is back in the reviewer queue under the appeal's own CMS clock (72 hours when
expedited, which an immediate appeal always is; 7 days otherwise; from the appeal's
receipt). The denial stays in the history: its decision events are kept, every earlier
ClaimResponse version too, and the appeal records each appealed item as it stood and who
denied it.

**Who decides an appeal.** A reviewer who made an adverse decision on an appealed item (a
``reviewer:<client>`` actor of an A3 decision event of that item) may not decide it on
appeal: that is a 403. A denial made by a policy rule (``rule:<id>``) has no human reviewer,
so any reviewer may decide its appeal. With authentication off every caller is the one
anonymous principal, with no identity to tell reviewers apart: allowed, as reviewing is.

Items under an open appeal are decided only by a reviewer: documentation that arrives
meanwhile (``$submit-attachment``, an update) is kept for the reviewer, never decided by the
policy; a cancellation withdraws them. When no appealed item is pended any more, the appeal
is closed with its outcome (``decision/outcomes.py``), which the CMS metrics count.
"""

from __future__ import annotations

import logging
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from fhirauth.auth import audit
from fhirauth.decision import clocks
from fhirauth.decision.decide import Decision, ItemDecision
from fhirauth.decision.outcomes import APPEAL_TYPES, appeal_outcome, item_outcome
from fhirauth.errors import Forbidden
from fhirauth.fhir.bundle import PasRequest
from fhirauth.operations.pipeline import notify, render, store_submission, store_version
from fhirauth.policy import is_expedited
from fhirauth.policy.context import own_certification_types
from fhirauth.principal import Principal
from fhirauth.services import Services
from fhirauth.store.models import Appeal, Authorization, DecisionEvent
from fhirauth.store.records import fill_item, item_event, status_of, stored_decision

log = logging.getLogger(__name__)

DENIED = "A3"
PROVIDER = "provider:appeal"


def is_appeal(claim: dict[str, Any]) -> bool:
    """certificationType 1 or 2 on the Claim or on any of its items."""
    nodes = [claim, *(claim.get("item") or [])]
    return any(own_certification_types(n) & APPEAL_TYPES for n in nodes if isinstance(n, dict))


def _named(req: PasRequest) -> tuple[set[int] | None, str]:
    """The items the appeal names (None: on the Claim, every denied item) and its type."""
    claim = req.claim.resource
    on_claim = own_certification_types(claim) & APPEAL_TYPES
    on_items = {int(i["sequence"]): own_certification_types(i) & APPEAL_TYPES for i in req.items}
    kinds = on_claim.union(*on_items.values())
    kind = "1" if "1" in kinds else "2"
    if on_claim:
        return None, kind
    return {seq for seq, k in on_items.items() if k}, kind


def open_appeal(session: Session, auth_id: str) -> Appeal | None:
    return session.scalar(
        select(Appeal).where(Appeal.authorization_id == auth_id, Appeal.decided_at.is_(None))
    )


def items_of(appeal: Appeal) -> set[int]:
    return {int(i["sequence"]) for i in appeal.items}


def under_appeal(session: Session, auth_id: str) -> set[int]:
    """The items of an authorization whose appeal is open."""
    appeal = open_appeal(session, auth_id)
    return items_of(appeal) if appeal is not None else set()


def ever_appealed(session: Session, auth_id: str) -> bool:
    return session.scalar(select(Appeal.id).where(Appeal.authorization_id == auth_id)) is not None


def refusal(session: Session, req: PasRequest, auth: Authorization) -> str | None:
    """Why this appeal of ``auth`` cannot be taken (X12 901 41), or None."""
    rows = {r.sequence: r for r in auth.items}
    named, _ = _named(req)
    unknown = sorted(int(i["sequence"]) for i in req.items if int(i["sequence"]) not in rows)
    if auth.status == "cancelled":
        return "This authorization was cancelled: there is nothing to appeal."
    current = open_appeal(session, auth.id)
    if current is not None:
        return (
            f"An appeal of this authorization, received {current.received_at:%Y-%m-%d %H:%M} "
            f"UTC, is under review (due {current.due_at:%Y-%m-%d %H:%M} UTC); its decision "
            "will follow. Send a new appeal once it is decided."
        )
    pended = [s for s, r in sorted(rows.items()) if r.review_action == "A4"]
    if pended:
        return (
            f"The request is still under review (item {', '.join(map(str, pended))} pended): "
            "appeal its denial once the request is decided."
        )
    if unknown:
        return (
            f"Item {unknown[0]} is not part of this authorization: an appeal asks again for "
            "what was denied; a new service goes in a new request."
        )
    if not _appealed(rows, named):
        return (
            "Nothing this appeal names was denied (A3): only a denied item is appealed. "
            "To ask for more of what was certified, send an extension (certificationType 4)."
        )
    return None


def _appealed(rows: dict[int, Any], named: set[int] | None) -> list[int]:
    return sorted(
        s for s, r in rows.items() if r.review_action == DENIED and (named is None or s in named)
    )


def _denials(session: Session, auth_id: str, sequences: list[int]) -> dict[int, list[str]]:
    """Who made each adverse decision on these items, oldest first."""
    found: dict[int, list[str]] = {s: [] for s in sequences}
    for seq, actor in session.execute(
        select(DecisionEvent.item_sequence, DecisionEvent.actor)
        .where(
            DecisionEvent.authorization_id == auth_id,
            DecisionEvent.item_sequence.in_(sequences),
            DecisionEvent.action == DENIED,
        )
        .order_by(DecisionEvent.id)
    ):
        if actor not in found[seq]:
            found[seq].append(actor)
    return found


def receive(
    session: Session,
    req: PasRequest,
    auth: Authorization,
    body: bytes | dict[str, Any],
    digest: str,
    principal: Principal,
    services: Services,
    now: datetime,
) -> tuple[str, bytes]:
    """Open the appeal (``refusal`` said none stands in its way): the appealed items pended,
    as the next ClaimResponse version, stored and notified, and the appeal recorded."""
    rows = {r.sequence: r for r in auth.items}
    named, kind = _named(req)
    appealed = _appealed(rows, named)
    denials = _denials(session, auth.id, appealed)
    expedited = is_expedited(req.claim.resource)
    due = clocks.due_at(now, expedited)
    appeal_id = services.ids()
    submitted = {int(i["sequence"]): i for i in req.items}
    answers = {seq: stored_decision(rows[seq]) for seq in submitted}
    why = (
        f"appeal received ({'immediate' if kind == '1' else 'standard'}, certificationType "
        f"{kind}): pended for a reviewer who did not deny it"
    )
    for seq in appealed:
        answers[seq] = ItemDecision(
            seq,
            "A4",
            None,
            requested=stored_decision(rows[seq]).requested,
            trace={"why": why, "appeal": appeal_id, "appealed_from": DENIED, "decided_by": None},
        )
    version = auth.current_version + 1
    assert auth.pre_auth_ref, "a refused submission is never found to appeal"
    decision = Decision(auth.pre_auth_ref, now, tuple(answers[s] for s in sorted(answers)))
    out = render(req, decision, auth.claim_response_id, version, services, due)
    record = Appeal(
        id=appeal_id,
        authorization_id=auth.id,
        certification_type=kind,
        expedited=expedited,
        received_at=now,
        due_at=due,
        items=[
            {
                "sequence": seq,
                "action": rows[seq].review_action,
                "reasonCode": rows[seq].reason_code,
                "reason": rows[seq].reason,
                "deniedBy": denials[seq],
            }
            for seq in appealed
        ],
    )
    for seq in appealed:
        row = rows[seq]
        codes = ((row.code_system, row.code),) if row.code else ()
        fill_item(row, answers[seq], submitted.get(seq), codes)  # type: ignore[arg-type]
    auth.status = status_of([r.review_action for r in auth.items])
    auth.current_version = version
    auth.updated_at = now
    submission_id = services.ids()
    store_submission(
        session,
        submission_id=submission_id,
        auth_id=auth.id,
        version=version,
        kind="appeal",
        req=req,
        body=body,
        digest=digest,
        principal=principal,
        services=services,
        now=now,
        scripted=None,
    )
    record.submission_id = submission_id
    store_version(session, auth.id, version, out, now, submission_id)
    session.add(record)
    session.add_all(item_event(auth.id, answers[seq], now, PROVIDER) for seq in appealed)
    notify(session, auth.id, req, out, now)
    audit.record_in(
        session,
        [f"ClaimResponse/{auth.claim_response_id}", f"authorization/{auth.id}"],
        now,
        f"appeal {appeal_id} opened (certificationType {kind}): items "
        + ", ".join(map(str, appealed)),
    )
    log.info("authorization %s: appeal %s of items %s opened", auth.id, appeal_id, appealed)
    return auth.id, out


def check_reviewer(appeal: Appeal, sequence: int, actor: str, principal: Principal) -> None:
    """403 when ``actor`` made an adverse decision on this appealed item before."""
    if principal.anonymous:
        return
    item = next((i for i in appeal.items if int(i["sequence"]) == sequence), None)
    if item is not None and actor in item.get("deniedBy", []):
        raise Forbidden(
            f"This reviewer denied item {sequence} before: an appeal is decided by a reviewer "
            "who took no part in the decision appealed"
        )


def settle(session: Session, auth: Authorization, now: datetime, actor: str | None) -> None:
    """Close the open appeal once none of its items is pended: each item's outcome, the
    appeal's, when and by whom (the last decision's actor)."""
    appeal = open_appeal(session, auth.id)
    if appeal is None:
        return
    rows = {r.sequence: r for r in auth.items}
    outcomes = {}
    for item in appeal.items:
        outcome = item_outcome(rows[int(item["sequence"])].review_action)
        if outcome is None:
            return
        outcomes[int(item["sequence"])] = outcome
    appeal.items = [{**i, "outcome": outcomes[int(i["sequence"])]} for i in appeal.items]
    appeal.outcome = appeal_outcome(outcomes.values())
    appeal.decided_at = now
    appeal.decided_by = actor
    log.info("authorization %s: appeal %s %s", auth.id, appeal.id, appeal.outcome)


def summary(appeal: Appeal) -> dict[str, Any]:
    """An appeal as the admin API shows it."""
    return {
        "id": appeal.id,
        "certificationType": appeal.certification_type,
        "expedited": appeal.expedited,
        "receivedAt": appeal.received_at.isoformat(),
        "dueAt": appeal.due_at.isoformat(),
        "extendedAt": appeal.extended_at.isoformat() if appeal.extended_at else None,
        "decidedAt": appeal.decided_at.isoformat() if appeal.decided_at else None,
        "outcome": appeal.outcome,
        "decidedBy": appeal.decided_by,
        "items": appeal.items,
    }
