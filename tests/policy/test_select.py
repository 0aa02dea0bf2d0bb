"""fhirauth.policy.loader.PolicySet.select: which policy decides a request."""

from __future__ import annotations

from datetime import date
from typing import Any

import pytest

from fhirauth.fhir.bundle import parse_request
from fhirauth.policy.loader import NoPolicy, Policy, PolicySet, compile_policy
from tests.policy.bundles import example

NPI = "http://hl7.org/fhir/sid/us-npi"
ACME = {"system": NPI, "value": "1234567893"}
OTHER = {"system": NPI, "value": "1999999984"}
ON = date(2026, 12, 1)
COVERAGE_CLASS = "http://terminology.hl7.org/CodeSystem/coverage-class"


def policy(policy_id: str, **fields: Any) -> Policy:
    return compile_policy({"id": policy_id, "name": policy_id.title(), **fields})


def coverage(*classes: tuple[str, str]) -> dict[str, Any]:
    """A Coverage with the given (class type, class value) pairs."""
    return {
        "resourceType": "Coverage",
        "class": [
            {"type": {"coding": [{"system": COVERAGE_CLASS, "code": kind}]}, "value": value}
            for kind, value in classes
        ],
    }


DEFAULT = policy("fallback", default=True)


def selected(
    policies: list[Policy], insurer: list[dict[str, Any]], cov: Any = None, on: date = ON
) -> str:
    return PolicySet(policies).select(insurer, cov, on).id


# --- Insurer ---------------------------------------------------------------------------------


def test_a_policy_naming_the_insurer_decides_its_requests() -> None:
    acme = policy("acme", insurers=[ACME])
    assert selected([DEFAULT, acme], [ACME]) == "acme"


def test_any_one_of_the_insurers_identifiers_selects_the_policy() -> None:
    acme = policy("acme", insurers=[ACME])
    tax_id = {"system": "urn:oid:2.16.840.1.113883.4.4", "value": "12-3456789"}
    assert selected([DEFAULT, acme], [tax_id, ACME]) == "acme"


def test_an_identifier_matches_only_with_both_system_and_value() -> None:
    acme = policy("acme", insurers=[ACME])
    assert (
        selected([DEFAULT, acme], [{"system": "urn:other", "value": ACME["value"]}]) == "fallback"
    )


def test_an_insurer_no_policy_names_gets_the_default() -> None:
    acme = policy("acme", insurers=[ACME])
    assert selected([acme, DEFAULT], [OTHER]) == "fallback"


def test_an_insurer_without_identifiers_gets_the_default() -> None:
    assert selected([policy("acme", insurers=[ACME]), DEFAULT], []) == "fallback"


def test_without_a_matching_policy_or_a_default_there_is_no_policy() -> None:
    with pytest.raises(NoPolicy):
        PolicySet([policy("acme", insurers=[ACME])]).select([OTHER], None, ON)


def test_the_first_matching_policy_in_load_order_decides() -> None:
    first, second = policy("first", insurers=[ACME]), policy("second", insurers=[ACME])
    assert selected([first, second, DEFAULT], [ACME]) == "first"


# --- Plan ------------------------------------------------------------------------------------


def test_a_plan_policy_decides_for_members_of_that_plan() -> None:
    hmo = policy("acme-hmo", insurers=[ACME], plans=[{"value": "HMO-1"}])
    assert selected([hmo, DEFAULT], [ACME], coverage(("plan", "HMO-1"))) == "acme-hmo"


def test_a_plan_policy_does_not_decide_for_members_of_another_plan() -> None:
    hmo = policy("acme-hmo", insurers=[ACME], plans=[{"value": "HMO-1"}])
    ppo = policy("acme", insurers=[ACME])
    assert selected([hmo, ppo, DEFAULT], [ACME], coverage(("plan", "PPO-1"))) == "acme"


def test_a_plan_policy_does_not_decide_without_a_coverage() -> None:
    hmo = policy("acme-hmo", insurers=[ACME], plans=[{"value": "HMO-1"}])
    assert selected([hmo, DEFAULT], [ACME], None) == "fallback"


def test_a_plan_with_a_type_matches_only_a_class_of_that_type() -> None:
    group = policy("acme-group", insurers=[ACME], plans=[{"type": "group", "value": "G-7"}])
    assert selected([group, DEFAULT], [ACME], coverage(("plan", "G-7"))) == "fallback"
    assert selected([group, DEFAULT], [ACME], coverage(("group", "G-7"))) == "acme-group"


