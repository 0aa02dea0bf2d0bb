"""CMS-0057-F decision clocks: 72 hours for expedited requests, 7 calendar days for standard
ones, counted from receipt (42 CFR 422.568, 422.572, 438.210(d)). Which requests are expedited
is decided in one place: ``fhirauth.policy.context.is_expedited``."""

from __future__ import annotations

from datetime import datetime, timedelta

EXPEDITED = timedelta(hours=72)
STANDARD = timedelta(days=7)
# "Close to late": the share of the window left when a reviewer should pick it up first.
WARNING_SHARE = 0.25


def due_at(received: datetime, expedited: bool) -> datetime:
    return received + (EXPEDITED if expedited else STANDARD)


def urgency(received: datetime, due: datetime, now: datetime) -> str:
    """'overdue', 'due-soon' (under a quarter of the window left) or 'on-time'."""
    if now >= due:
        return "overdue"
    if due - now <= (due - received) * WARNING_SHARE:
        return "due-soon"
    return "on-time"
