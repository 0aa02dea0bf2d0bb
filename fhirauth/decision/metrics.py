"""CMS-0057-F's yearly prior-authorization metrics, computed from plain rows (one per request)
so that they can be checked without a database. ``operations/reports.py`` reads the rows;
``fhirauth report metrics`` prints them. README "CMS-0057-F metrics" gives the definitions:

- the requests of a year are those **received** in it (UTC), standard and expedited apart
  (by the request's own clock class, whatever its appeal's);
- the **determined** requests are the denominator of every percentage: those whose review
  came to a determination of ``approved``, ``partial`` or ``denied``
  (``decision/outcomes.py``). Listed apart, and in no percentage: requests still undecided,
  withdrawn before a determination, refused (outcome error: not processed), or for services
  needing no authorization;
- **approved after appeal**: determined requests whose last decided appeal overturned the
  denial (in full; in part is counted apart); appeals still open are listed apart;
- **extended, then approved**: determined requests whose review time a reviewer extended
  (``fhirauth review extend``) and whose determination is ``approved``;
- **time to decision**: from receipt to the first determination, in hours, over the
  determined requests: the mean, and the median (the middle value, or the mean of the two
  middle values).

Percentages and hours are rounded half up to one decimal; every figure carries the count
it was computed from (``count`` of ``of``, or ``of`` for times).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from fhirauth.decision.outcomes import (
    APPROVED,
    DENIED,
    NOT_REQUIRED,
    OVERTURNED,
    PARTIAL,
    PARTLY_OVERTURNED,
    UPHELD,
    WITHDRAWN,
)

REFUSED = "error"  # an authorization's status when the request was not processed
_TENTH = Decimal("0.1")
_HOUR = Decimal(3600)


@dataclass(frozen=True)
class RequestRow:
    """One request (an authorization) as the metrics see it."""

    id: str
    pre_auth_ref: str | None
    expedited: bool
    status: str
    received_at: datetime
    due_at: datetime | None
    determined_at: datetime | None = None
    determination: str | None = None
    review_extended: bool = False
    # The outcome of its last decided appeal, if any was decided.
    appeal_outcome: str | None = None
    # Received and due times of its appeal still open, if one is.
    open_appeal: tuple[datetime, datetime] | None = None


def tenth(value: Decimal) -> float:
    """``value`` rounded half up to one decimal."""
    return float(value.quantize(_TENTH, rounding=ROUND_HALF_UP))


def share(count: int, of: int) -> dict[str, Any]:
    """A percentage with what it was computed from; None when there is nothing to count."""
    percent = tenth(Decimal(count * 100) / Decimal(of)) if of else None
    return {"count": count, "of": of, "percent": percent}


def hours(span: timedelta) -> Decimal:
    seconds = Decimal(span.days * 86400 + span.seconds) + Decimal(span.microseconds) / 10**6
    return seconds / _HOUR


def median(values: list[Decimal]) -> Decimal:
    ordered = sorted(values)
    middle = len(ordered) // 2
    if len(ordered) % 2:
        return ordered[middle]
    return (ordered[middle - 1] + ordered[middle]) / 2


def times(spans: list[Decimal]) -> dict[str, Any]:
    if not spans:
        return {"of": 0, "averageHours": None, "medianHours": None}
    return {
        "of": len(spans),
        "averageHours": tenth(sum(spans, Decimal(0)) / len(spans)),
        "medianHours": tenth(median(spans)),
    }


def _iso(at: datetime | None) -> str | None:
    return at.isoformat() if at else None


def _class(rows: list[RequestRow]) -> dict[str, Any]:
    determined = [r for r in rows if r.determination in (APPROVED, PARTIAL, DENIED)]
    n = len(determined)
    undecided = [r for r in rows if r.status == "pended" and r.determined_at is None]
    refused = [r for r in rows if r.status == REFUSED]
    not_required = [r for r in rows if r.determination == NOT_REQUIRED]
    withdrawn = [r for r in rows if r.determined_at is None and r.status not in ("pended", REFUSED)]

    def counted(test: Any) -> dict[str, Any]:
        return share(sum(1 for r in determined if test(r)), n)

    appealed = [r for r in determined if r.appeal_outcome or r.open_appeal]
    open_appeals = [r for r in determined if r.open_appeal]
    return {
        "received": len(rows),
        "determined": n,
        "approved": counted(lambda r: r.determination == APPROVED),
        "partiallyApproved": counted(lambda r: r.determination == PARTIAL),
        "denied": counted(lambda r: r.determination == DENIED),
        "approvedAfterAppeal": counted(lambda r: r.appeal_outcome == OVERTURNED),
        "partiallyApprovedAfterAppeal": counted(lambda r: r.appeal_outcome == PARTLY_OVERTURNED),
        "extendedThenApproved": counted(
            lambda r: r.review_extended and r.determination == APPROVED
        ),
        "reviewExtended": counted(lambda r: r.review_extended),
        "timeToDecision": times(
            [hours(r.determined_at - r.received_at) for r in determined if r.determined_at]
        ),
        "appeals": {
            "appealed": len(appealed),
            "overturned": sum(1 for r in appealed if r.appeal_outcome == OVERTURNED),
            "partiallyOverturned": sum(
                1 for r in appealed if r.appeal_outcome == PARTLY_OVERTURNED
            ),
            "upheld": sum(1 for r in appealed if r.appeal_outcome == UPHELD),
            "withdrawn": sum(1 for r in appealed if r.appeal_outcome == WITHDRAWN),
            "open": [
                {
                    "id": r.id,
                    "preAuthRef": r.pre_auth_ref,
                    "appealReceivedAt": _iso(r.open_appeal[0]),
                    "appealDueAt": _iso(r.open_appeal[1]),
                }
                for r in open_appeals
                if r.open_appeal
            ],
        },
        "apart": {
            "undecided": [
                {
                    "id": r.id,
                    "preAuthRef": r.pre_auth_ref,
                    "receivedAt": _iso(r.received_at),
                    "dueAt": _iso(r.due_at),
                }
                for r in sorted(undecided, key=lambda r: r.received_at)
            ],
            "withdrawn": len(withdrawn),
            "refused": len(refused),
            "noAuthorizationNeeded": len(not_required),
        },
    }


def metrics(
    rows: Iterable[RequestRow], year: int, as_of: datetime, policy: str | None = None
) -> dict[str, Any]:
    """The report of ``year`` from the requests received in it (of ``policy`` only, if the
    rows were read so), as the data stand at ``as_of``."""
    everything = list(rows)
    return {
        "year": year,
        "policy": policy,
        "asOf": as_of.isoformat(),
        "standard": _class([r for r in everything if not r.expedited]),
        "expedited": _class([r for r in everything if r.expedited]),
    }
