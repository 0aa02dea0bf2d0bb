"""fhirauth.fhir.bundle: a PAS request Bundle → PasRequest, and Bundle reference resolution."""

from __future__ import annotations

import copy
import json
import uuid
from pathlib import Path
from typing import Any

import orjson
import pytest

from fhirauth.errors import Invalid, Issue
from fhirauth.fhir import bundle as bundle_module
from fhirauth.fhir.bundle import Entry, EntryIndex, parse_request, resolve

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
CLAIM = "Bundle.entry[0].resource"

# approve-ct-head.json: absolute http fullUrls, relative references.
# Entries: 0 Claim, 1 Organization (provider), 2 Organization (insurer), 3 Coverage,
# 4 Patient, 5 PractitionerRole, 6 Practitioner.
ABSOLUTE = "approve-ct-head.json"
# deny-cosmetic-hair-transplant.json: urn:uuid fullUrls and references, same entry order.
URN = "deny-cosmetic-hair-transplant.json"


def example(name: str) -> dict[str, Any]:
    return copy.deepcopy(json.loads((EXAMPLES / name).read_text(encoding="utf-8")))


def claim_of(bundle: dict[str, Any]) -> dict[str, Any]:
    return bundle["entry"][0]["resource"]


def issues_of(body: Any) -> list[Issue]:
    with pytest.raises(Invalid) as caught:
        parse_request(body)
    return caught.value.issues


def expressions(issues: list[Issue]) -> list[tuple[str, ...]]:
    return [i.expression for i in issues]


# --- structural breakage -------------------------------------------------------------------


def test_a_body_that_is_not_json_is_a_structure_error() -> None:
    (issue,) = issues_of(b'{"resourceType": "Bundle",')
    assert issue.code == "structure"
    assert issue.severity == "error"


@pytest.mark.parametrize("body", [b"[]", b'"Bundle"', b"42", b"null"])
def test_json_that_is_not_an_object_is_a_structure_error(body: bytes) -> None:
    (issue,) = issues_of(body)
    assert issue.code == "structure"


def test_a_resource_that_is_not_a_bundle_is_invalid_at_its_type() -> None:
    patient = example(ABSOLUTE)["entry"][4]["resource"]
    (issue,) = issues_of(patient)
    assert issue.expression == ("Patient",)


def test_a_bundle_with_no_entries_is_invalid_at_bundle_entry() -> None:
    bundle = example(ABSOLUTE)
    bundle["entry"] = []
    (issue,) = issues_of(bundle)
    assert issue.expression == ("Bundle.entry",)


def test_a_bundle_whose_first_entry_is_not_a_claim_is_invalid_at_that_entry() -> None:
    bundle = example(ABSOLUTE)
    bundle["entry"].insert(0, bundle["entry"].pop(4))
    (issue,) = issues_of(bundle)
    assert issue.expression == ("Bundle.entry[0].resource",)


def test_a_claim_whose_use_is_not_preauthorization_is_invalid_at_claim_use() -> None:
    bundle = example(ABSOLUTE)
    claim_of(bundle)["use"] = "claim"
    (issue,) = issues_of(bundle)
    assert issue.expression == (f"{CLAIM}.use",)


@pytest.mark.parametrize(
    ("element", "path"),
    [
        ("patient", "patient"),
        ("insurer", "insurer"),
        ("provider", "provider"),
        ("coverage", "insurance[0].coverage"),
    ],
)
def test_a_claim_reference_that_resolves_to_no_entry_is_invalid_at_its_reference(
    element: str, path: str
) -> None:
    bundle = example(ABSOLUTE)
    claim = claim_of(bundle)
    holder = claim["insurance"][0] if element == "coverage" else claim
    holder[element] = {"reference": "Organization/not-in-the-bundle"}
    (issue,) = issues_of(bundle)
    assert issue.code == "not-found"
    assert issue.expression == (f"{CLAIM}.{path}.reference",)


