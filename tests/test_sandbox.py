"""fhirauth.sandbox: scripted outcomes for every item, whatever the bundle holds."""

from __future__ import annotations

import itertools
from dataclasses import replace
from datetime import UTC, datetime
from decimal import Decimal

import pytest
from fhir.resources.R4B.claimresponse import ClaimResponse

from fhirauth import sandbox
from fhirauth.decision.decide import decide
from fhirauth.decision.response import Naming, claim_response
from fhirauth.fhir.bundle import parse_request
from fhirauth.policy import ItemContext, RuleResult
from tests.policy.bundles import demo_policy, example, request_contexts

NOW = datetime(2026, 12, 1, 12, tzinfo=UTC)
SCRIPTABLE = [o for o in sandbox.OUTCOMES if o != "error"]


def mixed_contexts() -> list[ItemContext]:
    """The four items of mixed-outcomes.json, which the demo policy answers NA, A1, A4, A3."""
    return request_contexts(parse_request(example("mixed-outcomes.json")))


def scripted(outcome: str, contexts: list[ItemContext] | None = None) -> list[RuleResult]:
    return sandbox.scripted_results(outcome, contexts or mixed_contexts(), demo_policy())


def with_quantity(quantity: Decimal | None) -> list[ItemContext]:
    return [replace(mixed_contexts()[0], quantity=quantity)]


def test_every_outcome_but_error_can_be_scripted() -> None:
    assert SCRIPTABLE == ["A1", "A2", "A3", "A4", "A6", "NA", "CT"]


@pytest.mark.parametrize("outcome", SCRIPTABLE)
def test_a_scripted_outcome_answers_every_item_with_it(outcome: str) -> None:
    results = scripted(outcome)
    assert [(r.sequence, r.action) for r in results] == [(s, outcome) for s in (1, 2, 3, 4)]


@pytest.mark.parametrize("outcome", SCRIPTABLE)
def test_a_scripted_result_names_the_sandbox_and_the_policy(outcome: str) -> None:
    policy = demo_policy()
    for r in scripted(outcome):
        assert (r.rule_id, r.policy_id, r.period_days) == (
            "sandbox",
            policy.id,
            policy.approval_period_days,
        )


@pytest.mark.parametrize("outcome", SCRIPTABLE)
def test_a_scripted_results_trace_says_the_tester_scripted_it(outcome: str) -> None:
    (first, *_) = scripted(outcome)
    assert first.trace["decided_by"] == "sandbox"
    assert first.trace["outcome"] == outcome
    assert outcome in first.trace["why"]
    assert first.trace["codes"] == ["http://www.ama-assn.org/go/cpt|99213"]


@pytest.mark.parametrize("outcome", ["A1", "NA", "CT"])
def test_a_scripted_approval_no_action_or_contact_carries_nothing_more(outcome: str) -> None:
    for r in scripted(outcome):
        assert (r.reason_code, r.reason, r.authorized_quantity) == (None, None, None)
        assert (r.missing, r.recommendation) == ((), None)


def test_a_scripted_denial_carries_the_sandbox_reason() -> None:
    for r in scripted("A3"):
        assert r.reason_code == sandbox.SANDBOX_DENIAL_CODE
        assert r.reason and "scripted" in r.reason


def test_a_scripted_pend_asks_for_the_progress_note_and_a_questionnaire() -> None:
    for r in scripted("A4"):
        assert [d.code for d in r.missing] == ["11506-3", None]
        assert r.missing[1].questionnaire
        assert r.required == r.missing


@pytest.mark.parametrize("outcome", ["A2", "A6"])
@pytest.mark.parametrize(
    ("requested", "authorized"),
    [(Decimal(4), Decimal(2)), (Decimal(10), Decimal(5)), (Decimal(1), Decimal(1))],
)
def test_a_scripted_cut_authorizes_half_the_requested_quantity_and_at_least_one(
    outcome: str, requested: Decimal, authorized: Decimal
) -> None:
    (r,) = scripted(outcome, with_quantity(requested))
    assert r.authorized_quantity == authorized
    assert r.reason == f"Sandbox: authorized {authorized} of the {requested} requested."


@pytest.mark.parametrize("outcome", ["A2", "A6"])
def test_a_scripted_cut_of_an_item_without_a_quantity_authorizes_one_of_two(
    outcome: str,
) -> None:
    (r,) = scripted(outcome, with_quantity(None))
    assert r.authorized_quantity == Decimal(1)
    assert r.reason == "Sandbox: authorized 1 of the 2 requested."


def test_no_items_script_no_results() -> None:
    assert sandbox.scripted_results("A1", [], demo_policy()) == []


@pytest.mark.parametrize("outcome", SCRIPTABLE)
def test_a_scripted_outcome_becomes_a_valid_claim_response_with_that_action(outcome: str) -> None:
    req = parse_request(example("mixed-outcomes.json"))
    decision = decide(req.claim.resource, scripted(outcome), "PA-SANDBOX", NOW)
    counter = itertools.count(1)
    naming = Naming(
        "http://payer.example.org/fhir",
        "http://payer.example.org/fhir/sid/pa",
        "http://payer.example.org/fhir/sid/attachment",
        lambda: f"{next(counter):032x}",
    )
    cr, created = claim_response(req, decision, response_id="cr-sandbox", naming=naming)
    ClaimResponse.model_validate(cr)
    assert [d.action for d in decision.items] == [outcome] * 4
    # A4: per item a CommunicationRequest for the note and one for the questionnaire, a Task
    assert len(created) == (12 if outcome == "A4" else 0)


def test_a_scripted_error_is_a_member_not_found_eligibility() -> None:
    error = sandbox.SCRIPTED_ERROR
    assert (error.active, error.code, error.path) == (False, "75", "identifier")
