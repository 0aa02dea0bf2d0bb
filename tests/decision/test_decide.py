"""fhirauth.decision.decide: each item's rule result → review action, number, period, reason."""

from __future__ import annotations

from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any

import pytest

from fhirauth.decision.decide import Decision, ItemDecision, decide, item_number
from fhirauth.policy.engine import RuleResult
from fhirauth.policy.loader import Documentation

NOW = datetime(2026, 12, 1, 12, tzinfo=UTC)
TODAY = date(2026, 12, 1)
REF = "PA-7F3K"
NOTE = Documentation("Progress note", code="11506-3")


def claim(*items: dict[str, Any]) -> dict[str, Any]:
    return {"item": list(items) or [{"sequence": 3, "servicedDate": "2026-12-07"}]}


def result(action: str, sequence: int = 3, period_days: int = 60, **extra: Any) -> RuleResult:
    return RuleResult(sequence, "test-plan", f"{action.lower()}-rule", action, period_days, **extra)


def decide_one(r: RuleResult, c: dict[str, Any] | None = None) -> ItemDecision:
    (only,) = decide(c or claim(), [r], REF, NOW).items
    return only


# --- Certified in total (A1) -------------------------------------------------------------------


def test_an_approval_is_certified_in_total_with_number_ref_dash_sequence() -> None:
    d = decide_one(result("A1"))
    assert (d.action, d.number, d.certified) == ("A1", f"{REF}-3", True)
    assert item_number(REF, 3) == f"{REF}-3"


def test_an_approval_starts_at_the_requested_service_date_and_lasts_period_days() -> None:
    d = decide_one(result("A1", period_days=60))
    assert d.period == (date(2026, 12, 7), date(2027, 2, 4))
    assert (d.period[1] - d.period[0]).days + 1 == 60


def test_an_approval_for_a_service_period_already_under_way_starts_today() -> None:
    c = claim({"sequence": 3, "servicedPeriod": {"start": "2026-11-20", "end": "2026-12-20"}})
    d = decide_one(result("A1", period_days=30), c)
    assert d.period == (TODAY, date(2026, 12, 30))


def test_an_approval_without_requested_dates_starts_today() -> None:
    d = decide_one(result("A1", period_days=10), claim({"sequence": 3}))
    assert d.period == (TODAY, date(2026, 12, 10))
    assert d.requested is None


def test_an_approval_is_issued_today() -> None:
    c = claim({"sequence": 3, "servicedDate": "2027-03-01"})
    assert decide_one(result("A1"), c).issue_date == TODAY


def test_an_approval_carries_no_reason_or_authorized_quantity() -> None:
    d = decide_one(result("A1", reason_code="X", reason="ignored"))
    assert (d.reason_code, d.reason, d.authorized_quantity) == (None, None, None)


def test_the_requested_dates_are_kept_on_the_decision() -> None:
    c = claim({"sequence": 3, "servicedPeriod": {"start": "2027-01-04", "end": "2027-01-08"}})
    assert decide_one(result("A1"), c).requested == (date(2027, 1, 4), date(2027, 1, 8))


# --- Partial (A2) and modified (A6) ------------------------------------------------------------


@pytest.mark.parametrize("action", ["A2", "A6"])
def test_a_cut_approval_carries_the_authorized_quantity_and_the_reason(action: str) -> None:
    r = result(
        action,
        authorized_quantity=Decimal(20),
        reason_code="BEN",
        reason="Twenty visits at a time",
    )
    d = decide_one(r)
    assert (d.action, d.certified) == (action, True)
    assert d.authorized_quantity == Decimal(20)
    assert (d.reason_code, d.reason) == ("BEN", "Twenty visits at a time")


@pytest.mark.parametrize("action", ["A2", "A6"])
def test_a_cut_approval_has_a_number_and_period_like_an_approval(action: str) -> None:
    d = decide_one(result(action, period_days=60, authorized_quantity=Decimal(1), reason="r"))
    assert d.number == f"{REF}-3"
    assert d.period == (date(2026, 12, 7), date(2027, 2, 4))
    assert d.issue_date == TODAY


