"""CMS-0057-F decision clocks: 72 hours for expedited requests, 7 calendar days for standard
ones, counted from receipt (42 CFR 422.568, 422.572, 438.210(d)). Which requests are expedited
is decided in one place: ``fhirauth.policy.context.is_expedited``."""

from __future__ import annotations

from datetime import datetime, timedelta

EXPEDITED = timedelta(hours=72)
STANDARD = timedelta(days=7)
# "Close to late": the share of the window left when a reviewer should pick it up first.
WARNING_SHARE = 0.25
# How far a reviewer may push a review's due time, in all, past the CMS window: 14 days, as
# Medicare Advantage allows for standard and expedited decisions (42 CFR 422.568(b),
# 422.572(b)) when the member asks or the plan needs information in the member's interest.
MAX_REVIEW_EXTENSION = timedelta(days=14)


def due_at(received: datetime, expedited: bool) -> datetime:
    return received + (EXPEDITED if expedited else STANDARD)


def urgency(received: datetime, due: datetime, now: datetime) -> str:
    """'overdue', 'due-soon' (under a quarter of the window left) or 'on-time'."""
    if now >= due:
        return "overdue"
    if due - now <= (due - received) * WARNING_SHARE:
        return "due-soon"
    return "on-time"


def extended_due(received: datetime, expedited: bool, due: datetime, days: int) -> datetime:
    """The due time ``days`` after ``due``; ValueError past the bound (at most
    ``MAX_REVIEW_EXTENSION`` after the CMS window from receipt)."""
    latest = due_at(received, expedited) + MAX_REVIEW_EXTENSION
    wanted = due + timedelta(days=days)
    if wanted > latest:
        left = max((latest - due).days, 0)
        raise ValueError(
            f"the review time may be extended by at most {MAX_REVIEW_EXTENSION.days} days in "
            f"all past the CMS window, to {latest:%Y-%m-%d %H:%M} UTC: "
            + (f"{left} more day(s) at the most" if left else "it has been extended fully")
        )
    return wanted
