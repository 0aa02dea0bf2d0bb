"""fhirauth.policy.context: the normalized item context policy conditions see."""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from typing import Any

import pytest

from fhirauth.policy.context import is_expedited
from fhirauth.policy.engine import evaluate_item
from tests.policy.bundles import (
    CPT,
    LOINC,
    PAS,
    TODAY,
    claim_of,
    context,
    contexts,
    demo_policy,
    example,
    item_of,
    resource_of,
)

CT_HEAD = "approve-ct-head.json"  # one item: CPT 70450, servicedDate 2026-12-07, POS 22
MIXED = "mixed-outcomes.json"  # items 1-4; item 4 points at diagnosis 3 only
DOCUMENT = "supporting-document.json"  # a DocumentReference (LOINC 11506-3) in supportingInfo
QUESTIONNAIRE = "http://payer.example.org/fhir/Questionnaire/knee-arthroplasty"


def dx_codes(concepts: list[dict[str, Any]]) -> list[str]:
    return [c["code"] for concept in concepts for c in concept["coding"]]


def add_questionnaire_response(
    bundle: dict[str, Any], status: str = "completed", questionnaire: str = QUESTIONNAIRE
) -> None:
    """A QuestionnaireResponse entry, cited from the Claim's supportingInfo."""
    url = "urn:uuid:7d0c7d8e-5b0f-4a8e-9f43-2d1b7f0a9c11"
    bundle["entry"].append(
        {
            "fullUrl": url,
            "resource": {
                "resourceType": "QuestionnaireResponse",
                "id": "qr-knee",
                "questionnaire": questionnaire,
                "status": status,
            },
        }
    )
    claim_of(bundle)["supportingInfo"] = [
        {
            "sequence": 1,
            "category": {
                "coding": [
                    {
                        "system": "http://hl7.org/fhir/us/davinci-pas/CodeSystem/PASTempCodes",
                        "code": "additionalInformation",
                    }
                ]
            },
            "valueReference": {"reference": url},
        }
    ]


def set_level_of_service(bundle: dict[str, Any], code: str) -> None:
    for ext in claim_of(bundle)["extension"]:
        if ext["url"] == PAS + "extension-levelOfServiceCode":
            ext["valueCodeableConcept"]["coding"][0]["code"] = code


# --- What the item asks for ------------------------------------------------------------------


def test_the_codes_are_the_items_product_or_service_codings() -> None:
    bundle = example(CT_HEAD)
    item_of(bundle)["productOrService"]["coding"].append(
        {"system": "http://example.org/local-codes", "code": "CTH-1"}
    )
    assert context(bundle).codes == ((CPT, "70450"), ("http://example.org/local-codes", "CTH-1"))


def test_the_sequence_is_the_claim_items_sequence() -> None:
    assert [c.sequence for c in contexts(example(MIXED))] == [1, 2, 3, 4]


def test_the_modifiers_are_every_modifier_code() -> None:
    bundle = example(CT_HEAD)
    item_of(bundle)["modifier"] = [
        {"coding": [{"system": CPT, "code": "26"}]},
        {"coding": [{"system": CPT, "code": "RT"}, {"system": CPT, "code": "59"}]},
    ]
    assert context(bundle).modifiers == frozenset({"26", "RT", "59"})


def test_an_item_without_modifiers_has_none() -> None:
    assert context(example(CT_HEAD)).modifiers == frozenset()


def test_the_place_of_service_comes_from_location_codeable_concept() -> None:
    assert context(example(CT_HEAD)).places == frozenset({"22"})


def test_the_quantity_is_the_items_quantity_value() -> None:
    bundle = example(CT_HEAD)
    item_of(bundle)["quantity"] = {"value": 2.5, "unit": "unit"}
    ctx = context(bundle)
    assert ctx.quantity == Decimal("2.5")
    assert ctx.variables["quantity"] == 2.5


def test_an_item_without_a_quantity_has_none() -> None:
    bundle = example(CT_HEAD)
    del item_of(bundle)["quantity"]
    ctx = context(bundle)
    assert ctx.quantity is None
    assert ctx.variables["quantity"] is None


