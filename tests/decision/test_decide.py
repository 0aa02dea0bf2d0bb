"""fhirauth.decision.decide: each item's rule result → review action, number and period."""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Any

import pytest

from fhirauth.decision.decide import ItemDecision, decide
from fhirauth.policy.engine import RuleResult

NOW = datetime(2026, 12, 1, 12, tzinfo=UTC)
TODAY = date(2026, 12, 1)
REF = "PA-7F3K"


def claim(**item: Any) -> dict[str, Any]:
    return {"item": [{"sequence": 3, **item}]}


def result(outcome: str, period_days: int = 60, **extra: Any) -> RuleResult:
    return RuleResult(3, "test-plan", f"{outcome}-rule", outcome, period_days, **extra)


def decide_one(c: dict[str, Any], r: RuleResult) -> ItemDecision:
    (only,) = decide(c, [r], REF, NOW).items
    return only


def test_an_approval_is_certified_in_total_with_number_ref_dash_sequence() -> None:
    d = decide_one(claim(servicedDate="2026-12-07"), result("approve"))
    assert d.action == "A1"
    assert d.number == f"{REF}-3"


def test_an_approval_starts_at_the_requested_service_date_and_lasts_period_days() -> None:
    d = decide_one(claim(servicedDate="2026-12-07"), result("approve", period_days=60))
    assert d.period == (date(2026, 12, 7), date(2027, 2, 4))
    assert (d.period[1] - d.period[0]).days + 1 == 60


def test_an_approval_for_a_service_date_already_past_starts_today() -> None:
    d = decide_one(
        claim(servicedPeriod={"start": "2026-11-20", "end": "2026-12-20"}),
        result("approve", period_days=30),
    )
    assert d.period == (TODAY, date(2026, 12, 30))


def test_an_approval_is_issued_today() -> None:
    d = decide_one(claim(servicedDate="2027-03-01"), result("approve"))
    assert d.issue_date == TODAY


def test_a_denial_is_not_certified_and_carries_its_reason_code_and_text() -> None:
    d = decide_one(
        claim(servicedDate="2026-12-07"),
        result("deny", reason_code="NC", reason="Cosmetic services are excluded"),
    )
    assert d.action == "A3"
    assert (d.reason_code, d.reason) == ("NC", "Cosmetic services are excluded")
    assert d.number is None and d.period is None


@pytest.mark.parametrize(("outcome", "action"), [("pend", "A4"), ("no-auth", "NA")])
def test_pended_and_no_auth_items_carry_no_authorization_number_or_period(
    outcome: str, action: str
) -> None:
    d = decide_one(claim(servicedDate="2026-12-07"), result(outcome))
    assert d.action == action
    assert d.number is None
    assert d.period is None
