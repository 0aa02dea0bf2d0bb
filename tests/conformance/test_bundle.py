"""fhirauth.conformance.bundle: a Bundle against its profile and every entry against its own."""

from __future__ import annotations

from typing import Any

from fhirauth.conformance import PAS, Registry, validate_bundle, validate_resource
from tests.conformance.support import errors, example, one

REQUEST_BUNDLE = PAS + "profile-pas-request-bundle"
RESPONSE_BUNDLE = PAS + "profile-pas-response-bundle"


def without_profiles(bundle: dict[str, Any]) -> dict[str, Any]:
    bundle.pop("meta", None)
    for entry in bundle["entry"]:
        entry["resource"].pop("meta", None)
    return bundle


def test_the_bundle_is_checked_against_its_meta_profile(ours: Registry) -> None:
    bundle = example("approve-ct-head.json")
    del bundle["timestamp"]
    one(validate_bundle(bundle, ours), "Bundle.timestamp", "min", REQUEST_BUNDLE)


def test_a_given_profile_replaces_the_bundle_s_meta_profile(ours: Registry) -> None:
    bundle = example("approve-ct-head.json")
    issues = validate_bundle(bundle, ours, profile=RESPONSE_BUNDLE)
    one(issues, "Bundle", "ClaimResponseFirst", RESPONSE_BUNDLE)


def test_each_entry_is_checked_against_its_own_meta_profile(ours: Registry) -> None:
    bundle = example("approve-ct-head.json")
    del bundle["entry"][2]["resource"]["name"]  # the insurer
    one(
        validate_bundle(bundle, ours),
        "Bundle.entry[2].resource.name",
        "min",
        PAS + "profile-insurer",
    )


def test_an_entry_profile_the_registry_does_not_know_is_skipped(ours: Registry) -> None:
    bundle = example("approve-bariatric-questionnaire.json")
    questionnaire = next(
        e["resource"]
        for e in bundle["entry"]
        if e["resource"]["resourceType"] == "QuestionnaireResponse"
    )
    assert questionnaire["meta"]["profile"] == [
        "http://hl7.org/fhir/us/core/StructureDefinition/us-core-questionnaireresponse"
    ]
    questionnaire["status"] = "not-a-status"
    assert validate_bundle(bundle, ours) == []


def test_an_entry_without_a_profile_is_checked_against_the_profiles_that_refer_to_it(
    ours: Registry,
) -> None:
    bundle = without_profiles(example("approve-ct-head.json"))
    del bundle["entry"][2]["resource"]["name"]  # the insurer: Claim.insurer → PAS Insurer
    del bundle["entry"][6]["resource"]["name"][0]["family"]  # via PractitionerRole
    issues = validate_bundle(bundle, ours)
    one(issues, "Bundle.entry[2].resource.name", "min", PAS + "profile-insurer")
    one(issues, "Bundle.entry[6].resource.name[0].family", "min", PAS + "profile-practitioner")


def test_the_claim_without_a_profile_is_checked_as_the_request_bundle_s_claim(
    ours: Registry,
) -> None:
    bundle = without_profiles(example("approve-ct-head.json"))
    bundle["entry"][0]["resource"]["use"] = "claim"
    issues = validate_bundle(bundle, ours)
    # neither PAS Claim nor PAS Claim Update is met: the errors of the nearer one are reported
    assert [i.expression for i in errors(issues)] == [("Bundle.entry[0].resource.use",)]


def test_a_bundle_without_a_profile_is_checked_as_the_pas_bundle_its_first_entry_implies(
    ours: Registry,
) -> None:
    bundle = without_profiles(example("approve-ct-head.json"))
    bundle["type"] = "batch"
    one(validate_bundle(bundle, ours), "Bundle.type", "fixed", REQUEST_BUNDLE)


def test_without_default_profiles_only_declared_profiles_are_checked(ours: Registry) -> None:
    bundle = without_profiles(example("approve-ct-head.json"))
    bundle["type"] = "batch"
    del bundle["entry"][2]["resource"]["name"]
    assert validate_bundle(bundle, ours, default_profiles=False) == []


def test_relative_references_resolve_against_the_entry_s_full_url(ours: Registry) -> None:
    bundle = example("pend-mri-brain.json")
    claim_entry = bundle["entry"][0]
    assert claim_entry["fullUrl"].startswith("http")
    patient = next(e for e in bundle["entry"] if e["resource"]["resourceType"] == "Patient")
    claim_entry["resource"]["insurer"] = {"reference": f"Patient/{patient['resource']['id']}"}
    one(
        validate_bundle(bundle, ours),
        "Bundle.entry[0].resource.insurer",
        "targets",
        PAS + "profile-claim",
    )


def test_a_bundle_inside_a_bundle_is_checked_with_its_own_path(ours: Registry) -> None:
    inner = example("approve-ct-head.json")
    del inner["entry"][0]["resource"]["created"]
    outer = {
        "resourceType": "Bundle",
        "type": "history",
        "entry": [{"fullUrl": "urn:uuid:0b0c4e0a-1b8f-4c1c-9a0e-1d7a5c3f2e10", "resource": inner}],
    }
    one(
        validate_bundle(outer, ours),
        "Bundle.entry[0].resource.entry[0].resource.created",
        "min",
        PAS + "profile-claim",
    )


def test_a_parameters_is_checked_through_the_resources_it_carries(ours: Registry) -> None:
    bundle = example("approve-ct-head.json")
    del bundle["identifier"]
    parameters = {
        "resourceType": "Parameters",
        "parameter": [{"name": "resource", "resource": bundle}],
    }
    one(
        validate_resource(parameters, ours),
        "Parameters.parameter[0].resource.identifier",
        "min",
        REQUEST_BUNDLE,
    )


def test_a_resource_is_checked_against_each_profile_it_declares(ours: Registry) -> None:
    patient = example("approve-ct-head.json")["entry"][4]["resource"]
    patient["meta"]["profile"].append(PAS + "profile-subscriber")
    patient["birthDate"] = "1948"
    issues = validate_resource(patient, ours)
    assert {i.diagnostics.split(": ")[0] for i in errors(issues)} == {
        PAS + "profile-beneficiary",
        PAS + "profile-subscriber",
    }