def test_a_reference_that_resolves_to_two_entries_is_invalid() -> None:
    bundle = example(ABSOLUTE)
    bundle["entry"].append(copy.deepcopy(bundle["entry"][4]))  # the Patient, same fullUrl
    (issue,) = issues_of(bundle)
    assert issue.code == "multiple-matches"
    assert issue.expression == (f"{CLAIM}.patient.reference",)


@pytest.mark.parametrize(
    "full_url",
    [
        "Practitioner/prac-lindqvist",
        "ftp://ehr.example.org/fhir/Practitioner/prac-lindqvist",
        "urn:oid:2.16.840.1.113883.4.6",
        "urn:uuid:not-a-uuid",
    ],
)
def test_a_full_url_that_is_neither_absolute_http_nor_urn_uuid_is_invalid(full_url: str) -> None:
    bundle = example(ABSOLUTE)
    bundle["entry"][6]["fullUrl"] = full_url
    (issue,) = issues_of(bundle)
    assert issue.expression == ("Bundle.entry[6].fullUrl",)


def test_a_repeated_item_sequence_is_reported_at_both_items() -> None:
    bundle = example(ABSOLUTE)
    items = claim_of(bundle)["item"]
    items.append(copy.deepcopy(items[0]))
    (issue,) = issues_of(bundle)
    assert issue.expression == (f"{CLAIM}.item[0].sequence", f"{CLAIM}.item[1].sequence")


def test_a_repeated_supporting_info_sequence_is_reported_at_both_entries() -> None:
    bundle = example(ABSOLUTE)
    claim_of(bundle)["supportingInfo"] = [
        {"sequence": 1, "category": {"text": "first"}},
        {"sequence": 2, "category": {"text": "second"}},
        {"sequence": 1, "category": {"text": "third"}},
    ]
    (issue,) = issues_of(bundle)
    assert issue.expression == (
        f"{CLAIM}.supportingInfo[0].sequence",
        f"{CLAIM}.supportingInfo[2].sequence",
    )


def test_an_r4_type_error_is_reported_at_the_fhirpath_of_the_element() -> None:
    bundle = example(ABSOLUTE)
    claim_of(bundle)["item"][0]["sequence"] = "x"
    (issue,) = issues_of(bundle)
    assert issue.code == "structure"
    assert issue.expression == (f"{CLAIM}.item[0].sequence",)


def test_an_entry_of_an_unknown_resource_type_is_invalid_at_that_entry() -> None:
    bundle = example(ABSOLUTE)
    bundle["entry"][6]["resource"]["resourceType"] = "Clinician"
    (issue,) = issues_of(bundle)
    assert issue.expression == ("Bundle.entry[6].resource",)


def test_several_problems_are_all_reported_in_one_invalid() -> None:
    bundle = example(ABSOLUTE)
    claim = claim_of(bundle)
    claim["use"] = "claim"
    claim["item"].append(copy.deepcopy(claim["item"][0]))
    claim["insurance"][0]["coverage"] = {"reference": "Coverage/not-in-the-bundle"}
    bundle["entry"][6]["fullUrl"] = "Practitioner/prac-lindqvist"
    found = expressions(issues_of(bundle))
    assert sorted(found) == sorted(
        [
            ("Bundle.entry[6].fullUrl",),
            (f"{CLAIM}.use",),
            (f"{CLAIM}.item[0].sequence", f"{CLAIM}.item[1].sequence"),
            (f"{CLAIM}.insurance[0].coverage.reference",),
        ]
    )


# --- what a payer can live with ------------------------------------------------------------


def test_a_practitioner_role_location_that_resolves_to_nothing_is_only_a_warning() -> None:
    bundle = example(ABSOLUTE)
    bundle["entry"][5]["resource"]["location"] = [{"reference": "Location/not-in-the-bundle"}]
    req = parse_request(bundle)
    (warning,) = req.warnings
    assert warning.severity == "warning"
    assert warning.expression[0].startswith("Bundle.entry[5].resource.location[0]")


def test_an_entry_request_is_only_a_warning() -> None:
    bundle = example(ABSOLUTE)
    bundle["entry"][4]["request"] = {"method": "POST", "url": "Patient"}
    req = parse_request(bundle)
    (warning,) = req.warnings
    assert warning.severity == "warning"
    assert warning.expression == ("Bundle.entry[4].request",)


