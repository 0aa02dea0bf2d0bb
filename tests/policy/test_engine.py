"""fhirauth.policy.engine: which rule decides a Claim item, and the trace that says why."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from fhirauth.policy.codes import CPT, HCPCS
from fhirauth.policy.engine import RuleResult, evaluate_item
from fhirauth.policy.loader import Policy, PolicyError, compile_policy, load_policies

POLICIES = Path(__file__).resolve().parents[2] / "policies"


def item(code: str, system: str = CPT, sequence: int = 1) -> dict[str, Any]:
    return {
        "sequence": sequence,
        "productOrService": {"coding": [{"system": system, "code": code}]},
    }


def rule(rule_id: str, codes: list[str], outcome: str = "pend", **extra: Any) -> dict[str, Any]:
    return {
        "id": rule_id,
        "match": [{"system": "cpt", "codes": codes}],
        "outcome": outcome,
        **extra,
    }


def policy(*rules: dict[str, Any]) -> Policy:
    return compile_policy({"id": "test-plan", "name": "Test Plan", "rules": list(rules)})


def decided_by(p: Policy, code: str, system: str = CPT) -> str | None:
    return evaluate_item(p, item(code, system)).rule_id


@pytest.fixture(scope="module")
def demo() -> Policy:
    return load_policies([POLICIES]).for_insurer([])


@pytest.mark.parametrize(
    ("code", "outcome", "rule_id", "period_days"),
    [
        ("99213", "no-auth", "office-visits", 90),
        ("70450", "approve", "ct-head", 60),
        ("70552", "pend", "mri-brain", 90),
        ("33510", "no-auth", None, 90),
    ],
)
def test_the_demo_policy_decides_its_documented_codes(
    demo: Policy, code: str, outcome: str, rule_id: str | None, period_days: int
) -> None:
    result = evaluate_item(demo, item(code))
    assert (result.outcome, result.rule_id, result.period_days) == (outcome, rule_id, period_days)


def test_the_demo_policy_denies_hair_transplants_with_a_reason_code_and_reason(
    demo: Policy,
) -> None:
    result = evaluate_item(demo, item("15776", sequence=4))
    assert (result.sequence, result.outcome, result.rule_id) == (
        4,
        "deny",
        "cosmetic-hair-transplant",
    )
    assert result.reason_code == "NC"
    assert result.reason and "cosmetic" in result.reason


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


@pytest.mark.parametrize(("code", "matches"), [("70450", True), ("70451", False), ("7045", False)])
def test_an_exact_code_matches_only_itself(code: str, matches: bool) -> None:
    p = policy(rule("ct", ["70450"]))
    assert (decided_by(p, code) == "ct") is matches


@pytest.mark.parametrize(("code", "matches"), [("J1234", True), ("J9", True), ("K1234", False)])
def test_a_prefix_matches_every_code_that_starts_with_it(code: str, matches: bool) -> None:
    p = compile_policy(
        {
            "id": "test-plan",
            "name": "Test Plan",
            "rules": [
                {"id": "drugs", "match": [{"system": "hcpcs", "codes": ["J*"]}], "outcome": "pend"}
            ],
        }
    )
    assert (decided_by(p, code, HCPCS) == "drugs") is matches


def test_a_short_system_name_means_the_same_as_its_uri() -> None:
    short = policy(rule("ct", ["70450"]))
    uri = compile_policy(
        {
            "id": "test-plan",
            "name": "Test Plan",
            "rules": [
                {"id": "ct", "match": [{"system": CPT, "codes": ["70450"]}], "outcome": "pend"}
            ],
        }
    )
    assert decided_by(short, "70450") == decided_by(uri, "70450") == "ct"
    assert decided_by(short, "70450", "http://example.org/not-cpt") is None


@pytest.mark.parametrize("high_first", [True, False])
def test_a_higher_priority_rule_wins_over_a_lower_one(high_first: bool) -> None:
    low = rule("imaging", ["70000-79999"], "approve", priority=0)
    high = rule("mri", ["70551"], "pend", priority=10)
    p = policy(*([high, low] if high_first else [low, high]))
    assert decided_by(p, "70551") == "mri"


def test_the_trace_records_the_matched_rules_the_deciding_rule_and_why() -> None:
    p = policy(
        rule("imaging", ["70000-79999"], "approve", description="All imaging is approved"),
        rule("mri", ["70551"], "pend", priority=5, description="MRI needs review"),
    )
    trace = evaluate_item(p, item("70551")).trace
    assert [m["rule"] for m in trace["matched"]] == ["imaging", "mri"]
    assert trace["decided_by"] == "mri"
    assert trace["why"] == "MRI needs review"


def test_the_trace_of_an_unlisted_code_says_no_rule_decided() -> None:
    result: RuleResult = evaluate_item(policy(rule("mri", ["70551"])), item("33510"))
    assert result.trace["matched"] == []
    assert result.trace["decided_by"] is None
    assert "no-auth" in result.trace["why"]


def test_two_rules_with_one_id_are_a_load_error() -> None:
    rules = [
        rule("hair", ["15776"], "approve"),
        rule("hair", ["15776"], "deny", priority=10, reason_code="NC", reason="Cosmetic"),
    ]
    with pytest.raises(PolicyError, match="rule hair: id"):
        policy(*rules)
