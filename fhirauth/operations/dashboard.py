"""What the console's dashboard shows, read from the store at a time given (no clock here):

- the requests **received** today (the UTC day of ``now``, up to ``now``) and in the 7 days
  ending at ``now``, by outcome. A request's outcome is its determination
  (``decision/outcomes.py``: approved, partial, denied, not-required) once it has one, as the
  CMS-0057-F metrics count it (an appeal never changes it); before that, ``pended`` while it
  waits for a reviewer, ``error`` when it was refused (not processed), else ``withdrawn``
  (the provider cancelled it before any determination);
- the **pended** requests by the time their decision is due, under the clock each runs on (an
  open appeal's, else the request's: ``operations/review.py`` ``running_clock``): overdue, due
  within 24 hours, within 72 hours, later; and the soonest due of them;
- the **time to decision** of standard and expedited requests determined (approved, partial or
  denied) in the last 30 days: from receipt to the first determination, its median and 90th
  percentile (nearest rank), in hours, with the count.

Counts are aggregated in SQL; only the soonest cases and the decision times of the window are
read row by row.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

from sqlalchemy import ColumnElement, and_, case, func, select
from sqlalchemy.orm import Session

from fhirauth.decision.metrics import REFUSED, hours, median, tenth
from fhirauth.decision.outcomes import APPROVED, DENIED, NOT_REQUIRED, PARTIAL
from fhirauth.operations import review
from fhirauth.store.models import Appeal, Authorization

PENDED = "pended"
WITHDRAWN = "withdrawn"
ERROR = "error"
# In the order the dashboard lists them.
OUTCOMES = (APPROVED, PARTIAL, DENIED, PENDED, NOT_REQUIRED, WITHDRAWN, ERROR)
OUTCOME_LABELS = {
    APPROVED: "approved",
    PARTIAL: "partially approved",
    DENIED: "denied",
    PENDED: "pended",
    NOT_REQUIRED: "no authorization needed",
    WITHDRAWN: "cancelled or withdrawn",
    ERROR: "error (not processed)",
}

OVERDUE = "overdue"
DUE_24H = "due-24h"
DUE_72H = "due-72h"
LATER = "later"
DUE_BUCKETS = (OVERDUE, DUE_24H, DUE_72H, LATER)
DUE_LABELS = {
    OVERDUE: "overdue",
    DUE_24H: "due within 24 h",
    DUE_72H: "due within 72 h",
    LATER: "due later",
}

WEEK = timedelta(days=7)
TIMES_WINDOW = timedelta(days=30)
SOONEST = 10
_DETERMINED = (APPROVED, PARTIAL, DENIED)


def outcome_of(status: str, determination: str | None) -> str:
    """A request's outcome on the dashboard, from its status and determination."""
    if determination in (APPROVED, PARTIAL, DENIED, NOT_REQUIRED):
        return determination
    if status == PENDED:
        return PENDED
    if status == REFUSED:
        return ERROR
    return WITHDRAWN


def due_bucket(due: datetime, now: datetime) -> str:
    """Which bucket a decision due at ``due`` falls in at ``now`` (overdue once due, as
    ``decision/clocks.py`` ``urgency`` has it)."""
    if due <= now:
        return OVERDUE
    if due <= now + timedelta(hours=24):
        return DUE_24H
    if due <= now + timedelta(hours=72):
        return DUE_72H
    return LATER


def percentile(values: list[Decimal], share: int) -> Decimal:
    """The nearest-rank ``share``th percentile: the smallest value at least ``share`` percent
    of the values are no greater than."""
    ordered = sorted(values)
    rank = max(math.ceil(len(ordered) * share / 100), 1)
    return ordered[rank - 1]


@dataclass(frozen=True)
class Received:
    """The requests received from ``start`` to ``end``, by outcome (every one of OUTCOMES)."""

    label: str
    start: datetime
    end: datetime
    counts: dict[str, int]

    @property
    def total(self) -> int:
        return sum(self.counts.values())


@dataclass(frozen=True)
class Pended:
    """The pended requests by due bucket (every one of DUE_BUCKETS), and the soonest due as
    the review queue shows a case (``operations/review.py`` ``case``)."""

    counts: dict[str, int]
    soonest: list[dict[str, Any]]

    @property
    def total(self) -> int:
        return sum(self.counts.values())

    @property
    def overdue(self) -> int:
        return self.counts[OVERDUE]


