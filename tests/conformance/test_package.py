"""fhirauth.conformance.package: the published PAS 2.2.1 StructureDefinitions in the same engine,
the IG's own examples, its documented defects (REQUIREMENTS.md §9 items 2 and 3) as warnings,
and its missing dependencies as warnings."""

from __future__ import annotations

import tarfile
from pathlib import Path
from typing import Any

import pytest

from fhirauth.conformance import PAS, PackageError, Registry, validate, validate_resource
from fhirauth.conformance import package as packages
from tests.conformance.support import (
    PAS_PACKAGE,
    REQUEST_EXAMPLES,
    at,
    errors,
    ext,
    ig_example,
    ig_example_names,
    load,
    one,
    warnings,
)

ABSENT = ["<../shared is absent>"]
CLEAN_RESPONSES = [
    "ClaimResponse-ErrorResponseExample.json",
    "ClaimResponse-PASClaimInquiryResponseExample.json",
    "ClaimResponse-PractitionerRequestorPendingResponseExample.json",
    "ClaimResponse-RejectionResponseExample.json",
    "Bundle-ErrorResponseBundleExample.json",
    "Bundle-PASClaimInquiryResponseBundleExample.json",
    "Bundle-ReferralPendingAuthorizationResponseBundleExample.json",
    "Bundle-RejectionResponseBundleExample.json",
]


def infos(issues: list[Any]) -> list[Any]:
    return [i for i in issues if i.severity == "information"]


def test_the_package_gives_a_profile_for_every_structure_definition(package: Registry) -> None:
    assert PAS + "profile-claim" in package
    assert PAS + "extension-reviewAction" in package
    assert PAS + "profile-datatype-timing" in package
    assert all(p.complete for p in package.profiles.values())
    assert len(package.profiles) == 80  # 81 StructureDefinitions less the logical PASMetricData


@pytest.mark.parametrize("name", ig_example_names() or ABSENT)
def test_every_ig_example_validates_against_its_meta_profile_without_errors(
    package: Registry, name: str
) -> None:
    assert errors(validate_resource(ig_example(name), package)) == []


def test_x12_codes_are_warnings_that_say_why(package: Registry) -> None:
    issues = validate_resource(
        ig_example("Bundle-ReferralAuthorizationBundleExample.json"), package
    )
    (warning,) = at(warnings(issues), "Bundle.entry[0].resource.item[0].category")
    assert warning.diagnostics.startswith(PAS + "profile-claim: binding: IG defect (PAS 2.2.1): ")
    assert "X12 code lists are licensed and cannot be resolved publicly" in warning.diagnostics


def test_nubc_codes_are_warnings_that_say_why(package: Registry) -> None:
    issues = validate_resource(ig_example("Encounter-SurgicalEncounterExample.json"), package)
    (warning,) = at(issues, "Encounter.hospitalization.admitSource")
    assert warning.severity == "warning"
    assert "https://www.nubc.org/CodeSystem/PointOfOrigin#5" in warning.diagnostics
    assert "IG defect (PAS 2.2.1)" in warning.diagnostics


def test_an_extension_the_ig_places_outside_its_context_is_a_warning_naming_the_defect(
    package: Registry,
) -> None:
    bundle = ig_example("Bundle-HomecareAuthorizationUpdateBundleExample.json")
    update = bundle["entry"][0]["resource"]
    update["supportingInfo"] = [
        {
            "extension": [{"url": ext("infoChanged"), "valueCode": "added"}],
            "sequence": 1,
            "category": {
                "coding": [
                    {
                        "system": "http://hl7.org/fhir/us/davinci-pas/CodeSystem/PASTempCodes",
                        "code": "freeFormMessage",
                    }
                ]
            },
            "valueString": "Now also weekends.",
        }
    ]
    issues = validate_resource(bundle, package)
    assert errors(issues) == []
    (warning,) = at(issues, "Bundle.entry[0].resource.supportingInfo[0].extension[0]")
    assert warning.severity == "warning"
    assert (
        "IG defect (PAS 2.2.1): extension-infoChanged used on Claim.supportingInfo, outside "
        "its declared context (Claim.item)"
    ) in warning.diagnostics


