"""Rule results → a :class:`Decision`: review action, authorization number, period, reason."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from decimal import Decimal
from typing import Any, NamedTuple

from fhirauth.policy import Documentation, RuleResult
from fhirauth.policy.context import requested_dates

REVIEW_ACTIONS = {
    "A1": "Certified in total",
    "A2": "Certified - partial",
    "A3": "Not Certified",
    "A4": "Pended",
    "A6": "Modified",
    "C": "Cancelled",
    "CT": "Contact Payer",
    "NA": "No Action Required",
}
CERTIFIED = frozenset({"A1", "A2", "A6"})


@dataclass(frozen=True)
class ItemDecision:
    sequence: int
    action: str
    rule_id: str | None
    number: str | None = None
    period: tuple[date, date] | None = None
    issue_date: date | None = None
    reason_code: str | None = None
    reason: str | None = None
    requested: tuple[date, date] | None = None
    recommendation: str | None = None
    authorized_quantity: Decimal | None = None
    missing: tuple[Documentation, ...] = ()
    trace: dict[str, Any] = field(default_factory=dict)

    @property
    def certified(self) -> bool:
        return self.action in CERTIFIED


class AaaError(NamedTuple):
    """Why the payer cannot process a request (X12 AAA): a 901 reject reason, a sentence, the
    FHIRPath of what is wrong, and an 889 follow-up action."""

    code: str
    text: str
    path: str | None = None
    followup: str = "C"  # Please Correct and Resubmit


@dataclass(frozen=True)
class Decision:
    pre_auth_ref: str
    decided_at: datetime
    items: tuple[ItemDecision, ...]
    # Set when the payer cannot process the request at all (X12 AAA).
    errors: tuple[AaaError, ...] = ()
    # A review action for the whole request (a cancellation of all of it: C).
    header_action: str | None = None
    # Set when a person decided (claimResponseReviewer.reviewerNPI); None for the policy.
    reviewer_npi: str | None = None

    @property
    def period(self) -> tuple[date, date] | None:
        periods = [i.period for i in self.items if i.period]
        if not periods:
            return None
        return min(p[0] for p in periods), max(p[1] for p in periods)

    @property
    def requested(self) -> tuple[date, date] | None:
        spans = [i.requested for i in self.items if i.requested]
        if not spans:
            return None
        return min(s[0] for s in spans), max(s[1] for s in spans)

    @property
    def pended(self) -> bool:
        return any(i.action == "A4" for i in self.items)


def item_number(pre_auth_ref: str, sequence: int) -> str:
    """An item keeps this number across updates and versions of its authorization."""
    return f"{pre_auth_ref}-{sequence}"


def decide(
    claim: dict[str, Any], results: list[RuleResult], pre_auth_ref: str, now: datetime
) -> Decision:
    """Turn each item's rule result into its review action.

    Certified items run from the requested start of service (today when that is past or
    absent) for the rule's period, or the authorized number of days when a limit cut it.
    """
    today = now.date()
    items_by_seq = {int(i["sequence"]): i for i in claim.get("item") or []}
    out = []
    for r in results:
        requested = requested_dates(items_by_seq.get(r.sequence, {}), claim)
        decided: dict[str, Any] = {}
        if r.action in CERTIFIED:
            start = max(requested[0], today) if requested else today
            days = r.authorized_days or r.period_days
            decided = {
                "number": item_number(pre_auth_ref, r.sequence),
                "period": (start, start + timedelta(days=days - 1)),
                "issue_date": today,
                "authorized_quantity": r.authorized_quantity,
            }
            if r.action != "A1":
                decided |= {"reason_code": r.reason_code, "reason": r.reason}
        elif r.action == "A3":
            decided = {"reason_code": r.reason_code, "reason": r.reason, "issue_date": today}
        elif r.action == "A4":
            decided = {"missing": r.missing, "recommendation": r.recommendation}
        out.append(
            ItemDecision(
                r.sequence, r.action, r.rule_id, requested=requested, trace=r.trace, **decided
            )
        )
    return Decision(pre_auth_ref, now, tuple(out))