# --- reference resolution ------------------------------------------------------------------


def test_a_relative_reference_resolves_against_the_referring_entrys_base() -> None:
    bundle = example(ABSOLUTE)
    stranger = copy.deepcopy(bundle["entry"][4])
    stranger["fullUrl"] = "http://other.example.org/fhir/Patient/pt-2210"
    bundle["entry"].append(stranger)
    req = parse_request(bundle)
    assert req.patient.full_url == "http://ehr.example.org/fhir/Patient/pt-2210"


def test_a_relative_reference_does_not_resolve_to_the_same_type_and_id_under_another_base() -> None:
    bundle = example(ABSOLUTE)
    bundle["entry"][4]["fullUrl"] = "http://other.example.org/fhir/Patient/pt-2210"
    entries = [Entry(i, e["fullUrl"], e["resource"]) for i, e in enumerate(bundle["entry"])]
    assert resolve("Patient/pt-2210", entries[0], entries) == []
    (issue,) = issues_of(bundle)
    assert issue.expression == (f"{CLAIM}.patient.reference",)


def test_a_urn_uuid_reference_matches_only_the_entry_with_that_exact_full_url() -> None:
    bundle = example(URN)
    patient = bundle["entry"][4]
    namesake = copy.deepcopy(patient)  # same resource type and id, another fullUrl
    namesake["fullUrl"] = f"http://ehr.example.org/fhir/Patient/{patient['resource']['id']}"
    bundle["entry"].append(namesake)
    req = parse_request(bundle)
    assert req.patient.full_url == patient["fullUrl"]
    assert claim_of(bundle)["patient"]["reference"] == patient["fullUrl"]


def test_a_versioned_reference_resolves_to_the_entry_of_that_resource() -> None:
    bundle = example(ABSOLUTE)
    claim_of(bundle)["patient"] = {"reference": "Patient/pt-2210/_history/2"}
    req = parse_request(bundle)
    assert req.patient.full_url == "http://ehr.example.org/fhir/Patient/pt-2210"


def test_with_a_urn_referrer_a_relative_reference_resolves_by_resource_type_and_id() -> None:
    bundle = example(URN)
    patient = bundle["entry"][4]
    claim_of(bundle)["patient"] = {"reference": f"Patient/{patient['resource']['id']}"}
    req = parse_request(bundle)
    assert req.patient.full_url == patient["fullUrl"]


def test_an_index_of_the_entries_resolves_as_the_entries_themselves_do() -> None:
    bundle = example(URN)
    twin = copy.deepcopy(bundle["entry"][4])  # the Patient again, under another urn
    twin["fullUrl"] = "urn:uuid:00000000-0000-4000-8000-000000000001"
    bundle["entry"].append(twin)
    entries = [Entry(i, e["fullUrl"], e["resource"]) for i, e in enumerate(bundle["entry"])]
    index = EntryIndex(entries)
    patient_id = bundle["entry"][4]["resource"]["id"]
    for reference in (f"Patient/{patient_id}", twin["fullUrl"], "Patient/nobody"):
        assert resolve(reference, entries[0], index) == resolve(reference, entries[0], entries)
    assert len(resolve(f"Patient/{patient_id}", entries[0], index)) == 2


# --- the Parameters form and the examples --------------------------------------------------


def test_a_parameters_body_is_unwrapped_to_the_bundle_it_holds() -> None:
    bundle = example(ABSOLUTE)
    body = orjson.dumps(
        {"resourceType": "Parameters", "parameter": [{"name": "resource", "resource": bundle}]}
    )
    req = parse_request(body)
    assert req.claim.full_url == bundle["entry"][0]["fullUrl"]


def test_a_parameters_body_without_a_resource_parameter_is_invalid_at_its_parameters() -> None:
    body = {
        "resourceType": "Parameters",
        "parameter": [{"name": "bundle", "resource": example(ABSOLUTE)}],
    }
    (issue,) = issues_of(body)
    assert issue.expression == ("Parameters.parameter",)