def test_communicated_diagnosis_on_a_response_line_is_an_ig_defect_warning(
    package: Registry,
) -> None:
    response = ig_example("ClaimResponse-RejectionResponseExample.json")
    response["item"][0].setdefault("extension", []).append(
        {
            "url": ext("communicatedDiagnosis"),
            "valueCodeableConcept": {
                "coding": [{"system": "http://hl7.org/fhir/sid/icd-10-cm", "code": "G89.4"}]
            },
        }
    )
    issues = validate_resource(response, package)
    assert errors(issues) == []
    assert any(
        "extension-communicatedDiagnosis used on ClaimResponse.item, outside" in i.diagnostics
        for i in warnings(issues)
    )


def test_an_extension_an_instance_puts_outside_its_context_is_an_error(
    package: Registry,
) -> None:
    claim = ig_example("Claim-MedicalServicesAuthorizationExample.json")
    claim["insurance"][0]["extension"] = [{"url": ext("infoChanged"), "valueCode": "added"}]
    issue = one(
        validate_resource(claim, package),
        "Claim.insurance[0].extension[0]",
        "context",
        ext("infoChanged"),
    )
    assert "extension-infoChanged is not allowed on Claim.insurance" in issue.diagnostics


@pytest.mark.parametrize(
    "canonical",
    [
        "http://hl7.org/fhir/us/core/StructureDefinition/us-core-patient",
        "http://hl7.org/fhir/us/davinci-crd/StructureDefinition/ext-coverage-information",
        "http://hl7.org/fhir/uv/subscriptions-backport/StructureDefinition/backport-subscription",
        "http://hl7.org/fhir/StructureDefinition/data-absent-reason",
        "http://hl7.org/fhir/5.0/StructureDefinition/extension-Claim.encounter",
    ],
)
def test_missing_dependencies_are_warnings_naming_the_canonical(
    package: Registry, canonical: str
) -> None:
    (warning,) = [i for i in package.issues if f" depends on {canonical} (" in i.diagnostics]
    assert warning.severity == "warning" and warning.code == "not-found"


def test_missing_dependencies_are_never_errors(package: Registry) -> None:
    assert errors(package.issues) == []


def test_a_constraint_fhirpathpy_cannot_evaluate_is_noted_once_per_profile(
    package: Registry,
) -> None:
    notes = [
        i for i in infos(package.issues) if "constraint dom-3 is not evaluated" in i.diagnostics
    ]
    claim_notes = [i for i in notes if i.diagnostics.startswith(PAS + "profile-claim: ")]
    assert len(claim_notes) == 1
    assert "descendants()" in claim_notes[0].diagnostics


@pytest.mark.parametrize(
    ("profile", "key", "reason"),
    [
        ("profile-servicerequest", "crd-ci-q7", "memberOf()"),
        ("profile-pas-request-bundle", "bdl-10", "hasValue()"),
    ],
)
def test_known_hard_constraints_are_skipped_with_the_reason(
    package: Registry, profile: str, key: str, reason: str
) -> None:
    prefix = f"{PAS}{profile}: constraint {key} is not evaluated: uses {reason}"
    assert [i for i in infos(package.issues) if i.diagnostics.startswith(prefix)]


def test_what_loading_noted_is_not_repeated_for_each_instance(package: Registry) -> None:
    issues = validate_resource(ig_example("Bundle-SurgicalRequestBundleExample.json"), package)
    assert infos(issues) == []


def test_a_package_is_read_once_per_path() -> None:
    if not PAS_PACKAGE.exists():
        pytest.skip(f"../shared is absent: {PAS_PACKAGE} is needed")
    assert packages.load(PAS_PACKAGE) is packages.load(str(PAS_PACKAGE))


def test_an_unpacked_package_folder_loads_like_the_tgz(package: Registry, tmp_path: Path) -> None:
    with tarfile.open(PAS_PACKAGE) as tar:
        tar.extractall(tmp_path, filter="data")
    folder = Registry().load_package(tmp_path)
    assert set(folder.profiles) == set(package.profiles)