def test_any_one_of_the_coverages_classes_may_match() -> None:
    hmo = policy("acme-hmo", insurers=[ACME], plans=[{"type": "plan", "value": "HMO-1"}])
    cov = coverage(("group", "G-7"), ("plan", "HMO-1"))
    assert selected([hmo, DEFAULT], [ACME], cov) == "acme-hmo"


def test_a_policy_listing_several_plans_decides_for_each() -> None:
    both = policy("acme-managed", insurers=[ACME], plans=[{"value": "HMO-1"}, {"value": "EPO-1"}])
    assert selected([both, DEFAULT], [ACME], coverage(("plan", "EPO-1"))) == "acme-managed"


def test_an_example_requests_insurer_and_plan_class_select_its_plan_policy() -> None:
    req = parse_request(example("pend-mri-brain.json"))  # insurer NPI 1558244418, DHP-HMO-2026
    hmo = policy(
        "demo-hmo",
        insurers=[{"system": NPI, "value": "1558244418"}],
        plans=[{"type": "plan", "value": "DHP-HMO-2026"}],
    )
    insurer = req.insurer.resource["identifier"]
    assert selected([hmo, DEFAULT], insurer, req.coverages[0].resource) == "demo-hmo"


# --- Effective dates -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("on", "chosen"),
    [
        (date(2025, 12, 31), "fallback"),
        (date(2026, 1, 1), "acme-2026"),
        (date(2026, 12, 31), "acme-2026"),
        (date(2027, 1, 1), "fallback"),
    ],
)
def test_a_policy_decides_only_between_its_effective_dates_inclusive(on: date, chosen: str) -> None:
    acme = policy(
        "acme-2026", insurers=[ACME], effective={"start": "2026-01-01", "end": "2026-12-31"}
    )
    assert selected([acme, DEFAULT], [ACME], None, on) == chosen


def test_a_policy_without_an_end_stays_effective() -> None:
    acme = policy("acme", insurers=[ACME], effective={"start": "2026-01-01"})
    assert selected([acme, DEFAULT], [ACME], None, date(2040, 6, 1)) == "acme"


def test_a_policy_without_a_start_is_effective_until_its_end() -> None:
    acme = policy("acme", insurers=[ACME], effective={"end": "2026-06-30"})
    assert selected([acme, DEFAULT], [ACME], None, date(2020, 1, 1)) == "acme"
    assert selected([acme, DEFAULT], [ACME], None, date(2026, 7, 1)) == "fallback"


def test_successive_policy_years_hand_over_on_their_dates() -> None:
    y2026 = policy(
        "acme-2026", insurers=[ACME], effective={"start": "2026-01-01", "end": "2026-12-31"}
    )
    y2027 = policy("acme-2027", insurers=[ACME], effective={"start": "2027-01-01"})
    policies = [y2026, y2027, DEFAULT]
    assert selected(policies, [ACME], None, date(2026, 12, 31)) == "acme-2026"
    assert selected(policies, [ACME], None, date(2027, 1, 1)) == "acme-2027"


# --- Default ---------------------------------------------------------------------------------


def test_the_default_is_chosen_wherever_it_sits_in_load_order() -> None:
    acme = policy("acme", insurers=[ACME])
    assert selected([acme, DEFAULT, policy("other", insurers=[ACME])], [OTHER]) == "fallback"


def test_a_default_policy_that_names_insurers_decides_for_them_too() -> None:
    demo = policy("demo", default=True, insurers=[ACME])
    assert selected([demo], [ACME]) == "demo"
    assert selected([demo], [OTHER]) == "demo"


def test_a_default_policy_does_not_decide_outside_its_effective_dates() -> None:
    demo = policy("demo", default=True, effective={"start": "2026-01-01"})
    assert selected([demo], [OTHER], None, date(2026, 1, 1)) == "demo"
    with pytest.raises(NoPolicy):
        PolicySet([demo]).select([OTHER], None, date(2025, 12, 31))


def test_a_default_policy_for_some_plans_does_not_decide_for_other_plans() -> None:
    demo = policy("demo", default=True, plans=[{"value": "HMO-1"}])
    assert selected([demo], [OTHER], coverage(("plan", "HMO-1"))) == "demo"
    with pytest.raises(NoPolicy):
        PolicySet([demo]).select([OTHER], coverage(("plan", "PPO-1")), ON)


def test_no_policy_is_a_lookup_error() -> None:
    assert issubclass(NoPolicy, LookupError)
