"""The public list of services that need prior authorization, read off the policies
(policy/pa_list.py)."""

from __future__ import annotations

from datetime import date
from typing import Any

from fhirauth.fhir.systems import CPT, HCPCS
from fhirauth.policy.loader import PolicySet, compile_policy, load_policies
from fhirauth.policy.pa_list import pa_list
from tests.policy.bundles import POLICIES

ON = date(2026, 6, 1)


def policy(**fields: Any) -> Any:
    return compile_policy({"id": "test-plan", "name": "Test Plan", **fields})


def test_each_code_range_and_prefix_of_an_auth_required_rule_is_a_row_with_its_documents() -> None:
    plan = policy(
        rules=[
            {
                "id": "knee",
                "description": "Total knee arthroplasty",
                "match": [{"system": "cpt", "codes": ["27447", "27486-27488"]}],
                "outcome": "auth-required",
                "documentation": [{"code": "11506-3", "description": "Progress note"}],
            },
            {
                "id": "drugs",
                "match": [{"system": "hcpcs", "codes": ["J9*"]}],
                "outcome": "auth-required",
                "modifiers": ["JW"],
                "when": "%age >= 18",
            },
            {
                "id": "visits",
                "match": [{"system": "cpt", "codes": ["99213"]}],
                "outcome": "no-auth",
            },
            {
                "id": "cosmetic",
                "match": [{"system": "cpt", "codes": ["15775"]}],
                "outcome": "not-covered",
                "reason_code": "NC",
                "reason": "Cosmetic.",
            },
        ]
    )
    rows = pa_list(PolicySet([plan]), ON)
    assert [(r["system"], r["code"], r["rule"]) for r in rows] == [
        (CPT, "27447", "knee"),
        (CPT, "27486-27488", "knee"),
        (HCPCS, "J9*", "drugs"),
    ]
    knee, _, drugs = rows
    assert knee["description"] == "Total knee arthroplasty" and knee["systemName"] == "cpt"
    assert knee["documentation"] == [
        {"code": "11506-3", "questionnaire": None, "description": "Progress note"}
    ]
    assert knee["appliesWhen"] is None
    assert drugs["description"] is None  # the policy gives none
    assert drugs["appliesWhen"] == "modifier JW; when %age >= 18"


def test_a_policy_requiring_authorization_of_unlisted_services_says_so_in_one_row() -> None:
    rows = pa_list(PolicySet([policy(unlisted="auth-required")]), ON)
    assert [(r["code"], r["system"], r["description"]) for r in rows] == [
        ("*", None, "Any service no rule of this policy names")
    ]


def test_policies_not_in_effect_on_the_day_are_left_out() -> None:
    rule = {
        "id": "ct",
        "match": [{"system": "cpt", "codes": ["70450"]}],
        "outcome": "auth-required",
    }
    old = policy(effective={"end": "2025-12-31"}, rules=[rule])
    assert pa_list(PolicySet([old]), ON) == []
    assert len(pa_list(PolicySet([old]), date(2025, 6, 1))) == 1


def test_the_demo_payers_list_names_its_documented_services() -> None:
    rows = pa_list(load_policies([POLICIES]), ON)
    by_code = {r["code"]: r for r in rows}
    assert by_code["27447"]["documentation"][0]["code"] == "11506-3"
    assert "15775-15776" not in by_code  # not covered: no authorization to ask for
    assert "99202-99215" not in by_code  # no authorization needed