def test_a_file_that_is_not_a_package_is_refused(tmp_path: Path) -> None:
    bogus = tmp_path / "bogus.tgz"
    bogus.write_bytes(b"not a tarball")
    with pytest.raises(PackageError, match=r"bogus\.tgz"):
        Registry().load_package(bogus)


# -- the checks, on mutated IG examples --------------------------------------------------------


def _claim() -> dict[str, Any]:
    return ig_example("Claim-ReferralAuthorizationExample.json")


MUTATIONS = [
    ("min", "Claim.item[0].category", lambda c: c["item"][0].pop("category")),
    ("pattern", "Claim.status", lambda c: c.update(status="draft")),
    (
        "binding",
        "Claim.type",
        lambda c: c["type"]["coding"][0].update(code="vision"),
    ),
    ("structure", "Claim.comment", lambda c: c.update(comment="hi")),
    (
        "FullDateRule",
        "Claim.item[0].servicedDate",
        lambda c: c["item"][0].update(servicedDate="2005-05"),
    ),
    (
        "targets",
        "Claim.insurer",
        lambda c: c.update(insurer={"reference": "Patient/SubscriberExample"}),
    ),
    ("max", "Claim.related[0]", lambda c: c.update(related=[{"claim": {"reference": "Claim/x"}}])),
]


@pytest.mark.parametrize(("rule", "expression", "mutate"), MUTATIONS, ids=[m[0] for m in MUTATIONS])
def test_the_package_profiles_catch_each_kind_of_violation(
    package: Registry, rule: str, expression: str, mutate: Any
) -> None:
    claim = _claim()
    mutate(claim)
    one(validate_resource(claim, package), expression, rule, PAS + "profile-claim")


def test_a_snapshot_invariant_is_evaluated(package: Registry) -> None:
    insurer = ig_example("Organization-InsurerExample.json")
    insurer["identifier"][0]["value"] = "1234567890"
    one(
        validate_resource(insurer, package),
        "Organization.identifier[0]",
        "us-core-17",
        PAS + "profile-insurer",
    )


# -- our profiles and the package, side by side -------------------------------------------------


@pytest.mark.parametrize("name", CLEAN_RESPONSES)
def test_our_profiles_and_the_package_agree_that_the_ig_responses_have_no_errors(
    ours: Registry, package: Registry, name: str
) -> None:
    response = ig_example(name)
    assert errors(validate_resource(response, package)) == []
    assert errors(validate_resource(response, ours)) == []


@pytest.mark.parametrize(
    ("name", "rule"),
    [
        ("ClaimResponse-PractitionerRequestorResponseExample.json", "prof-2"),
        ("ClaimResponse-PractitionerRequestorAdditionalContentResponseExample.json", "prof-2"),
        ("Bundle-ReferralAuthorizationResponseBundleExample.json", "prof-2"),
        ("ServiceRequest-ReferralRequestExample.json", "prof-3"),
        ("Bundle-ReferralAuthorizationBundleExample.json", "prof-3"),
    ],
)
def test_ig_examples_breaking_the_narrative_quantity_rules_fail_only_our_profiles(
    ours: Registry, package: Registry, name: str, rule: str
) -> None:
    # The IG states prof-2/prof-3 in prose only (the test kit checks them in code): its
    # snapshots cannot catch quantities without a unit, or coded with UCUM.
    example = ig_example(name)
    assert errors(validate_resource(example, package)) == []
    ours_errors = errors(validate_resource(example, ours))
    assert ours_errors and all(f": {rule}: " in i.diagnostics for i in ours_errors)


@pytest.mark.parametrize("path", REQUEST_EXAMPLES, ids=lambda p: p.name)
def test_our_request_examples_have_no_errors_against_the_package(
    package: Registry, path: Path
) -> None:
    assert errors(validate_resource(load(path), package)) == []


def test_the_same_claim_breaks_the_same_rule_in_both(ours: Registry, package: Registry) -> None:
    claim = _claim()
    del claim["item"][0]["category"]
    for registry in (ours, package):
        one(
            validate(claim, PAS + "profile-claim", registry),
            "Claim.item[0].category",
            "min",
            PAS + "profile-claim",
        )
