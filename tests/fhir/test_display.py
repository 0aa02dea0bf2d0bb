"""FHIR values as the console shows them (fhir/display.py): whatever shape a bundle gives."""

from __future__ import annotations

from fhirauth.fhir.display import (
    Code,
    codes,
    concept_text,
    human_name,
    identifiers,
    period,
    plan,
    quantity,
    resource_name,
    serviced,
)


def test_a_name_is_the_official_one_as_written_or_its_parts_in_order() -> None:
    names = [
        {"use": "usual", "text": "Coco"},
        {"use": "official", "prefix": ["Dr."], "given": ["Ada", "M."], "family": "Byron"},
    ]
    assert human_name(names) == "Dr. Ada M. Byron"
    assert human_name([{"text": "  Ada Lovelace "}]) == "Ada Lovelace"
    assert human_name([{"family": "Byron", "suffix": ["MD"]}]) == "Byron MD"
    assert human_name([]) is None and human_name("Ada") is None and human_name([{}]) is None
    assert resource_name({"resourceType": "Organization", "name": "Clinic"}) == "Clinic"
    assert resource_name({"resourceType": "Patient", "name": names}) == "Dr. Ada M. Byron"
    assert resource_name(None) is None


def test_codes_carry_their_system_when_there_is_one() -> None:
    concept = {
        "coding": [
            {"system": "http://www.ama-assn.org/go/cpt", "code": "70551", "display": "MRI"},
            {"code": "X1"},
            {"system": "s"},  # no code: nothing to show
        ]
    }
    assert codes(concept) == [Code("http://www.ama-assn.org/go/cpt|70551", "MRI"), Code("X1")]
    assert concept_text(concept) == "MRI"
    assert concept_text({"text": "Office", "coding": concept["coding"]}) == "Office"
    assert concept_text({"coding": [{"code": "11"}]}) == "11"
    assert concept_text(None) is None and codes("nonsense") == []


def test_identifiers_quantities_and_periods_read_as_written() -> None:
    org = {
        "identifier": [{"system": "http://hl7.org/fhir/sid/us-npi", "value": "1"}, {"value": "2"}]
    }
    assert identifiers(org) == ["http://hl7.org/fhir/sid/us-npi|1", "2"]
    assert quantity({"value": 3, "unit": "visit"}) == "3 visit"
    assert quantity({"value": 2, "code": "h"}) == "2 h" and quantity({}) is None
    assert period("2026-12-01", "2026-12-31") == "2026-12-01 to 2026-12-31"
    assert period("2026-12-01", "2026-12-01") == "2026-12-01" and period(None, None) is None
    assert serviced({"servicedDate": "2026-12-14"}) == "2026-12-14"
    assert serviced({"servicedPeriod": {"start": "2026-12-16"}}) == "2026-12-16"
    assert serviced({}) is None


def test_the_plan_is_the_coverage_class_of_type_plan() -> None:
    def cls(kind: str, value: str, name: str | None = None) -> dict[str, object]:
        out: dict[str, object] = {"type": {"coding": [{"code": kind}]}, "value": value}
        if name:
            out["name"] = name
        return out

    assert plan({"class": [cls("group", "G1", "Group"), cls("plan", "P1", "Select HMO")]}) == (
        "Select HMO (P1)"
    )
    assert plan({"class": [cls("plan", "P2")]}) == "P2"
    assert plan({"class": [cls("group", "G1")]}) is None and plan({}) is None