# --- Requested dates -------------------------------------------------------------------------


def test_a_serviced_date_is_requested_as_a_one_day_span() -> None:
    assert context(example(CT_HEAD)).requested == (date(2026, 12, 7), date(2026, 12, 7))


def test_a_serviced_period_is_requested_from_start_to_end() -> None:
    assert context(example(MIXED), 3).requested == (date(2026, 12, 16), date(2027, 1, 15))


def test_a_serviced_period_with_only_a_start_is_requested_for_that_day() -> None:
    bundle = example(CT_HEAD)
    item = item_of(bundle)
    del item["servicedDate"]
    item["servicedPeriod"] = {"start": "2026-12-20"}
    assert context(bundle).requested == (date(2026, 12, 20), date(2026, 12, 20))


def test_an_item_without_dates_falls_back_to_the_claims_billable_period() -> None:
    bundle = example(CT_HEAD)
    del item_of(bundle)["servicedDate"]
    claim_of(bundle)["billablePeriod"] = {"start": "2027-01-04", "end": "2027-01-08"}
    assert context(bundle).requested == (date(2027, 1, 4), date(2027, 1, 8))


def test_an_item_without_any_dates_requests_none_and_is_judged_as_of_today() -> None:
    bundle = example(CT_HEAD)
    del item_of(bundle)["servicedDate"]
    ctx = context(bundle, today=TODAY)
    assert ctx.requested is None
    assert ctx.variables["serviceDate"] == TODAY.isoformat()


def test_the_service_date_variable_is_the_first_requested_day() -> None:
    assert context(example(MIXED), 3).variables["serviceDate"] == "2026-12-16"


# --- The member ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("serviced", "age"),
    [("2026-12-06", 49), ("2026-12-07", 50), ("2027-12-06", 50), ("2027-12-07", 51)],
)
def test_age_is_counted_on_the_service_date(serviced: str, age: int) -> None:
    bundle = example(CT_HEAD)
    resource_of(bundle, "Patient")["birthDate"] = "1976-12-07"
    item_of(bundle)["servicedDate"] = serviced
    assert context(bundle).variables["age"] == age


def test_age_is_unknown_without_a_birth_date() -> None:
    bundle = example(CT_HEAD)
    del resource_of(bundle, "Patient")["birthDate"]
    assert context(bundle).variables["age"] is None


def test_sex_is_the_patients_gender() -> None:
    assert context(example(CT_HEAD)).variables["sex"] == "male"


def test_the_patient_and_coverage_are_the_requests_own() -> None:
    bundle = example(CT_HEAD)
    variables = context(bundle).variables
    assert variables["patient"] == resource_of(bundle, "Patient")
    assert variables["coverage"] == resource_of(bundle, "Coverage")


# --- Diagnoses -------------------------------------------------------------------------------


def test_item_diagnosis_follows_the_items_diagnosis_sequence() -> None:
    variables = context(example(MIXED), 4).variables
    assert dx_codes(variables["item"]["diagnosis"]) == ["L64.9"]


def test_item_diagnosis_keeps_the_order_of_the_diagnosis_sequence() -> None:
    bundle = example(MIXED)
    item_of(bundle, 2)["diagnosisSequence"] = [3, 1]
    assert dx_codes(context(bundle, 2).variables["item"]["diagnosis"]) == ["L64.9", "R51.9"]


def test_item_diagnosis_is_every_claim_diagnosis_when_the_item_names_none() -> None:
    bundle = example(MIXED)
    del item_of(bundle, 4)["diagnosisSequence"]
    assert dx_codes(context(bundle, 4).variables["item"]["diagnosis"]) == [
        "R51.9",
        "R42",
        "L64.9",
    ]


def test_diagnoses_are_every_claim_diagnosis_whatever_the_item_points_at() -> None:
    variables = context(example(MIXED), 4).variables
    assert dx_codes(variables["diagnoses"]) == ["R51.9", "R42", "L64.9"]


def test_the_claim_item_is_left_untouched() -> None:
    bundle = example(MIXED)
    context(bundle, 4)
    assert "diagnosis" not in item_of(bundle, 4)


# --- Documentation supplied ------------------------------------------------------------------