def test_a_cut_in_days_authorizes_that_many_days_from_the_start() -> None:
    c = claim({"sequence": 3, "servicedPeriod": {"start": "2027-01-04", "end": "2027-01-13"}})
    d = decide_one(result("A6", period_days=90, authorized_days=5, reason="Five days"), c)
    assert d.period == (date(2027, 1, 4), date(2027, 1, 8))


# --- Not certified (A3) ------------------------------------------------------------------------


def test_a_denial_is_not_certified_and_carries_its_reason_code_and_text() -> None:
    r = result("A3", reason_code="NC", reason="Cosmetic services are excluded", excluded=True)
    d = decide_one(r)
    assert (d.action, d.certified) == ("A3", False)
    assert (d.reason_code, d.reason) == ("NC", "Cosmetic services are excluded")
    assert d.number is None and d.period is None


def test_a_denial_is_issued_today() -> None:
    assert decide_one(result("A3", reason_code="NC", reason="No")).issue_date == TODAY


# --- Pended (A4) and no action (NA) ------------------------------------------------------------


def test_a_pended_item_lists_the_missing_documentation_and_gets_no_number() -> None:
    d = decide_one(result("A4", missing=(NOTE,), required=(NOTE,)))
    assert (d.action, d.certified) == ("A4", False)
    assert d.missing == (NOTE,)
    assert (d.number, d.period, d.issue_date) == (None, None, None)


def test_a_pended_item_keeps_the_rules_recommendation_but_not_its_cut() -> None:
    r = result(
        "A4", recommendation="A6", authorized_quantity=Decimal(1), reason_code="BEN", reason="r"
    )
    d = decide_one(r)
    assert d.recommendation == "A6"
    assert (d.authorized_quantity, d.reason_code, d.reason) == (None, None, None)


@pytest.mark.parametrize("action", ["NA", "CT"])
def test_no_action_and_contact_payer_items_carry_nothing(action: str) -> None:
    d = decide_one(result(action))
    assert d.action == action
    assert (d.number, d.period, d.issue_date, d.reason_code, d.reason) == (None,) * 5
    assert (d.missing, d.recommendation, d.authorized_quantity) == ((), None, None)


# --- The decision as a whole -------------------------------------------------------------------


def mixed() -> Decision:
    c = claim(
        {"sequence": 1, "servicedDate": "2026-12-14"},
        {"sequence": 2, "servicedDate": "2026-12-16"},
        {"sequence": 3, "servicedPeriod": {"start": "2026-12-16", "end": "2027-01-15"}},
        {"sequence": 4, "servicedDate": "2027-01-21"},
    )
    results = [
        result("NA", 1),
        result("A1", 2, period_days=60),
        result("A4", 3),
        result("A3", 4, reason_code="NC", reason="Cosmetic"),
    ]
    return decide(c, results, REF, NOW)


def test_a_decision_answers_every_item_in_order_with_the_rule_that_decided() -> None:
    decision = mixed()
    assert [(d.sequence, d.action, d.rule_id) for d in decision.items] == [
        (1, "NA", "na-rule"),
        (2, "A1", "a1-rule"),
        (3, "A4", "a4-rule"),
        (4, "A3", "a3-rule"),
    ]
    assert (decision.pre_auth_ref, decision.decided_at, decision.errors) == (REF, NOW, ())


def test_a_decision_spans_the_periods_of_its_certified_items() -> None:
    assert mixed().period == (date(2026, 12, 16), date(2027, 2, 13))


def test_a_decision_spans_every_requested_date() -> None:
    assert mixed().requested == (date(2026, 12, 14), date(2027, 1, 21))


def test_a_decision_with_nothing_certified_has_no_period() -> None:
    assert decide(claim(), [result("A3", reason="No")], REF, NOW).period is None


def test_a_decision_with_a_pended_item_is_pended() -> None:
    assert mixed().pended is True
    assert decide(claim(), [result("A1")], REF, NOW).pended is False


def test_the_trace_of_each_result_is_kept_with_its_decision() -> None:
    trace = {"decided_by": "knee", "why": "criteria met"}
    assert decide_one(result("A1", trace=trace)).trace == trace
