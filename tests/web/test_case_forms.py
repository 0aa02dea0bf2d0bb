"""The case page's forms (web/case_forms.py): the reason codes a denial chooses from, and a
decision or assignment read from what a browser posts."""

from __future__ import annotations

from decimal import Decimal

import pytest

from fhirauth.operations.review import ReviewDecision
from fhirauth.services import Services
from fhirauth.web.case_forms import FormError, assignee_of, decision_of, reason_codes


def test_the_reason_codes_are_the_policies_and_the_reviewers_own(services: Services) -> None:
    found = dict(reason_codes(services.policies))
    assert set(found) == {"AGE", "BEN", "CST", "MN", "NC"}
    assert found["MN"] == "MN: medical necessity criteria not met"
    assert found["NC"] == "NC: as in cosmetic-hair-transplant"


def test_a_form_becomes_the_decision_it_asks_for() -> None:
    form = {"csrf": "x", "action": "modify", "quantity": "2.5", "period_days": "10", "reason": " "}
    with pytest.raises(FormError, match="say why"):
        decision_of(form, [], 3, ["MN"])
    form["reason"] = " Two sessions "
    assert decision_of(form, [], 3, ["MN"]) == ReviewDecision(
        3, "modify", period_days=10, quantity=Decimal("2.5"), reason="Two sessions"
    )
    asked = decision_of({"action": "request-info"}, ["18748-4"], 1, [])
    assert asked.documents == ("18748-4",)
    with pytest.raises(FormError, match="documents"):
        decision_of({"action": "request-info"}, ["99999-9"], 1, [])
    with pytest.raises(FormError, match="quantity"):
        decision_of({"action": "approve", "quantity": "1e400"}, [], 1, [])


def test_an_assignment_names_an_enabled_account_or_nobody() -> None:
    assert assignee_of({"csrf": "x", "username": "rita"}, ["ada", "rita"]) == "rita"
    assert assignee_of({"username": ""}, ["rita"]) is None
    with pytest.raises(FormError, match="enabled staff account"):
        assignee_of({"username": "mallory"}, ["rita"])
