"""What the payer's staff read about one authorization (``GET /admin/authorizations/{key}`` and
its ``/trace``): its state and items, every submission in its chain, every decision event."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from fhirauth.operations import appeals
from fhirauth.operations.review import find
from fhirauth.store.models import Appeal, DecisionEvent, Submission


def _day(value: Any) -> str | None:
    return value.isoformat() if value else None


def summary(session: Session, key: str) -> dict[str, Any]:
    """An authorization by its id, its preAuthRef or its ClaimResponse id."""
    auth = find(session, key)
    return {
        "id": auth.id,
        "preAuthRef": auth.pre_auth_ref,
        "claimResponse": f"ClaimResponse/{auth.claim_response_id}",
        "status": auth.status,
        "expedited": auth.expedited,
        "policy": auth.policy_id,
        "version": auth.current_version,
        # The authorization this one renews (certificationType R), by id.
        "renews": auth.renews,
        "receivedAt": _day(auth.received_at),
        "decidedAt": _day(auth.decided_at),
        "deliveredAt": _day(auth.delivered_at),
        "dueAt": _day(auth.due_at),
        # What the CMS-0057-F metrics count (README "CMS-0057-F metrics").
        "determinedAt": _day(auth.determined_at),
        "determination": auth.determination,
        "reviewExtendedAt": _day(auth.review_extended_at),
        "items": [
            {
                "sequence": i.sequence,
                "code": f"{i.code_system}|{i.code}" if i.code else None,
                "reviewAction": i.review_action,
                "authorizationNumber": i.authorization_number,
                "period": [_day(i.period_start), _day(i.period_end)] if i.period_start else None,
                "reasonCode": i.reason_code,
                "rule": i.rule_id,
                # Lifecycle (README "After the decision"): stored status, units.
                "status": i.status,
                "authorizedQuantity": i.authorized_quantity,
                "usedQuantity": i.used_quantity,
                "supersededBy": i.superseded_by,
            }
            for i in auth.items
        ],
        # Each request, update and cancellation, oldest first: its Claim as received is
        # readable at GET /fhir/Claim/{id}.
        "submissions": [
            {
                "claim": f"Claim/{sub.claim_id}",
                "kind": sub.kind,
                "claimIdentifier": sub.claim_identifier,
                "receivedAt": _day(sub.received_at),
                "responseVersion": sub.response_version,
            }
            for sub in session.scalars(
                select(Submission)
                .where(Submission.authorization_id == auth.id)
                .order_by(Submission.received_at, Submission.id)
            )
        ],
        # Each appeal, oldest first: the denials it appealed, its clock and outcome.
        "appeals": [
            appeals.summary(a)
            for a in session.scalars(
                select(Appeal)
                .where(Appeal.authorization_id == auth.id)
                .order_by(Appeal.received_at, Appeal.id)
            )
        ],
    }


def trace(session: Session, key: str) -> dict[str, Any]:
    """Every decision event of an authorization, oldest first, with the rule trace."""
    auth = find(session, key)
    events = session.scalars(
        select(DecisionEvent)
        .where(DecisionEvent.authorization_id == auth.id)
        .order_by(DecisionEvent.id)
    ).all()
    return {
        "id": auth.id,
        "preAuthRef": auth.pre_auth_ref,
        "events": [
            {
                "at": e.at.isoformat(),
                "item": e.item_sequence,
                "actor": e.actor,
                "action": e.action,
                "reasonCode": e.reason_code,
                "note": e.note,
                "trace": e.trace,
            }
            for e in events
        ],
    }
