"""fhirauth.fhir.json_rules: FHIR JSON's primitive types, nulls and per-1, which the R4 models'
lax reading lets through."""

from __future__ import annotations

import copy
import json
from typing import Any

import pytest

from fhirauth.fhir.bundle import model_issues
from fhirauth.fhir.json_rules import ends_before_start, json_issues, load_models
from tests.conftest import EXAMPLES

CLAIM = json.loads((EXAMPLES / "modify-wheelchair.json").read_text())["entry"][0]["resource"]


def claim_with(path: tuple[Any, ...], value: Any) -> dict[str, Any]:
    claim = copy.deepcopy(CLAIM)
    node = claim
    for step in path[:-1]:
        node = node.setdefault(step, {}) if isinstance(step, str) else node[step]
    node[path[-1]] = value
    return claim


def paths(kind: str, resource: dict[str, Any]) -> list[tuple[str, ...]]:
    return [i.expression for i in json_issues(kind, resource, "Claim")]


def test_the_examples_break_no_rule() -> None:
    for file in sorted(EXAMPLES.rglob("*.json")):
        bundle = json.loads(file.read_text())
        assert json_issues(bundle["resourceType"], bundle, "Bundle") == [], file.name


@pytest.mark.parametrize("value", [True, False, "1", 1.0, 1.5, [1], {"value": 1}])
@pytest.mark.parametrize(
    "where",
    [
        ("item", 0, "sequence"),
        ("supportingInfo", 0, "sequence"),
        ("careTeam", 0, "sequence"),
        ("diagnosis", 0, "sequence"),
        ("insurance", 0, "sequence"),
    ],
)
def test_a_sequence_must_be_a_json_integer(where: tuple[Any, ...], value: Any) -> None:
    claim = claim_with(where, value)
    if where[0] not in claim or not claim[where[0]]:
        pytest.skip("the example lacks the element")
    path = "Claim." + ".".join(f"{p}" if isinstance(p, str) else f"[{p}]" for p in where)
    path = path.replace(".[", "[")
    issues = model_issues("Claim", claim, "Claim")
    assert path in {e for i in issues for e in i.expression}, issues


def test_a_sequence_of_true_is_read_as_one_by_the_models_but_refused_here() -> None:
    (issue,) = json_issues("Claim", claim_with(("item", 0, "sequence"), True), "Claim")
    assert issue.expression == ("Claim.item[0].sequence",)
    assert "positiveInt" in issue.diagnostics and "boolean" in issue.diagnostics


@pytest.mark.parametrize("value", ["2", True, "1e400", None])
def test_a_quantity_value_must_be_a_json_number(value: Any) -> None:
    claim = claim_with(("item", 0, "quantity", "value"), value)
    assert ("Claim.item[0].quantity.value",) in paths("Claim", claim)


def test_a_boolean_must_be_true_or_false() -> None:
    claim = claim_with(("insurance", 0, "focal"), "true")
    assert paths("Claim", claim) == [("Claim.insurance[0].focal",)]


def test_strings_and_codes_must_be_json_strings() -> None:
    claim = claim_with(("status",), 5)
    assert ("Claim.status",) in paths("Claim", claim)


def test_extension_values_and_contained_resources_are_checked_too() -> None:
    claim = claim_with(("extension",), [{"url": "http://x", "valueInteger": "3"}])
    claim["contained"] = [{"resourceType": "Patient", "id": "p", "active": "yes"}]
    assert paths("Claim", claim) == [
        ("Claim.extension[0].valueInteger",),
        ("Claim.contained[0].active",),
    ]


def test_null_is_refused_except_to_line_up_a_primitive_array() -> None:
    claim = claim_with(("priority",), None)
    assert paths("Claim", claim) == [("Claim.priority",)]
    claim = claim_with(("item", 0, "careTeamSequence"), [1, None])
    claim["item"][0]["_careTeamSequence"] = [None, {"extension": [{"url": "u", "valueCode": "x"}]}]
    assert paths("Claim", claim) == []
    claim = claim_with(("item",), [None])
    assert paths("Claim", claim) == [("Claim.item[0]",)]