def test_a_document_reference_in_supporting_info_supplies_its_loinc_type() -> None:
    ctx = context(example(DOCUMENT))
    assert ctx.documents == frozenset({"11506-3"})
    assert ctx.variables["documents"] == ["11506-3"]


def test_a_request_without_supporting_info_supplies_no_documents() -> None:
    ctx = context(example(CT_HEAD))
    assert ctx.documents == frozenset()
    assert ctx.questionnaires == frozenset()


def test_a_document_reference_in_the_bundle_but_not_in_supporting_info_supplies_nothing() -> None:
    bundle = example(DOCUMENT)
    del claim_of(bundle)["supportingInfo"]
    assert context(bundle).documents == frozenset()


def test_a_supporting_info_loinc_code_supplies_that_document() -> None:
    bundle = example(CT_HEAD)
    claim_of(bundle)["supportingInfo"] = [
        {
            "sequence": 1,
            "category": {
                "coding": [
                    {
                        "system": "http://hl7.org/fhir/us/davinci-pas/CodeSystem/PASTempCodes",
                        "code": "additionalInformation",
                    }
                ]
            },
            "code": {"coding": [{"system": LOINC, "code": "18748-4"}]},
        }
    ]
    assert context(bundle).documents == frozenset({"18748-4"})


def test_a_completed_questionnaire_response_answers_its_questionnaire() -> None:
    bundle = example(CT_HEAD)
    add_questionnaire_response(bundle)
    ctx = context(bundle)
    assert ctx.questionnaires == frozenset({QUESTIONNAIRE})
    assert ctx.variables["questionnaires"] == [QUESTIONNAIRE]


def test_a_questionnaire_response_answers_the_questionnaire_whatever_its_version() -> None:
    bundle = example(CT_HEAD)
    add_questionnaire_response(bundle, questionnaire=f"{QUESTIONNAIRE}|2.1.0")
    assert context(bundle).questionnaires == frozenset({QUESTIONNAIRE})


@pytest.mark.parametrize("status", ["in-progress", "stopped", "entered-in-error"])
def test_an_unfinished_questionnaire_response_answers_nothing(status: str) -> None:
    bundle = example(CT_HEAD)
    add_questionnaire_response(bundle, status=status)
    assert context(bundle).questionnaires == frozenset()


# --- Claim-level variables -------------------------------------------------------------------


def test_the_level_of_service_is_the_claims_x12_code() -> None:
    assert context(example("pend-mri-brain.json")).variables["levelOfService"] == "U"


def test_the_requested_service_is_resolved_from_the_item_extension() -> None:
    bundle = example(CT_HEAD)
    url = "http://ehr.example.org/fhir/ServiceRequest/sr-ct-head"
    bundle["entry"].append(
        {
            "fullUrl": url,
            "resource": {
                "resourceType": "ServiceRequest",
                "id": "sr-ct-head",
                "status": "active",
                "intent": "order",
                "code": {"coding": [{"system": CPT, "code": "70450"}]},
                "subject": {"reference": "Patient/pt-2210"},
            },
        }
    )
    item_of(bundle)["extension"].append(
        {
            "url": PAS + "extension-requestedService",
            "valueReference": {"reference": "ServiceRequest/sr-ct-head"},
        }
    )
    assert context(bundle).variables["request"]["id"] == "sr-ct-head"


def test_without_a_requested_service_the_request_variable_is_empty() -> None:
    assert context(example(CT_HEAD)).variables["request"] is None


# --- Expedited -------------------------------------------------------------------------------


def certification_type(node: dict[str, Any]) -> dict[str, Any]:
    (ext,) = [e for e in node["extension"] if e["url"] == PAS + "extension-certificationType"]
    return ext["valueCodeableConcept"]["coding"][0]


@pytest.mark.parametrize("level", ["U", "03"])
def test_an_urgent_or_emergency_level_of_service_is_expedited(level: str) -> None:
    bundle = example(CT_HEAD)
    set_level_of_service(bundle, level)
    assert is_expedited(claim_of(bundle)) is True
    assert context(bundle).variables["expedited"] is True


