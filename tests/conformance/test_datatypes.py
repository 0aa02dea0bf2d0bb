"""The PAS data type rules: prof-1 (Timing), prof-2 and prof-3 (Quantity), and FullDateRule
on every date PAS sends to X12."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from fhirauth.conformance import PAS, Registry, validate
from tests.conformance.support import X12, claim, claim_response, errors, example, ext, one

TIMING = PAS + "profile-datatype-timing"
QUANTITY = PAS + "profile-quantity"
CLAIM = PAS + "profile-claim"
CLAIM_RESPONSE = PAS + "profile-claimresponse"


def service_request(timing: dict[str, Any]) -> dict[str, Any]:
    return {
        "resourceType": "ServiceRequest",
        "status": "active",
        "intent": "order",
        "subject": {"reference": "Patient/p1"},
        "occurrenceTiming": timing,
    }


def pattern(name: str, element: str, code: str) -> dict[str, Any]:
    return {
        "url": ext(name),
        "valueCodeableConcept": {"coding": [{"system": X12 + element, "code": code}]},
    }


# -- prof-1 -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "timing",
    [
        {"repeat": {"count": 10}},
        {"repeat": {"frequency": 2, "period": 1, "periodUnit": "wk"}},
        {"extension": [pattern("timingcalendarpattern", "678", "L")]},
        {"extension": [pattern("timingdeliverypattern", "679", "D")]},
    ],
    ids=["count", "frequency-period-unit", "calendar-pattern", "delivery-pattern"],
)
def test_prof_1_a_timing_with_a_count_a_full_frequency_or_a_pattern_is_valid(
    ours: Registry, timing: dict[str, Any]
) -> None:
    sr = service_request(timing)
    assert validate(sr, PAS + "profile-servicerequest", ours) == []


@pytest.mark.parametrize(
    "timing",
    [
        {"repeat": {"frequency": 2, "period": 1}},
        {"repeat": {"frequency": 2, "periodUnit": "d"}},
        {"repeat": {"boundsDuration": {"value": 30, "unit": "d"}}},
        {"code": {"text": "twice a day"}},
    ],
    ids=["no-period-unit", "no-period", "bounds-only", "code-only"],
)
def test_prof_1_a_timing_without_count_frequency_or_pattern_is_rejected(
    ours: Registry, timing: dict[str, Any]
) -> None:
    issues = validate(service_request(timing), PAS + "profile-servicerequest", ours)
    one(issues, "ServiceRequest.occurrenceTiming", "prof-1", TIMING)


def test_prof_1_applies_to_a_medication_request_s_dosage_timing(ours: Registry) -> None:
    mr = {
        "resourceType": "MedicationRequest",
        "status": "active",
        "intent": "order",
        "medicationCodeableConcept": {"coding": [{"system": "http://hl7.org/fhir/sid/ndc"}]},
        "subject": {"reference": "Patient/p1"},
        "requester": {"reference": "Practitioner/d1"},
        "dosageInstruction": [{"timing": {"repeat": {"frequency": 1}}}],
    }
    issues = validate(mr, PAS + "profile-medicationrequest", ours)
    one(issues, "MedicationRequest.dosageInstruction[0].timing", "prof-1", TIMING)


# -- prof-2 and prof-3 ------------------------------------------------------------------------


@pytest.mark.parametrize(
    "quantity",
    [
        {"value": 1, "unit": "visit"},
        {"value": 3, "code": "DA", "system": X12 + "673"},
        {"value": 2.5, "unit": "hours", "code": "HR", "system": X12 + "673"},
    ],
    ids=["value-unit", "value-x12-code", "value-unit-x12-code"],
)
def test_a_quantity_with_a_value_and_a_unit_or_an_x12_code_is_valid(
    ours: Registry, quantity: dict[str, Any]
) -> None:
    c = claim()
    c["item"][0]["quantity"] = quantity
    assert validate(c, CLAIM, ours) == []


def test_prof_2_a_quantity_needs_a_unit_or_a_code(ours: Registry) -> None:
    c = claim()
    c["item"][0]["quantity"] = {"value": 1}
    issue = one(validate(c, CLAIM, ours), "Claim.item[0].quantity", "prof-2", QUANTITY)
    assert "a value and either a unit or a code" in issue.diagnostics


def test_prof_2_a_quantity_needs_a_value(ours: Registry) -> None:
    c = claim()
    c["item"][0]["quantity"] = {"unit": "visit"}
    issues = validate(c, CLAIM, ours)
    one(issues, "Claim.item[0].quantity", "prof-2", QUANTITY)
    one(issues, "Claim.item[0].quantity.value", "min", QUANTITY)


def test_prof_3_a_quantity_code_comes_from_the_x12_units(ours: Registry) -> None:
    c = claim()
    c["item"][0]["quantity"] = {
        "value": 300,
        "unit": "mg",
        "system": "http://unitsofmeasure.org",
        "code": "mg",
    }
    issue = one(validate(c, CLAIM, ours), "Claim.item[0].quantity", "prof-3", QUANTITY)
    assert "https://codesystem.x12.org/005010/673" in issue.diagnostics


def test_prof_3_a_quantity_code_needs_its_system(ours: Registry) -> None:
    c = claim()
    c["item"][0]["quantity"] = {"value": 1, "code": "UN"}
    one(validate(c, CLAIM, ours), "Claim.item[0].quantity", "prof-3", QUANTITY)


def test_a_pas_quantity_has_no_comparator(ours: Registry) -> None:
    c = claim()
    c["item"][0]["quantity"] = {"value": 1, "unit": "visit", "comparator": "<"}
    one(validate(c, CLAIM, ours), "Claim.item[0].quantity.comparator", "max", QUANTITY)


def test_the_quantity_rules_apply_inside_an_authorized_detail_extension(ours: Registry) -> None:
    cr = claim_response()
    cr["item"][0]["extension"].append(
        {
            "url": ext("itemAuthorizedDetail"),
            "extension": [{"url": "quantity", "valueQuantity": {"value": 1}}],
        }
    )
    one(
        validate(cr, CLAIM_RESPONSE, ours),
        "ClaimResponse.item[0].extension[2].extension[0].valueQuantity",
        "prof-2",
        QUANTITY,
    )


def test_the_quantity_rules_apply_to_an_added_item(ours: Registry) -> None:
    cr = claim_response()
    cr["addItem"] = [
        {
            "itemSequence": [1],
            "productOrService": {
                "coding": [{"system": "http://www.cms.gov/Medicare/Coding/HCPCSReleaseCodeSets"}]
            },
            "quantity": {"value": 1, "system": "http://unitsofmeasure.org", "code": "1"},
            "adjudication": cr["item"][0]["adjudication"],
        }
    ]
    one(validate(cr, CLAIM_RESPONSE, ours), "ClaimResponse.addItem[0].quantity", "prof-3", QUANTITY)


# -- FullDateRule -----------------------------------------------------------------------------

Mutation = Callable[[dict[str, Any]], None]


def _admission(c: dict[str, Any]) -> None:
    c["supportingInfo"] = [
        {
            "sequence": 1,
            "category": {
                "coding": [
                    {
                        "system": "http://hl7.org/fhir/us/davinci-pas/CodeSystem/PASTempCodes",
                        "code": "admissionDates",
                    }
                ]
            },
            "timingPeriod": {"start": "2026-12-03", "end": "2026-12"},
        }
    ]


def _serviced_period_with_time(c: dict[str, Any]) -> None:
    del c["item"][0]["servicedDate"]
    c["item"][0]["servicedPeriod"] = {"start": "2026-12-03T09:00:00-05:00"}


def _home_health(c: dict[str, Any]) -> None:
    c["extension"].append(
        {
            "url": ext("homeHealthCareInformation"),
            "extension": [
                {
                    "url": "prognosis",
                    "valueCodeableConcept": {"coding": [{"system": X12 + "923", "code": "3"}]},
                },
                {"url": "date", "valueDate": "2026-12"},
            ],
        }
    )


CLAIM_DATES: list[tuple[str, Mutation, str, str]] = [
    (
        "serviced-date",
        lambda c: c["item"][0].update(servicedDate="2026-12"),
        "Claim.item[0].servicedDate",
        CLAIM,
    ),
    (
        "serviced-period-with-time",
        _serviced_period_with_time,
        "Claim.item[0].servicedPeriod",
        CLAIM,
    ),
    (
        "accident-date",
        lambda c: c.update(accident={"date": "2026"}),
        "Claim.accident.date",
        CLAIM,
    ),
    ("admission-dates", _admission, "Claim.supportingInfo[0].timingPeriod", CLAIM),
    (
        "diagnosis-recorded-date",
        lambda c: c["diagnosis"][0]["extension"][0].update(valueDate="2026-12"),
        "Claim.diagnosis[0].extension[0].valueDate",
        ext("diagnosisRecordedDate"),
    ),
    ("home-health-start", _home_health, "Claim.extension[2].extension[1].valueDate", ""),
]


@pytest.mark.parametrize(
    ("mutate", "expression", "canonical"),
    [c[1:] for c in CLAIM_DATES],
    ids=[c[0] for c in CLAIM_DATES],
)
def test_full_date_rule_holds_on_every_claim_date(
    ours: Registry, mutate: Mutation, expression: str, canonical: str
) -> None:
    c = claim()
    mutate(c)
    one(
        validate(c, CLAIM, ours),
        expression,
        "FullDateRule",
        canonical or ext("homeHealthCareInformation"),
    )


def test_full_date_rule_holds_on_the_patient_s_birth_date(ours: Registry) -> None:
    patient = example("approve-ct-head.json")["entry"][4]["resource"]
    patient["birthDate"] = "1948-12"
    one(
        validate(patient, PAS + "profile-beneficiary", ours),
        "Patient.birthDate",
        "FullDateRule",
        PAS + "profile-beneficiary",
    )


@pytest.mark.parametrize(
    ("url", "value", "expression_tail"),
    [
        ("itemPreAuthIssueDate", {"valueDate": "2026-12"}, "valueDate"),
        ("itemPreAuthPeriod", {"valuePeriod": {"start": "2026-12-01T00:00:00Z"}}, "valuePeriod"),
        ("admissionDates", {"valuePeriod": {"start": "2026", "end": "2026-12-09"}}, "valuePeriod"),
        ("dischargeDate", {"valueDate": "2026-12"}, "valueDate"),
    ],
)
def test_full_date_rule_holds_on_every_date_of_a_response_line(
    ours: Registry, url: str, value: dict[str, Any], expression_tail: str
) -> None:
    cr = claim_response()
    cr["item"][0]["extension"] = [{"url": ext(url), **value}]
    one(
        validate(cr, CLAIM_RESPONSE, ours),
        f"ClaimResponse.item[0].extension[0].{expression_tail}",
        "FullDateRule",
        ext(url),
    )


def test_full_date_rule_holds_on_inquiry_certification_dates(ours: Registry) -> None:
    inquiry = claim()
    inquiry["identifier"] = inquiry["identifier"][:1]
    inquiry["item"][0]["extension"].append(
        {"url": ext("itemCertificationIssueDate"), "valuePeriod": {"start": "2026-11"}}
    )
    last = len(inquiry["item"][0]["extension"]) - 1
    one(
        validate(inquiry, PAS + "profile-claim-inquiry", ours),
        f"Claim.item[0].extension[{last}].valuePeriod",
        "FullDateRule",
        ext("itemCertificationIssueDate"),
    )


def test_full_dates_pass_the_full_date_rule(ours: Registry) -> None:
    c = claim()
    c["accident"] = {"date": "2026-11-12"}
    c["item"][0].pop("servicedDate")
    c["item"][0]["servicedPeriod"] = {"start": "2026-12-03", "end": "2026-12-31"}
    assert errors(validate(c, CLAIM, ours)) == []
