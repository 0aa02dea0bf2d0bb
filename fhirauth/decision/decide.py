"""Rule results → a :class:`Decision`: review action, authorization number, period, reason."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any

from fhirauth.policy.engine import RuleResult

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
_ACTION_FOR_OUTCOME = {"approve": "A1", "deny": "A3", "pend": "A4", "no-auth": "NA"}


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
    trace: dict[str, Any] = field(default_factory=dict)

    @property
    def certified(self) -> bool:
        return self.action in CERTIFIED


@dataclass(frozen=True)
class Decision:
    pre_auth_ref: str
    decided_at: datetime
    items: tuple[ItemDecision, ...]

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


def requested_dates(item: dict[str, Any], claim: dict[str, Any]) -> tuple[date, date] | None:
    """The dates of service an item asks for: servicedDate, servicedPeriod or billablePeriod."""
    if item.get("servicedDate"):
        d = _date(item["servicedDate"])
        return (d, d) if d else None
    period = item.get("servicedPeriod") or claim.get("billablePeriod")
    if period:
        start, end = _date(period.get("start")), _date(period.get("end"))
        if start or end:
            return (start or end, end or start)  # type: ignore[return-value]
    return None


def _date(value: Any) -> date | None:
    if not isinstance(value, str) or len(value) < 10:
        return None
    try:
        return date.fromisoformat(value[:10])
    except ValueError:
        return None


def decide(
    claim: dict[str, Any], results: list[RuleResult], pre_auth_ref: str, now: datetime
) -> Decision:
    """Turn each item's rule result into its review action.

    Approvals run from the requested start of service (today when that is past or absent)
    for the rule's period. Authorization numbers are the authorization's reference plus the
    item sequence, so an item keeps its number across updates and versions.
    """
    today = now.date()
    items_by_seq = {int(i["sequence"]): i for i in claim.get("item") or []}
    out = []
    for r in results:
        action = _ACTION_FOR_OUTCOME[r.outcome]
        requested = requested_dates(items_by_seq.get(r.sequence, {}), claim)
        decided: dict[str, Any] = {}
        if action in CERTIFIED:
            start = max(requested[0], today) if requested else today
            decided = {
                "number": f"{pre_auth_ref}-{r.sequence}",
                "period": (start, start + timedelta(days=r.period_days - 1)),
                "issue_date": today,
            }
        elif action == "A3":
            decided = {"reason_code": r.reason_code, "reason": r.reason, "issue_date": today}
        out.append(
            ItemDecision(
                r.sequence, action, r.rule_id, requested=requested, trace=r.trace, **decided
            )
        )
    return Decision(pre_auth_ref, now, tuple(out))