def test_a_stat_priority_is_expedited() -> None:
    bundle = example(CT_HEAD)
    claim_of(bundle)["priority"]["coding"][0]["code"] = "stat"
    assert is_expedited(claim_of(bundle)) is True


def test_an_immediate_appeal_on_an_item_is_expedited() -> None:
    bundle = example(CT_HEAD)
    certification_type(item_of(bundle))["code"] = "1"
    assert is_expedited(claim_of(bundle)) is True


def test_an_immediate_appeal_on_the_claim_is_expedited() -> None:
    bundle = example(CT_HEAD)
    claim_of(bundle)["extension"].append(
        {
            "url": PAS + "extension-certificationType",
            "valueCodeableConcept": {
                "coding": [{"system": "https://codesystem.x12.org/005010/1322", "code": "1"}]
            },
        }
    )
    assert is_expedited(claim_of(bundle)) is True


def test_an_elective_normal_initial_request_is_not_expedited() -> None:
    bundle = example(CT_HEAD)  # level of service E, priority normal, certification type I
    assert is_expedited(claim_of(bundle)) is False
    assert context(bundle).variables["expedited"] is False


@pytest.mark.parametrize("level", ["E", "UR", "3"])
def test_other_levels_of_service_are_not_expedited(level: str) -> None:
    bundle = example(CT_HEAD)
    set_level_of_service(bundle, level)
    assert is_expedited(claim_of(bundle)) is False


def test_a_claim_without_any_signal_is_not_expedited() -> None:
    assert is_expedited({"resourceType": "Claim"}) is False


def _diagnosis_as_condition(bundle: dict[str, Any], sequence: int) -> None:
    """Move diagnosis ``sequence`` into a Condition entry the Claim points at."""
    (dx,) = [d for d in claim_of(bundle)["diagnosis"] if d["sequence"] == sequence]
    patient = claim_of(bundle)["patient"]["reference"]
    base = bundle["entry"][0]["fullUrl"].rsplit("/", 2)[0]
    bundle["entry"].append(
        {
            "fullUrl": f"{base}/Condition/dx-{sequence}",
            "resource": {
                "resourceType": "Condition",
                "id": f"dx-{sequence}",
                "code": dx.pop("diagnosisCodeableConcept"),
                "subject": {"reference": patient},
            },
        }
    )
    dx["diagnosisReference"] = {"reference": f"Condition/dx-{sequence}"}


def test_a_diagnosis_reference_supplies_the_conditions_code() -> None:
    bundle = example(MIXED)
    _diagnosis_as_condition(bundle, 3)
    variables = context(bundle, 4).variables
    assert dx_codes(variables["item"]["diagnosis"]) == ["L64.9"]
    assert dx_codes(variables["diagnoses"]) == ["R51.9", "R42", "L64.9"]


def test_a_diagnosis_reference_that_resolves_to_nothing_supplies_no_code() -> None:
    bundle = example(MIXED)
    _diagnosis_as_condition(bundle, 3)
    bundle["entry"].pop()
    variables = context(bundle, 4).variables
    assert dx_codes(variables["diagnoses"]) == ["R51.9", "R42"]
    assert dx_codes(variables["item"]["diagnosis"]) == ["R51.9", "R42"]  # none of its own left


def test_a_ct_head_whose_diagnoses_are_conditions_is_approved_as_with_codes() -> None:
    bundle = example(CT_HEAD)
    _diagnosis_as_condition(bundle, 1)
    _diagnosis_as_condition(bundle, 2)
    assert evaluate_item(demo_policy(), context(bundle)).action == "A1"


def test_an_immediate_appeal_on_one_item_makes_every_items_context_expedited() -> None:
    # Worked out once per request (ClaimFacts), not rescanned per item.
    bundle = example(MIXED)
    certification_type(claim_of(bundle)["item"][2])["code"] = "1"
    assert [c.variables["expedited"] for c in contexts(bundle)] == [True] * 4


def test_every_item_sees_the_documents_supplied_with_the_request() -> None:
    bundle = example(MIXED)
    add_questionnaire_response(bundle)
    assert [c.questionnaires for c in contexts(bundle)] == [frozenset({QUESTIONNAIRE})] * 4
