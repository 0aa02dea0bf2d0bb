"""fhirauth.conformance.validator: each kind of rule catches its violation, says where (the
FHIRPath of the element) and whose rule it is (the profile canonical and the rule)."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import pytest

from fhirauth.conformance import PAS, Registry, UnknownProfile, validate, validate_bundle
from tests.conformance.support import (
    REQUEST_EXAMPLES,
    X12,
    at,
    claim,
    claim_response,
    coded,
    errors,
    example,
    ext,
    load,
    one,
    warnings,
)

CLAIM = PAS + "profile-claim"
CLAIM_UPDATE = PAS + "profile-claim-update"
CLAIM_RESPONSE = PAS + "profile-claimresponse"
COVERAGE = PAS + "profile-coverage"


@pytest.mark.parametrize("path", REQUEST_EXAMPLES, ids=lambda p: p.name)
def test_our_request_examples_validate_clean_against_our_profiles(
    ours: Registry, path: Path
) -> None:
    assert validate_bundle(load(path), ours) == []


def test_the_hand_made_claim_response_is_valid(ours: Registry) -> None:
    assert validate(claim_response(), CLAIM_RESPONSE, ours) == []


# -- cardinality ------------------------------------------------------------------------------


def test_a_missing_required_element_is_reported_where_it_belongs(ours: Registry) -> None:
    c = claim()
    del c["item"][0]["category"]
    issue = one(validate(c, CLAIM, ours), "Claim.item[0].category", "min", CLAIM)
    assert issue.code == "required"
    assert "Claim.item.category is 1..1, found 0" in issue.diagnostics


def test_a_missing_required_choice_element_is_reported_by_its_name(ours: Registry) -> None:
    c = claim()
    del c["item"][0]["locationCodeableConcept"]
    one(validate(c, CLAIM, ours), "Claim.item[0].location", "min", CLAIM)


def test_too_many_repetitions_are_reported_at_the_first_extra_one(ours: Registry) -> None:
    c = claim()
    c["identifier"] += [dict(c["identifier"][0], value=f"extra-{i}") for i in range(2)]
    issue = one(validate(c, CLAIM, ours), "Claim.identifier[2]", "max", CLAIM)
    assert issue.code == "structure"
    assert "1..2, found 3" in issue.diagnostics


def test_a_prohibited_element_is_reported(ours: Registry) -> None:
    c = claim()
    c["related"] = [{"claim": {"reference": "Claim/earlier"}}]
    issue = one(validate(c, CLAIM, ours), "Claim.related[0]", "max", CLAIM)
    assert "Claim.related is not allowed (0..0)" in issue.diagnostics


def test_an_empty_element_counts_as_present_for_cardinality_but_not_as_a_value(
    ours: Registry,
) -> None:
    c = claim()
    c["priority"] = {}
    assert errors(validate(c, CLAIM, ours)) == []


# -- fixed and pattern values -----------------------------------------------------------------


def test_a_fixed_code_must_be_exactly_that_code(ours: Registry) -> None:
    c = claim()
    c["status"] = "draft"
    issue = one(validate(c, CLAIM, ours), "Claim.status", "fixed", CLAIM)
    assert issue.code == "value"


def test_a_fixed_boolean_is_not_matched_by_a_number(ours: Registry) -> None:
    c = claim()
    c["insurance"][0]["focal"] = 1
    issues = validate(c, CLAIM, ours)
    assert at(errors(issues), "Claim.insurance[0].focal")


def test_a_pattern_must_be_contained_in_the_value(ours: Registry) -> None:
    cr = claim_response()
    cr["item"][0]["adjudication"][0]["category"] = coded(
        "http://terminology.hl7.org/CodeSystem/adjudication", "benefit"
    )
    issue = one(
        validate(cr, CLAIM_RESPONSE, ours),
        "ClaimResponse.item[0].adjudication[0].category",
        "pattern",
        CLAIM_RESPONSE,
    )
    assert "submitted" in issue.diagnostics


def test_a_pattern_allows_more_than_it_names(ours: Registry) -> None:
    cr = claim_response()
    category = cr["item"][0]["adjudication"][0]["category"]
    category["coding"][0]["display"] = "Submitted Amount"
    category["text"] = "as submitted"
    assert validate(cr, CLAIM_RESPONSE, ours) == []


# -- required bindings ------------------------------------------------------------------------


def test_a_code_outside_an_enumerated_value_set_is_rejected(ours: Registry) -> None:
    c = claim()
    c["type"] = coded("http://terminology.hl7.org/CodeSystem/claim-type", "vision")
    issue = one(validate(c, CLAIM, ours), "Claim.type", "binding", CLAIM)
    assert issue.code == "code-invalid"
    assert "claim-type#vision" in issue.diagnostics and "ClaimTypes" in issue.diagnostics


def test_a_code_primitive_outside_its_value_set_is_rejected(ours: Registry) -> None:
    cr = claim_response()
    cr["outcome"] = "queued"
    one(validate(cr, CLAIM_RESPONSE, ours), "ClaimResponse.outcome", "binding", CLAIM_RESPONSE)


def test_a_code_from_a_system_outside_the_value_set_is_rejected(ours: Registry) -> None:
    c = claim()
    c["item"][0]["category"]["coding"][0]["system"] = "http://example.org/service-types"
    one(validate(c, CLAIM, ours), "Claim.item[0].category", "binding", CLAIM)


def test_an_x12_code_is_accepted_by_its_code_system_without_a_warning(ours: Registry) -> None:
    c = claim()
    c["item"][0]["category"]["coding"][0]["code"] = "any-code-x12-may-define"
    assert validate(c, CLAIM, ours) == []


def test_one_matching_coding_satisfies_a_required_binding(ours: Registry) -> None:
    c = claim()
    c["type"]["coding"].insert(0, {"system": "http://example.org/local", "code": "PRO"})
    assert validate(c, CLAIM, ours) == []


def test_a_codeable_concept_with_only_text_fails_a_required_binding(ours: Registry) -> None:
    c = claim()
    c["type"] = {"text": "professional"}
    one(validate(c, CLAIM, ours), "Claim.type", "binding", CLAIM)


# -- extensions -------------------------------------------------------------------------------


def test_a_required_extension_slice_missing_is_reported_on_the_extension_list(
    ours: Registry,
) -> None:
    c = claim()
    c["item"][0]["extension"] = [
        e for e in c["item"][0]["extension"] if e["url"] != ext("certificationType")
    ]
    issue = one(validate(c, CLAIM, ours), "Claim.item[0].extension", "min", CLAIM)
    assert "extension:certificationType" in issue.diagnostics
    assert ext("certificationType") in issue.diagnostics


def test_an_extension_slice_repeated_beyond_its_maximum_is_reported(ours: Registry) -> None:
    c = claim()
    level = next(e for e in c["extension"] if e["url"] == ext("levelOfServiceCode"))
    c["extension"].append(copy.deepcopy(level))
    last = len(c["extension"]) - 1
    issue = one(validate(c, CLAIM, ours), f"Claim.extension[{last}]", "max", CLAIM)
    assert "levelOfServiceType" in issue.diagnostics


def test_an_extension_value_of_the_wrong_type_is_reported_by_its_definition(
    ours: Registry,
) -> None:
    c = claim()
    item_ext = c["item"][0]["extension"]
    i = next(n for n, e in enumerate(item_ext) if e["url"] == ext("certificationType"))
    item_ext[i] = {"url": ext("certificationType"), "valueString": "I"}
    issue = one(
        validate(c, CLAIM, ours),
        f"Claim.item[0].extension[{i}].valueString",
        "type",
        ext("certificationType"),
    )
    assert "allows CodeableConcept, not string" in issue.diagnostics


def test_an_extension_without_its_value_is_reported(ours: Registry) -> None:
    c = claim()
    c["item"][0]["extension"].append({"url": ext("authorizationNumber")})
    last = len(c["item"][0]["extension"]) - 1
    issues = validate(c, CLAIM, ours)
    one(issues, f"Claim.item[0].extension[{last}].value", "min", ext("authorizationNumber"))


def test_a_nested_extension_missing_a_required_part_is_reported_inside_it(
    ours: Registry,
) -> None:
    bundle = example("supporting-document.json")
    info = bundle["entry"][0]["resource"]["supportingInfo"][0]["extension"][0]
    info["extension"] = [e for e in info["extension"] if e["url"] != "reportTypeCode"]
    issue = one(
        validate_bundle(bundle, ours),
        "Bundle.entry[0].resource.supportingInfo[0].extension[0].extension",
        "min",
        ext("documentInformation"),
    )
    assert "reportTypeCode" in issue.diagnostics


def test_a_nested_extension_value_is_checked_against_its_own_definition(
    ours: Registry,
) -> None:
    cr = claim_response()
    review = cr["item"][0]["adjudication"][0]["extension"][0]
    review["extension"][0]["valueCodeableConcept"] = coded("http://example.org/actions", "A1")
    one(
        validate(cr, CLAIM_RESPONSE, ours),
        "ClaimResponse.item[0].adjudication[0].extension[0].extension[0].valueCodeableConcept",
        "binding",
        ext("reviewActionCode"),
    )


def test_a_complex_extension_may_not_carry_a_value(ours: Registry) -> None:
    c = claim()
    transmission = next(e for e in c["extension"] if e["url"] == ext("TransmissionIdentifiers"))
    transmission["valueString"] = "MVPCEHR"
    i = c["extension"].index(transmission)
    one(
        validate(c, CLAIM, ours),
        f"Claim.extension[{i}].valueString",
        "max",
        ext("TransmissionIdentifiers"),
    )


def test_a_sub_extension_slice_repeated_beyond_its_maximum_is_reported(ours: Registry) -> None:
    c = claim()
    transmission = next(e for e in c["extension"] if e["url"] == ext("TransmissionIdentifiers"))
    transmission["extension"].append({"url": "applicationSenderCode", "valueString": "AGAIN"})
    i, last = c["extension"].index(transmission), len(transmission["extension"]) - 1
    one(
        validate(c, CLAIM, ours),
        f"Claim.extension[{i}].extension[{last}]",
        "max",
        ext("TransmissionIdentifiers"),
    )


def test_an_extension_anywhere_is_checked_against_its_definition(ours: Registry) -> None:
    c = claim()
    c["priority"]["extension"] = [{"url": ext("epsdtIndicator"), "valueString": "yes"}]
    one(
        validate(c, CLAIM, ours),
        "Claim.priority.extension[0].valueString",
        "type",
        ext("epsdtIndicator"),
    )


def test_an_unknown_pas_extension_is_an_error(ours: Registry) -> None:
    c = claim()
    c["item"][0]["extension"].append({"url": ext("notInPas"), "valueString": "x"})
    last = len(c["item"][0]["extension"]) - 1
    issue = one(validate(c, CLAIM, ours), f"Claim.item[0].extension[{last}]", "extension", CLAIM)
    assert issue.code == "extension"


def test_an_extension_from_elsewhere_is_tolerated(ours: Registry) -> None:
    c = claim()
    c["item"][0]["extension"].append({"url": "http://example.org/ext/note", "valueString": "x"})
    assert validate(c, CLAIM, ours) == []


def test_an_unknown_modifier_extension_is_an_error(ours: Registry) -> None:
    c = claim()
    void = {"url": "http://example.org/ext/void", "valueBoolean": True}
    c["item"][0]["modifierExtension"] = [void]
    one(validate(c, CLAIM, ours), "Claim.item[0].modifierExtension[0]", "extension", CLAIM)


# -- references -------------------------------------------------------------------------------


def test_a_reference_to_the_wrong_resource_type_is_reported(ours: Registry) -> None:
    c = claim()
    c["insurer"] = {"reference": "Patient/p1"}
    issue = one(validate(c, CLAIM, ours), "Claim.insurer", "targets", CLAIM)
    assert "refers to a Patient; it must refer to Organization" in issue.diagnostics


def test_a_reference_resolved_in_the_bundle_is_checked_by_the_target_type(
    ours: Registry,
) -> None:
    bundle = example("approve-ct-head.json")
    c = bundle["entry"][0]["resource"]
    c["insurer"] = dict(c["patient"])  # a urn:uuid: only the Bundle knows it is a Patient
    one(validate_bundle(bundle, ours), "Bundle.entry[0].resource.insurer", "targets", CLAIM)


def test_a_reference_that_cannot_be_typed_is_not_judged(ours: Registry) -> None:
    c = claim()
    c["insurer"] = {"reference": "urn:uuid:6f1f4d0e-55a4-4f4e-9a85-0d1d54bd2bb3"}
    assert validate(c, CLAIM, ours) == []


# -- type profiles ----------------------------------------------------------------------------


def test_an_identifier_must_meet_pas_identifier(ours: Registry) -> None:
    c = claim()
    del c["identifier"][0]["system"]
    one(
        validate(c, CLAIM, ours),
        "Claim.identifier[0].system",
        "min",
        PAS + "profile-identifier",
    )


def test_a_value_of_the_wrong_json_shape_is_reported(ours: Registry) -> None:
    c = claim()
    c["identifier"][0] = "MVPC-PA-0412"
    one(validate(c, CLAIM, ours), "Claim.identifier[0]", "type", CLAIM)


def test_a_choice_of_a_type_the_profile_excludes_is_reported(ours: Registry) -> None:
    c = claim()
    c["item"][0]["locationAddress"] = {"city": "Toledo"}
    del c["item"][0]["locationCodeableConcept"]
    issue = one(validate(c, CLAIM, ours), "Claim.item[0].locationAddress", "type", CLAIM)
    assert "allows CodeableConcept, not Address" in issue.diagnostics


def test_a_resource_of_another_type_is_rejected_whole(ours: Registry) -> None:
    issues = validate({"resourceType": "Patient"}, CLAIM, ours)
    assert [i.expression for i in issues] == [("Patient",)]
    assert "a Claim is expected, found Patient" in issues[0].diagnostics


def test_validating_against_an_unknown_profile_raises(ours: Registry) -> None:
    with pytest.raises(UnknownProfile):
        validate(claim(), PAS + "profile-unknown", ours)


# -- invariants -------------------------------------------------------------------------------


def test_a_failed_invariant_names_its_key_and_says_what_it_requires(ours: Registry) -> None:
    coverage = example("approve-ct-head.json")["entry"][3]["resource"]
    coverage["relationship"] = coded(
        "http://terminology.hl7.org/CodeSystem/subscriber-relationship", "spouse"
    )
    issue = one(validate(coverage, COVERAGE, ours), "Coverage", "self-beneficiary", COVERAGE)
    assert issue.code == "invariant"
    assert "subscriber is given" in issue.diagnostics


def test_a_warning_invariant_reports_a_warning(ours: Registry) -> None:
    c = claim()
    c["extension"] = [e for e in c["extension"] if e["url"] != ext("levelOfServiceCode")]
    cert = next(e for e in c["item"][0]["extension"] if e["url"] == ext("certificationType"))
    cert["valueCodeableConcept"]["coding"][0]["code"] = "1"
    issues = validate(c, CLAIM, ours)
    assert errors(issues) == []
    assert [i.diagnostics.split(": ")[1] for i in warnings(issues)] == ["ImmediateLevelOfCare"]


def test_the_first_entry_of_a_request_bundle_is_the_claim(ours: Registry) -> None:
    bundle = example("approve-ct-head.json")
    bundle["entry"].append(bundle["entry"].pop(0))
    one(
        validate_bundle(bundle, ours),
        "Bundle",
        "ClaimFirst",
        PAS + "profile-pas-request-bundle",
    )


def test_an_update_without_items_is_a_whole_request_cancellation_only(ours: Registry) -> None:
    update = claim()
    update["related"] = [
        {
            "claim": {"reference": "Claim/original"},
            "relationship": coded(
                "http://terminology.hl7.org/CodeSystem/ex-relatedclaimrelationship", "prior"
            ),
        }
    ]
    del update["item"]
    one(validate(update, CLAIM_UPDATE, ours), "Claim", "UpdateCarriesItems", CLAIM_UPDATE)
    update["extension"].append(
        {"url": ext("certificationType"), "valueCodeableConcept": coded(X12 + "1322", "3")}
    )
    assert validate(update, CLAIM_UPDATE, ours) == []


# -- slices -----------------------------------------------------------------------------------


def test_a_slice_found_by_pattern_gets_that_slice_s_rules(ours: Registry) -> None:
    c = claim()
    c["supportingInfo"] = [
        {
            "sequence": 1,
            "category": coded(
                "http://hl7.org/fhir/us/davinci-pas/CodeSystem/PASTempCodes", "freeFormMessage"
            ),
            "timingDate": "2026-12-01",
        }
    ]
    issues = validate(c, CLAIM, ours)
    one(issues, "Claim.supportingInfo[0].value", "min", CLAIM)
    one(issues, "Claim.supportingInfo[0].timingDate", "max", CLAIM)


def test_a_value_matching_no_slice_is_held_to_the_base_rules_only(ours: Registry) -> None:
    c = claim()
    c["supportingInfo"] = [
        {"sequence": 1, "category": coded("http://example.org/local", "misc"), "valueString": "x"}
    ]
    assert validate(c, CLAIM, ours) == []


# -- the shape of issues ----------------------------------------------------------------------


def test_entries_are_reported_with_their_path_in_the_bundle(ours: Registry) -> None:
    bundle = example("mixed-outcomes.json")
    bundle["entry"][0]["resource"]["item"][1]["extension"][0] = {
        "url": ext("serviceItemRequestType"),
        "valueCodeableConcept": coded("http://example.org/local", "HS"),
    }
    issues = validate_bundle(bundle, ours)
    assert [i.expression for i in issues] == [
        ("Bundle.entry[0].resource.item[1].extension[0].valueCodeableConcept",)
    ]


def test_validation_leaves_the_resource_unchanged(ours: Registry) -> None:
    bundle = example("pend-knee-needs-note.json")
    before = copy.deepcopy(bundle)
    validate_bundle(bundle, ours)
    assert bundle == before


MALFORMED = [
    ("coding-not-a-list", lambda c: c["type"].update(coding="professional")),
    ("extension-not-a-list", lambda c: c.update(extension={"url": ext("levelOfServiceCode")})),
    ("extension-url-not-a-string", lambda c: c["item"][0]["extension"][0].update(url={})),
    ("system-not-a-string", lambda c: c["item"][0]["category"]["coding"][0].update(system=[1])),
    ("item-not-a-list", lambda c: c.update(item={"sequence": 1})),
    ("identifier-null", lambda c: c.update(identifier=[None])),
]


@pytest.mark.parametrize("mutate", [m[1] for m in MALFORMED], ids=[m[0] for m in MALFORMED])
def test_malformed_json_is_reported_not_raised(ours: Registry, mutate: Any) -> None:
    c = claim()
    mutate(c)
    assert errors(validate(c, CLAIM, ours))