@dataclass(frozen=True)
class DecisionTimes:
    """Hours from receipt to determination of one clock class; None when nothing was
    determined in the window."""

    expedited: bool
    count: int
    median_hours: float | None
    p90_hours: float | None

    @property
    def label(self) -> str:
        return "expedited" if self.expedited else "standard"


@dataclass(frozen=True)
class Dashboard:
    now: datetime
    today: Received
    week: Received
    pended: Pended
    standard: DecisionTimes
    expedited: DecisionTimes
    times_since: datetime


def received(session: Session, label: str, start: datetime, end: datetime) -> Received:
    """The requests received after ``start`` (from it, for a day) up to ``end``, by outcome."""
    counts = dict.fromkeys(OUTCOMES, 0)
    for status, determination, n in session.execute(
        select(Authorization.status, Authorization.determination, func.count())
        .where(Authorization.received_at >= start, Authorization.received_at <= end)
        .group_by(Authorization.status, Authorization.determination)
    ):
        counts[outcome_of(status, determination)] += n
    return Received(label, start, end, counts)


def _open_appeal() -> ColumnElement[bool]:
    return and_(Appeal.authorization_id == Authorization.id, Appeal.decided_at.is_(None))


def _due() -> ColumnElement[datetime]:
    """When a pended case's decision is due: its open appeal's due time, else the request's."""
    return func.coalesce(Appeal.due_at, Authorization.due_at)


def pended(session: Session, now: datetime, soonest: int = SOONEST) -> Pended:
    """The pended requests by due bucket, counted in SQL; those with no due time stored
    (authorizations older than the review clocks) are few and reckoned here as the queue
    reckons them."""
    due = _due()
    bucket = case(
        (due <= now, OVERDUE),
        (due <= now + timedelta(hours=24), DUE_24H),
        (due <= now + timedelta(hours=72), DUE_72H),
        else_=LATER,
    )
    base = (
        select(Authorization, Appeal)
        .outerjoin(Appeal, _open_appeal())
        .where(Authorization.status == PENDED)
    )
    counts = dict.fromkeys(DUE_BUCKETS, 0)
    for name, n in session.execute(
        select(bucket, func.count())
        .select_from(Authorization)
        .outerjoin(Appeal, _open_appeal())
        .where(Authorization.status == PENDED, due.is_not(None))
        .group_by(bucket)
    ):
        counts[name] += n
    cases = [
        review.case(auth, now, appeal)
        for auth, appeal in session.execute(
            base.where(due.is_not(None)).order_by(due, Authorization.id).limit(soonest)
        )
    ]
    for auth, appeal in session.execute(base.where(due.is_(None))):
        _, when, _ = review.running_clock(auth, appeal)
        counts[due_bucket(when, now)] += 1
        cases.append(review.case(auth, now, appeal))
    cases.sort(key=lambda c: (c["dueAt"], c["id"]))
    return Pended(counts, cases[:soonest])


def decision_times(session: Session, since: datetime, until: datetime) -> list[DecisionTimes]:
    """Standard, then expedited: hours from receipt to determination of the requests
    determined (approved, partial or denied) after ``since`` up to ``until``."""
    spans: dict[bool, list[Decimal]] = {False: [], True: []}
    for expedited, received_at, determined_at in session.execute(
        select(Authorization.expedited, Authorization.received_at, Authorization.determined_at)
        .where(
            Authorization.determined_at > since,
            Authorization.determined_at <= until,
            Authorization.determination.in_(_DETERMINED),
        )
        .execution_options(yield_per=2000)
    ):
        spans[bool(expedited)].append(hours(determined_at - received_at))
    return [
        DecisionTimes(
            kind,
            len(values),
            tenth(median(values)) if values else None,
            tenth(percentile(values, 90)) if values else None,
        )
        for kind, values in sorted(spans.items())
    ]


def dashboard(session: Session, now: datetime, soonest: int = SOONEST) -> Dashboard:
    midnight = now.replace(hour=0, minute=0, second=0, microsecond=0)
    since = now - TIMES_WINDOW
    standard, expedited = decision_times(session, since, now)
    return Dashboard(
        now=now,
        today=received(session, "today", midnight, now),
        week=received(session, "last 7 days", now - WEEK, now),
        pended=pended(session, now, soonest),
        standard=standard,
        expedited=expedited,
        times_since=since,
    )