@pytest.mark.parametrize(
    ("where", "path"),
    [
        (("billablePeriod",), "Claim.billablePeriod"),
        (("item", 0, "servicedPeriod"), "Claim.item[0].servicedPeriod"),
        (("supportingInfo", 0, "timingPeriod"), "Claim.supportingInfo[0].timingPeriod"),
    ],
)
def test_a_period_that_ends_before_it_starts_is_refused_at_start_and_end(
    where: tuple[Any, ...], path: str
) -> None:
    claim = claim_with(where, {"start": "2026-12-20", "end": "2026-12-10"})
    (issue,) = json_issues("Claim", claim, "Claim")
    assert issue.expression == (f"{path}.start", f"{path}.end")
    assert issue.code == "invariant" and "per-1" in issue.diagnostics


def test_a_reversed_coverage_period_is_refused() -> None:
    coverage = {
        "resourceType": "Coverage",
        "status": "active",
        "beneficiary": {"reference": "Patient/1"},
        "payor": [{"reference": "Organization/1"}],
        "period": {"start": "2026-01-01", "end": "2025-12-31"},
    }
    issues = model_issues("Coverage", coverage, "Bundle.entry[3].resource")
    assert [i.expression for i in issues] == [
        ("Bundle.entry[3].resource.period.start", "Bundle.entry[3].resource.period.end")
    ]


@pytest.mark.parametrize(
    ("start", "end", "reversed_"),
    [
        ("2026-12-10", "2026-12-10", False),
        ("2026-12-10", "2026-12-09", True),
        ("2026", "2025-12-31", True),
        ("2026-12", "2026-12-01", False),  # same month: the end may fall in it
        ("2026-12-10T10:00:00Z", "2026-12-10", False),
        ("2026-12-10T10:00:00Z", "2026-12-10T09:00:00Z", True),
        ("2026-12-10T10:00:00+02:00", "2026-12-10T09:00:00Z", False),  # 08:00Z
        ("2026-12-11T01:00:00+14:00", "2026-12-10T12:00:00Z", False),  # 11:00Z on the 10th
    ],
)
def test_periods_compare_at_the_precision_both_have(start: str, end: str, reversed_: bool) -> None:
    assert ends_before_start(start, end) is reversed_


@pytest.mark.parametrize(
    ("element", "value"),
    [
        ("servicedDate", "0000-01-01"),
        ("servicedDate", "99999-01-01"),
        ("servicedDate", "2026-02-30"),
        ("servicedDate", "2026-13-01"),
        ("servicedDate", "2025-02-29"),
    ],
)
def test_impossible_dates_are_refused_by_the_models_at_their_path(element: str, value: str) -> None:
    claim = claim_with(("item", 0, element), value)
    claim["item"][0].pop("servicedPeriod", None)
    issues = model_issues("Claim", claim, "Claim")
    assert [i.expression for i in issues] == [(f"Claim.item[0].{element}",)]


def test_an_impossible_date_in_an_extension_is_refused_at_its_path() -> None:
    claim = claim_with(("extension",), [{"url": "http://x", "valueDate": "2026-02-30"}])
    issues = model_issues("Claim", claim, "Claim")
    assert [i.expression for i in issues] == [("Claim.extension[0].valueDate",)]


def test_an_empty_array_is_refused_where_r4_would_take_it_for_one_with_nothing() -> None:
    claim = claim_with(("insurance",), [])
    assert paths("Claim", claim) == [("Claim.insurance",)]
    assert ("Claim.insurance",) in [i.expression for i in model_issues("Claim", claim, "Claim")]


def test_a_primitive_where_an_element_belongs_is_refused_at_it() -> None:
    subscription = {
        "resourceType": "Subscription",
        "status": "requested",
        "reason": "r",
        "criteria": "c",
        "_criteria": "not an element",
        "channel": {"type": "rest-hook", "endpoint": 7},
    }
    # fhir.resources raises AttributeError on both; the JSON rules say where.
    issues = model_issues("Subscription", subscription, "Subscription")
    assert [i.expression for i in issues] == [
        ("Subscription.criteria",),
        ("Subscription.channel.endpoint",),
    ]
    assert "FHIR Element" in issues[0].diagnostics and "FHIR url" in issues[1].diagnostics


def test_loading_a_resource_model_builds_every_element_class_it_holds() -> None:
    names = {model.__name__ for model in load_models(["Claim"])}
    held = {"Claim", "ClaimItem", "ClaimInsurance", "ClaimDiagnosis", "CodeableConcept"}
    assert held | {"Coding", "Reference", "Extension", "Period", "Money", "Quantity"} <= names
    assert "ClaimItemDetailSubDetail" in names  # three levels down
    assert "Patient" not in names and "Bundle" not in names  # referred to or around, not held
