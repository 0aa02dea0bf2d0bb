"""fhirauth.policy.engine: which rule decides a Claim item, what it says, and the trace of why."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import replace
from datetime import date
from decimal import Decimal
from typing import Any

import pytest

from fhirauth.policy.codes import CPT, HCPCS, ICD10PCS, NDC, X12_SERVICE_TYPE
from fhirauth.policy.conditions import VARIABLES
from fhirauth.policy.context import ItemContext
from fhirauth.policy.engine import RuleResult, evaluate_item
from fhirauth.policy.loader import Documentation, Policy, compile_policy
from tests.policy.bundles import (
    HCPCS as HCPCS_URI,
)
from tests.policy.bundles import (
    add_diagnosis,
    claim_of,
    context,
    demo_policy,
    example,
    item_of,
    resource_of,
    set_code,
)

QUESTIONNAIRE = "http://payer.example.org/fhir/Questionnaire/knee"


def rule(
    rule_id: str,
    codes: list[str],
    outcome: str = "auth-required",
    system: str = "cpt",
    **extra: Any,
) -> dict[str, Any]:
    return {
        "id": rule_id,
        "match": [{"system": system, "codes": codes}],
        "outcome": outcome,
        **extra,
    }


def policy(*rules: dict[str, Any], **settings: Any) -> Policy:
    return compile_policy(
        {"id": "test-plan", "name": "Test Plan", "rules": list(rules), **settings}
    )


def item(
    code: str = "27447",
    system: str = CPT,
    *,
    sequence: int = 1,
    quantity: Decimal | int | None = None,
    modifiers: Iterable[str] = (),
    places: Iterable[str] = (),
    requested: tuple[date, date] | None = None,
    documents: Iterable[str] = (),
    questionnaires: Iterable[str] = (),
    **variables: Any,
) -> ItemContext:
    """An item context as claim_contexts would build it, given only what a test needs."""
    qty = Decimal(quantity) if quantity is not None else None
    documents, questionnaires = tuple(documents), tuple(questionnaires)
    return ItemContext(
        sequence=sequence,
        codes=((system, code),),
        modifiers=frozenset(modifiers),
        places=frozenset(places),
        quantity=qty,
        requested=requested,
        documents=frozenset(documents),
        questionnaires=frozenset(questionnaires),
        variables={name: None for name in VARIABLES}
        | {
            "documents": sorted(documents),
            "questionnaires": sorted(questionnaires),
            "quantity": float(qty) if qty is not None else None,
        }
        | variables,
    )


def decided_by(p: Policy, code: str, system: str = CPT) -> str | None:
    return evaluate_item(p, item(code, system)).rule_id


APPROVE = {"when": "%age >= 18", "period_days": 30}
LIMIT = {"quantity": 2, "reason_code": "BEN", "reason": "Two per year", "administrative": True}


# --- Code matching ---------------------------------------------------------------------------


@pytest.mark.parametrize(("code", "matches"), [("70450", True), ("70451", False), ("7045", False)])
def test_an_exact_code_matches_only_itself(code: str, matches: bool) -> None:
    p = policy(rule("ct", ["70450"]))
    assert (decided_by(p, code) == "ct") is matches


@pytest.mark.parametrize(
    ("code", "matches"),
    [
        ("70551", True),
        ("70552", True),
        ("70553", True),
        ("70550", False),
        ("70554", False),
        ("7055", False),
        ("705510", False),
    ],
)
def test_a_range_matches_the_codes_of_its_length_between_its_ends(code: str, matches: bool) -> None:
    p = policy(rule("mri", ["70551-70553"]))
    assert (decided_by(p, code) == "mri") is matches


@pytest.mark.parametrize(
    ("code", "matches"),
    [("K0001", True), ("K0004", True), ("K0007", True), ("K0008", False), ("K0000", False)],
)
def test_a_range_of_alphanumeric_codes_compares_them_as_text(code: str, matches: bool) -> None:
    p = policy(rule("wheelchair", ["K0001-K0007"], system="hcpcs"))
    assert (decided_by(p, code, HCPCS) == "wheelchair") is matches


@pytest.mark.parametrize(
    ("code", "matches"), [("J9035", True), ("J9", True), ("J0585", False), ("K9035", False)]
)
def test_a_prefix_matches_every_code_that_starts_with_it(code: str, matches: bool) -> None:
    p = policy(rule("chemo", ["J9*"], system="hcpcs"))
    assert (decided_by(p, code, HCPCS) == "chemo") is matches


@pytest.mark.parametrize(
    ("short", "uri", "code"),
    [
        ("cpt", CPT, "70450"),
        ("hcpcs", HCPCS, "K0001"),
        ("icd-10-pcs", ICD10PCS, "0SRC0J9"),
        ("ndc", NDC, "00074433902"),
        ("x12-service-type", X12_SERVICE_TYPE, "48"),
    ],
)
def test_a_short_system_name_matches_codes_of_its_uri(short: str, uri: str, code: str) -> None:
    p = policy(rule("named", [code], system=short))
    assert decided_by(p, code, uri) == "named"


@pytest.mark.parametrize(
    ("code", "matches"), [("0074-4339-02", True), ("0074-4339-03", False), ("0074-4339", False)]
)
def test_a_code_with_two_hyphens_is_an_exact_code_not_a_range(code: str, matches: bool) -> None:
    p = policy(rule("humira-pen", ["0074-4339-02"], system="ndc"))
    assert (decided_by(p, code, NDC) == "humira-pen") is matches


def test_a_system_given_as_a_uri_matches_codes_of_that_uri() -> None:
    p = policy(rule("ct", ["70450"], system=CPT))
    assert decided_by(p, "70450", CPT) == "ct"


def test_a_code_in_another_system_does_not_match() -> None:
    p = policy(rule("ct", ["70450"]))
    assert decided_by(p, "70450", "http://example.org/not-cpt") is None


def test_any_of_an_items_codings_may_match() -> None:
    p = policy(rule("ct", ["70450"]))
    ctx = item("LOCAL-1", "http://example.org/local")
    ctx = replace(ctx, codes=(*ctx.codes, (CPT, "70450")))
    assert evaluate_item(p, ctx).rule_id == "ct"


def test_a_rule_matching_several_of_an_items_codes_is_one_candidate_citing_them_all() -> None:
    p = policy(rule("imaging", ["70450", "70460"]))
    ctx = item("70450")
    ctx = replace(ctx, codes=((CPT, "70450"), (CPT, "70460")))
    (candidate,) = evaluate_item(p, ctx).trace["candidates"]
    assert candidate["codes"] == [f"{CPT}|70450", f"{CPT}|70460"]


# --- Priority and preconditions --------------------------------------------------------------


@pytest.mark.parametrize("high_first", [True, False])
def test_a_higher_priority_rule_wins_over_a_lower_one(high_first: bool) -> None:
    low = rule("imaging", ["70000-79999"], priority=0)
    high = rule("mri", ["70551"], "no-auth", priority=10)
    p = policy(*([high, low] if high_first else [low, high]))
    assert decided_by(p, "70551") == "mri"
    assert decided_by(p, "70450") == "imaging"


def test_a_negative_priority_rule_decides_only_what_nothing_else_claims() -> None:
    p = policy(
        rule("catch-all", ["0*"], "no-auth", priority=-1),
        rule("special", ["01234"]),
    )
    assert decided_by(p, "01234") == "special"
    assert decided_by(p, "01235") == "catch-all"


def test_a_rule_whose_modifiers_are_absent_falls_through_to_the_next_rule() -> None:
    p = policy(
        rule(
            "bilateral",
            ["27447"],
            "not-covered",
            modifiers=["50"],
            priority=10,
            reason_code="B",
            reason="No bilateral",
        ),
        rule("knee", ["27447"], "no-auth"),
    )
    assert evaluate_item(p, item(modifiers=["RT"])).rule_id == "knee"
    assert evaluate_item(p, item(modifiers=["50", "RT"])).rule_id == "bilateral"


def test_a_rule_whose_place_of_service_differs_falls_through_to_the_next_rule() -> None:
    p = policy(
        rule("inpatient-knee", ["27447"], place_of_service=["21"], priority=10),
        rule("knee", ["27447"], "no-auth"),
    )
    assert evaluate_item(p, item(places=["22"])).rule_id == "knee"
    assert evaluate_item(p, item(places=["21"])).rule_id == "inpatient-knee"


def test_an_item_without_a_place_of_service_skips_a_rule_that_names_one() -> None:
    p = policy(
        rule("inpatient-knee", ["27447"], place_of_service=["21"], priority=10),
        rule("knee", ["27447"], "no-auth"),
    )
    assert evaluate_item(p, item()).rule_id == "knee"


def test_a_rule_whose_when_does_not_hold_falls_through_to_the_next_rule() -> None:
    p = policy(
        rule("pediatric-knee", ["27447"], when="%age < 18", priority=10),
        rule("knee", ["27447"], "no-auth"),
    )
    assert evaluate_item(p, item(age=45)).rule_id == "knee"
    assert evaluate_item(p, item(age=12)).rule_id == "pediatric-knee"


def test_every_when_condition_of_a_rule_must_hold() -> None:
    p = policy(
        rule("urgent-adult", ["27447"], when=["%age >= 18", "%expedited"], priority=10),
        rule("knee", ["27447"], "no-auth"),
    )
    assert evaluate_item(p, item(age=45, expedited=False)).rule_id == "knee"
    assert evaluate_item(p, item(age=45, expedited=True)).rule_id == "urgent-adult"


def test_a_when_over_a_missing_value_does_not_hold() -> None:
    p = policy(
        rule("adult-knee", ["27447"], when="%age >= 18", priority=10),
        rule("knee", ["27447"], "no-auth"),
    )
    assert evaluate_item(p, item(age=None)).rule_id == "knee"


def test_when_no_matching_rule_applies_the_unlisted_setting_decides() -> None:
    p = policy(rule("adult-knee", ["27447"], when="%age >= 18"), unlisted="auth-required")
    result = evaluate_item(p, item(age=12))
    assert (result.rule_id, result.action) == (None, "A4")


# --- Outcomes --------------------------------------------------------------------------------


def test_a_no_auth_rule_answers_no_action_required() -> None:
    result = evaluate_item(policy(rule("visit", ["99213"], "no-auth")), item("99213"))
    assert (result.action, result.rule_id) == ("NA", "visit")
    assert result.authorization_required is False


def test_an_unlisted_code_needs_no_authorization_by_default() -> None:
    result = evaluate_item(policy(rule("mri", ["70551"])), item("33510"))
    assert (result.action, result.rule_id) == ("NA", None)
    assert result.authorization_required is False


def test_an_unlisted_code_pends_when_the_policy_says_auth_required() -> None:
    result = evaluate_item(policy(rule("mri", ["70551"]), unlisted="auth-required"), item("33510"))
    assert (result.action, result.rule_id, result.recommendation) == ("A4", None, None)
    assert result.authorization_required is True


def test_a_not_covered_rule_denies_as_an_excluded_benefit_with_its_reason() -> None:
    p = policy(rule("hair", ["15775"], "not-covered", reason_code="NC", reason="Cosmetic"))
    result = evaluate_item(p, item("15775", sequence=4))
    assert (result.sequence, result.action, result.rule_id) == (4, "A3", "hair")
    assert (result.reason_code, result.reason) == ("NC", "Cosmetic")
    assert result.excluded is True
    assert result.recommendation is None
    assert result.authorization_required is False


def test_a_not_covered_rule_denies_even_when_adverse_decisions_go_to_review() -> None:
    p = policy(
        rule("hair", ["15775"], "not-covered", reason_code="NC", reason="Cosmetic"),
        adverse_decisions="review",
    )
    assert evaluate_item(p, item("15775")).action == "A3"


def deny(administrative: bool) -> dict[str, Any]:
    return {
        "when": "%age < 18",
        "reason_code": "AGE",
        "reason": "Not for minors",
        "administrative": administrative,
    }


def test_an_administrative_deny_answers_not_certified() -> None:
    p = policy(rule("knee", ["27447"], deny=deny(True), approve=APPROVE))
    result = evaluate_item(p, item(age=12))
    assert (result.action, result.reason_code, result.reason) == ("A3", "AGE", "Not for minors")
    assert result.recommendation is None
    assert result.excluded is False


def test_a_medical_necessity_deny_pends_with_not_certified_as_the_recommendation() -> None:
    p = policy(rule("knee", ["27447"], deny=deny(False), approve=APPROVE))
    result = evaluate_item(p, item(age=12))
    assert (result.action, result.recommendation) == ("A4", "A3")
    assert (result.reason_code, result.reason) == ("AGE", "Not for minors")
    assert "reviewer" in result.trace["why"]
    assert result.trace["recommendation"] == "A3"


def test_a_medical_necessity_deny_is_final_when_adverse_decisions_are_automatic() -> None:
    p = policy(
        rule("knee", ["27447"], deny=deny(False), approve=APPROVE), adverse_decisions="automatic"
    )
    result = evaluate_item(p, item(age=12))
    assert (result.action, result.recommendation, result.reason_code) == ("A3", None, "AGE")


def test_a_deny_that_does_not_hold_goes_on_to_the_approval_criteria() -> None:
    p = policy(rule("knee", ["27447"], deny=deny(True), approve=APPROVE))
    assert evaluate_item(p, item(age=45)).action == "A1"


def test_a_deny_is_checked_before_the_documentation() -> None:
    p = policy(
        rule(
            "knee",
            ["27447"],
            deny=deny(True),
            documentation=[{"code": "11506-3", "description": "Progress note"}],
            approve=APPROVE,
        )
    )
    result = evaluate_item(p, item(age=12))
    assert (result.action, result.missing) == ("A3", ())


def test_missing_documentation_pends_naming_what_is_missing() -> None:
    note = {"code": "11506-3", "description": "Progress note"}
    form = {"questionnaire": QUESTIONNAIRE, "description": "Knee questionnaire"}
    p = policy(rule("knee", ["27447"], documentation=[note, form], approve=APPROVE))
    result = evaluate_item(p, item(age=45, documents=["11506-3"]))
    assert result.action == "A4"
    assert result.missing == (Documentation("Knee questionnaire", questionnaire=QUESTIONNAIRE),)
    assert result.required == (
        Documentation("Progress note", code="11506-3"),
        Documentation("Knee questionnaire", questionnaire=QUESTIONNAIRE),
    )
    assert "Knee questionnaire" in result.trace["why"]


def test_supplied_documentation_goes_on_to_the_approval_criteria() -> None:
    p = policy(
        rule(
            "knee",
            ["27447"],
            documentation=[
                {"code": "11506-3", "description": "Progress note"},
                {"questionnaire": f"{QUESTIONNAIRE}|1.0", "description": "Knee questionnaire"},
            ],
            approve=APPROVE,
        )
    )
    result = evaluate_item(p, item(age=45, documents=["11506-3"], questionnaires=[QUESTIONNAIRE]))
    assert (result.action, result.missing) == ("A1", ())


def test_met_approval_criteria_certify_in_total_for_the_rules_period() -> None:
    p = policy(rule("knee", ["27447"], approve=APPROVE), approval_period_days=90)
    result = evaluate_item(p, item(age=45))
    assert (result.action, result.period_days, result.recommendation) == ("A1", 30, None)
    assert result.authorization_required is True


def test_an_approval_without_a_period_lasts_the_policys_approval_period() -> None:
    p = policy(rule("knee", ["27447"], approve={"when": "true"}), approval_period_days=120)
    result = evaluate_item(p, item())
    assert (result.action, result.period_days) == ("A1", 120)


def test_unmet_approval_criteria_pend_for_a_reviewer_without_a_recommendation() -> None:
    p = policy(rule("knee", ["27447"], approve=APPROVE))
    result = evaluate_item(p, item(age=12))
    assert (result.action, result.recommendation, result.reason_code) == ("A4", None, None)


def test_an_auth_required_rule_without_approval_criteria_always_pends() -> None:
    p = policy(rule("cardiac", ["33510"], description="Reviewed by a cardiologist"))
    result = evaluate_item(p, item("33510"))
    assert (result.action, result.rule_id) == ("A4", "cardiac")
    assert result.trace["why"] == "Reviewed by a cardiologist"


def test_the_authorization_url_of_the_rule_is_passed_on() -> None:
    url = "https://payer.example.org/criteria/knee"
    p = policy(rule("knee", ["27447"], authorization_url=url))
    assert evaluate_item(p, item()).authorization_url == url


# --- Limits ----------------------------------------------------------------------------------


def limited(**limit: Any) -> Policy:
    return policy(
        rule("wheelchair", ["K0001"], system="hcpcs", approve=APPROVE, limit=LIMIT | limit)
    )


def test_a_quantity_over_the_limit_is_modified_to_the_limit() -> None:
    result = evaluate_item(limited(action="modify"), item("K0001", HCPCS, quantity=3, age=45))
    assert result.action == "A6"
    assert result.authorized_quantity == Decimal(2)
    assert (result.reason_code, result.reason) == ("BEN", "Two per year")
    assert result.period_days == 30


def test_a_quantity_over_a_partial_limit_is_partially_certified() -> None:
    result = evaluate_item(limited(action="partial"), item("K0001", HCPCS, quantity=3, age=45))
    assert (result.action, result.authorized_quantity) == ("A2", Decimal(2))


def test_a_limit_modifies_by_default() -> None:
    result = evaluate_item(limited(), item("K0001", HCPCS, quantity=3, age=45))
    assert result.action == "A6"


@pytest.mark.parametrize("action", ["modify", "partial"])
def test_a_clinical_limit_pends_with_the_cut_as_the_recommendation(action: str) -> None:
    result = evaluate_item(
        limited(action=action, administrative=False), item("K0001", HCPCS, quantity=3, age=45)
    )
    assert result.action == "A4"
    assert result.recommendation == ("A6" if action == "modify" else "A2")
    assert result.authorized_quantity == Decimal(2)


def test_a_clinical_limit_is_final_when_adverse_decisions_are_automatic() -> None:
    p = policy(
        rule(
            "wheelchair",
            ["K0001"],
            system="hcpcs",
            approve=APPROVE,
            limit=LIMIT | {"administrative": False},
        ),
        adverse_decisions="automatic",
    )
    result = evaluate_item(p, item("K0001", HCPCS, quantity=3, age=45))
    assert (result.action, result.recommendation) == ("A6", None)


@pytest.mark.parametrize("quantity", [1, 2, None])
def test_a_quantity_within_the_limit_is_certified_in_total(quantity: int | None) -> None:
    result = evaluate_item(limited(), item("K0001", HCPCS, quantity=quantity, age=45))
    assert (result.action, result.authorized_quantity) == ("A1", None)


def test_a_limit_applies_only_once_the_approval_criteria_are_met() -> None:
    result = evaluate_item(limited(), item("K0001", HCPCS, quantity=3, age=12))
    assert (result.action, result.recommendation) == ("A4", None)


def days_limited() -> Policy:
    return policy(
        rule(
            "inpatient",
            ["48"],
            system="x12-service-type",
            approve={"when": "true"},
            limit={"days": 5, "reason": "Five days at a time", "administrative": True},
        )
    )


def test_days_of_service_over_the_limit_are_cut_to_the_limit() -> None:
    ctx = item("48", X12_SERVICE_TYPE, requested=(date(2027, 1, 4), date(2027, 1, 13)))
    result = evaluate_item(days_limited(), ctx)
    assert (result.action, result.authorized_days, result.authorized_quantity) == ("A6", 5, None)
    assert result.reason == "Five days at a time"


def test_days_of_service_within_the_limit_are_certified_in_total() -> None:
    ctx = item("48", X12_SERVICE_TYPE, requested=(date(2027, 1, 4), date(2027, 1, 8)))
    result = evaluate_item(days_limited(), ctx)
    assert (result.action, result.authorized_days) == ("A1", None)


# --- The trace -------------------------------------------------------------------------------


def test_the_trace_lists_every_candidate_by_priority_and_the_rule_that_decided() -> None:
    p = policy(
        rule("imaging", ["70000-79999"], "no-auth", description="Imaging needs nothing"),
        rule("mri", ["70551"], priority=5, when="%age >= 65"),
    )
    trace = evaluate_item(p, item("70551", age=40)).trace
    assert trace["policy"] == "test-plan"
    assert trace["codes"] == [f"{CPT}|70551"]
    assert [(c["rule"], c["priority"], c["applies"]) for c in trace["candidates"]] == [
        ("mri", 5, False),
        ("imaging", 0, True),
    ]
    assert trace["decided_by"] == "imaging"
    assert trace["why"] == "Imaging needs nothing"
    assert trace["outcome"] == "NA"


def test_the_trace_shows_each_precondition_and_each_condition_result() -> None:
    p = policy(
        rule(
            "knee",
            ["27447"],
            modifiers=["RT", "LT"],
            place_of_service=["22"],
            when=["%age >= 18", "%sex = 'female'"],
        )
    )
    (candidate,) = evaluate_item(
        p, item(modifiers=["RT"], places=["22"], age=45, sex="male")
    ).trace["candidates"]
    modifiers, places, when = candidate["checks"]
    assert modifiers == {"check": "modifiers", "expected": ["LT", "RT"], "result": True}
    assert places == {"check": "place_of_service", "expected": ["22"], "result": True}
    assert when["check"] == "when" and when["result"] is False
    assert when["conditions"] == [
        {"expression": "%age >= 18", "result": True},
        {"expression": "%sex = 'female'", "result": False},
    ]


def test_the_trace_stops_the_checks_at_the_first_failed_precondition() -> None:
    p = policy(rule("knee", ["27447"], modifiers=["50"], when="%age >= 18"))
    (candidate,) = evaluate_item(p, item(age=45)).trace["candidates"]
    assert [c["check"] for c in candidate["checks"]] == ["modifiers"]
    assert candidate["applies"] is False


def test_the_trace_shows_each_step_of_an_auth_required_rule_with_its_conditions() -> None:
    p = policy(
        rule(
            "knee",
            ["27447"],
            deny=deny(True),
            documentation=[{"code": "11506-3", "description": "Progress note"}],
            approve={"when": ["%age >= 50", "%documents contains '11506-3'"]},
            limit={"quantity": 1, "reason": "One knee", "administrative": True},
        )
    )
    trace = evaluate_item(p, item(quantity=2, age=60, documents=["11506-3"])).trace
    deny_step, docs, approve, limit = trace["steps"]
    assert deny_step == {
        "step": "deny",
        "conditions": [{"expression": "%age < 18", "result": False}],
        "met": False,
    }
    assert docs == {"step": "documentation", "required": ["11506-3"], "missing": []}
    assert approve == {
        "step": "approve",
        "conditions": [
            {"expression": "%age >= 50", "result": True},
            {"expression": "%documents contains '11506-3'", "result": True},
        ],
        "met": True,
    }
    assert limit["step"] == "limit" and limit["exceeded"] is True
    assert limit["requested_quantity"] == "2"
    assert limit["authorized_quantity"] == "1"
    assert trace["outcome"] == "A6"


def test_the_trace_of_unmet_approval_criteria_shows_which_condition_failed() -> None:
    p = policy(rule("knee", ["27447"], approve={"when": ["%age >= 50", "%sex = 'female'"]}))
    trace = evaluate_item(p, item(age=60, sex="male")).trace
    (approve,) = trace["steps"]
    assert [c["result"] for c in approve["conditions"]] == [True, False]
    assert approve["met"] is False
    assert trace["outcome"] == "A4"


def test_the_trace_of_an_unlisted_code_says_no_rule_decided_and_what_the_policy_says() -> None:
    result: RuleResult = evaluate_item(policy(rule("mri", ["70551"])), item("33510"))
    assert result.trace["candidates"] == []
    assert result.trace["decided_by"] is None
    assert "no-auth" in result.trace["why"]
    assert result.trace["outcome"] == "NA"


def test_the_trace_of_a_not_covered_rule_gives_its_reason() -> None:
    p = policy(rule("hair", ["15775"], "not-covered", reason_code="NC", reason="Cosmetic"))
    trace = evaluate_item(p, item("15775")).trace
    assert (trace["decided_by"], trace["why"], trace["outcome"]) == ("hair", "Cosmetic", "A3")


# --- The demo policy on the example bundles --------------------------------------------------


@pytest.mark.parametrize(
    ("sequence", "action", "rule_id"),
    [
        (1, "NA", "office-visits"),
        (2, "A1", "ct-head"),
        (3, "A4", "mri-brain"),
        (4, "A3", "cosmetic-hair-transplant"),
    ],
)
def test_the_demo_policy_decides_the_mixed_example_as_documented(
    sequence: int, action: str, rule_id: str
) -> None:
    result = evaluate_item(demo_policy(), context(example("mixed-outcomes.json"), sequence))
    assert (result.sequence, result.action, result.rule_id) == (sequence, action, rule_id)


@pytest.mark.parametrize(
    ("name", "action"),
    [
        ("approve-ct-head.json", "A1"),
        ("deny-cosmetic-hair-transplant.json", "A3"),
        ("pend-mri-brain.json", "A4"),
        ("no-auth-office-visit.json", "NA"),
        ("supporting-document.json", "A1"),
    ],
)
def test_the_demo_policy_decides_each_single_item_example_as_documented(
    name: str, action: str
) -> None:
    assert evaluate_item(demo_policy(), context(example(name))).action == action


def test_the_demo_policy_approves_a_ct_head_for_sixty_days() -> None:
    result = evaluate_item(demo_policy(), context(example("mixed-outcomes.json"), 2))
    assert (result.action, result.period_days) == ("A1", 60)


def test_the_demo_policy_denies_hair_transplants_with_reason_code_and_reason() -> None:
    result = evaluate_item(demo_policy(), context(example("mixed-outcomes.json"), 4))
    assert (result.action, result.reason_code, result.excluded) == ("A3", "NC", True)
    assert result.reason and "cosmetic" in result.reason


def test_the_demo_policy_pends_an_mri_brain_for_migraine() -> None:
    bundle = example("pend-mri-brain.json")  # G43.909 migraine
    set_code(item_of(bundle), "70551")
    result = evaluate_item(demo_policy(), context(bundle))
    assert (result.action, result.rule_id, result.recommendation) == ("A4", "mri-brain", None)


def test_the_demo_policy_approves_an_mri_brain_for_epilepsy() -> None:
    bundle = example("pend-mri-brain.json")
    set_code(item_of(bundle), "70551")
    item_of(bundle)["diagnosisSequence"] = [add_diagnosis(bundle, "G40.909")]
    result = evaluate_item(demo_policy(), context(bundle))
    assert (result.action, result.period_days) == ("A1", 60)


def test_the_demo_policy_pends_a_knee_arthroplasty_without_the_progress_note() -> None:
    bundle = example("approve-ct-head.json")
    set_code(item_of(bundle), "27447")
    result = evaluate_item(demo_policy(), context(bundle))
    assert (result.action, result.rule_id) == ("A4", "knee-arthroplasty")
    assert [d.code for d in result.missing] == ["11506-3"]


def test_the_demo_policy_approves_a_knee_arthroplasty_with_the_progress_note() -> None:
    bundle = example("supporting-document.json")  # progress note 11506-3; member born 1948
    set_code(item_of(bundle), "27447")
    item_of(bundle)["diagnosisSequence"] = [add_diagnosis(bundle, "M17.11")]
    result = evaluate_item(demo_policy(), context(bundle))
    assert (result.action, result.missing, result.period_days) == ("A1", (), 120)


def test_the_demo_policy_modifies_two_wheelchairs_to_one() -> None:
    bundle = example("approve-ct-head.json")
    set_code(item_of(bundle), "K0001", HCPCS_URI)
    item_of(bundle)["quantity"] = {"value": 2, "unit": "each"}
    result = evaluate_item(demo_policy(), context(bundle))
    assert (result.action, result.rule_id, result.authorized_quantity) == (
        "A6",
        "manual-wheelchair",
        Decimal(1),
    )


def test_the_demo_policy_partially_certifies_thirty_psychotherapy_visits_as_twenty() -> None:
    bundle = example("approve-ct-head.json")
    set_code(item_of(bundle), "90837")
    item_of(bundle)["quantity"] = {"value": 30, "unit": "visit"}
    item_of(bundle)["diagnosisSequence"] = [add_diagnosis(bundle, "F33.1")]
    result = evaluate_item(demo_policy(), context(bundle))
    assert (result.action, result.rule_id, result.authorized_quantity) == (
        "A2",
        "psychotherapy",
        Decimal(20),
    )


def test_the_demo_policy_recommends_denying_bariatric_surgery_for_a_minor() -> None:
    bundle = example("approve-ct-head.json")
    set_code(item_of(bundle), "43644")
    resource_of(bundle, "Patient")["birthDate"] = "2010-03-01"
    result = evaluate_item(demo_policy(), context(bundle))
    assert (result.action, result.recommendation, result.reason_code) == ("A4", "A3", "AGE")


def test_the_demo_policy_approves_an_emergency_inpatient_admission_for_five_days() -> None:
    bundle = example("approve-ct-head.json")
    set_code(item_of(bundle), "48", X12_SERVICE_TYPE)
    for ext in claim_of(bundle)["extension"]:
        if ext["url"].endswith("extension-levelOfServiceCode"):
            ext["valueCodeableConcept"]["coding"][0]["code"] = "03"
    result = evaluate_item(demo_policy(), context(bundle))
    assert (result.action, result.rule_id, result.period_days) == ("A1", "inpatient-admission", 5)
