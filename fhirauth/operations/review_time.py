"""Extending the time for a review (``POST /admin/review/{key}/extend``, ``fhirauth review
extend``): the CMS due time of a pended request, or of its open appeal, pushed back.

Not to be confused with an extension of an authorization (certificationType 4: a longer
period or more units for what was certified, ``decision/lifecycle.py``): this one changes
only when the payer's decision is due. CMS lets a payer take longer when the member asks, or
when it needs information and the delay is in the member's interest; fhirauth allows at most
14 days in all past the CMS window (``clocks.MAX_REVIEW_EXTENSION``), before the due time
passes, and records who extended it, when, why and from and to what (a ``DUE`` decision
event, and ``review_extended_at`` on the request or ``extended_at`` on the appeal: the CMS
metrics count requests whose review was extended, then approved). Nothing the provider was
answered changes, so no ClaimResponse version is made and nothing is notified.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy.orm import Session

from fhirauth.decision import clocks
from fhirauth.errors import Forbidden
from fhirauth.operations import appeals
from fhirauth.operations.review import (
    case,
    conflict,
    find,
    is_own,
    reviewer_for,
    running_clock,
)
from fhirauth.principal import Principal
from fhirauth.services import Services
from fhirauth.store.models import DecisionEvent

EVENT = "DUE"  # the decision event of a moved due time


def extend(
    session: Session,
    key: str,
    days: int,
    reason: str,
    principal: Principal,
    services: Services,
) -> dict[str, Any]:
    """Push the running review clock of ``key`` back by ``days``; answers the case as the
    queue shows it."""
    auth = find(session, key, lock=True)
    if auth.status != "pended":
        raise conflict(
            f"{key} is {auth.status}: only a pended request (or an open appeal) has a review "
            "time to extend",
            "key",
        )
    if not principal.anonymous and is_own(session, auth, principal):
        raise Forbidden(
            "This client submitted this request, or acts for its requesting organization: a "
            "client never extends the review of its own request"
        )
    appeal = appeals.open_appeal(session, auth.id)
    received, due, expedited = running_clock(auth, appeal)
    now = services.clock()
    if now >= due:
        raise conflict(
            f"the review time ran out at {due:%Y-%m-%d %H:%M} UTC: it is extended before it "
            "runs out, not after",
            "days",
        )
    try:
        new_due = clocks.extended_due(received, expedited, due, days)
    except ValueError as exc:
        raise conflict(str(exc), "days") from None
    if appeal is not None:
        appeal.due_at = new_due
        appeal.extended_at = appeal.extended_at or now
    else:
        auth.due_at = new_due
        auth.review_extended_at = auth.review_extended_at or now
    auth.updated_at = now
    reviewer = reviewer_for(session, principal)
    clock = f"appeal {appeal.id}" if appeal is not None else "request"
    session.add(
        DecisionEvent(
            authorization_id=auth.id,
            item_sequence=None,
            at=now,
            actor=reviewer.actor,
            action=EVENT,
            note=reason,
            trace={
                **reviewer.trace(),
                "why": reason,
                "review_extended": {
                    "clock": clock,
                    "from": due.isoformat(),
                    "to": new_due.isoformat(),
                },
            },
        )
    )
    return case(auth, now, appeal)