@pytest.mark.parametrize("name", [ABSOLUTE, URN])
def test_both_example_reference_styles_parse_to_the_claims_resources(name: str) -> None:
    bundle = example(name)
    req = parse_request(orjson.dumps(bundle))
    claim = claim_of(bundle)
    assert req.warnings == []
    assert (req.patient.type, req.insurer.type, req.provider.type) == (
        "Patient",
        "Organization",
        "Organization",
    )
    assert req.insurer.full_url != req.provider.full_url
    assert [c.type for c in req.coverages] == ["Coverage"] * len(claim["insurance"])


def test_a_claim_reference_to_the_wrong_resource_type_is_invalid() -> None:
    bundle = example(ABSOLUTE)
    claim_of(bundle)["patient"]["reference"] = (
        "Organization/" + bundle["entry"][2]["resource"]["id"]
    )
    (issue,) = issues_of(bundle)
    assert issue.expression == (f"{CLAIM}.patient.reference",)
    assert "Patient" in issue.diagnostics


def test_a_relative_reference_from_a_non_restful_fullurl_resolves_to_nothing() -> None:
    entries = parse_request(example(ABSOLUTE)).entries
    odd = Entry(0, "http://ehr.example.org/claims/latest", entries[0].resource)
    assert resolve("Patient/" + entries[4].resource["id"], odd, entries) == []


def test_the_focal_coverage_comes_first_wherever_it_is_listed() -> None:
    bundle = example(ABSOLUTE)
    primary = bundle["entry"][3]["resource"]
    secondary = {**copy.deepcopy(primary), "id": "cov-secondary", "subscriberId": "SEC-1"}
    del secondary["identifier"]
    bundle["entry"].append(
        {"fullUrl": "http://ehr.example.org/fhir/Coverage/cov-secondary", "resource": secondary}
    )
    claim_of(bundle)["insurance"] = [
        {"sequence": 1, "focal": False, "coverage": {"reference": "Coverage/cov-secondary"}},
        {"sequence": 2, "focal": True, "coverage": {"reference": "Coverage/cov-2210-dhp"}},
    ]
    req = parse_request(bundle)
    assert [c.resource["id"] for c in req.coverages] == ["cov-2210-dhp", "cov-secondary"]
    assert [c.index for c in req.coverages] == [3, 7]


def test_coverages_keep_the_senders_order_when_the_focal_one_is_first() -> None:
    bundle = example(ABSOLUTE)
    secondary = {**copy.deepcopy(bundle["entry"][3]["resource"]), "id": "cov-secondary"}
    bundle["entry"].append(
        {"fullUrl": "http://ehr.example.org/fhir/Coverage/cov-secondary", "resource": secondary}
    )
    claim_of(bundle)["insurance"].append(
        {"sequence": 2, "focal": False, "coverage": {"reference": "Coverage/cov-secondary"}}
    )
    req = parse_request(bundle)
    assert [c.resource["id"] for c in req.coverages] == ["cov-2210-dhp", "cov-secondary"]


def test_a_resource_seen_clean_is_not_checked_against_the_models_again(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    checked: list[str] = []
    real = bundle_module._model_issues

    def counting(kind: str, resource: dict[str, Any], path: str) -> list[Any]:
        checked.append(path)
        return real(kind, resource, path)

    monkeypatch.setattr(bundle_module, "_model_issues", counting)
    patient = {"resourceType": "Patient", "id": f"p-{uuid.uuid4().hex}", "gender": "female"}
    assert bundle_module.model_issues("Patient", patient, "Bundle.entry[1].resource") == []
    assert bundle_module.model_issues("Patient", dict(patient), "Bundle.entry[4].resource") == []
    assert checked == ["Bundle.entry[1].resource"]
    # Any change is a different resource; a broken one is checked every time, at its own path.
    broken = {**patient, "gender": ["female"]}
    for path in ("Bundle.entry[1].resource", "Bundle.entry[2].resource"):
        issues = bundle_module.model_issues("Patient", broken, path)
        assert [i.expression for i in issues] == [(f"{path}.gender",)]
    assert checked[1:] == ["Bundle.entry[1].resource", "Bundle.entry[2].resource"]
