"""POST /fhir/CoverageEligibilityRequest/$submit: does a service need authorization, and with
what documentation? Answered by the same policy as Claim/$submit, so the two must agree."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pytest
from fhir.resources.R4B.coverageeligibilityresponse import CoverageEligibilityResponse
from fhir.resources.R4B.operationoutcome import OperationOutcome
from flask.testing import FlaskClient

from fhirauth.services import Services
from tests.conftest import EXAMPLES

FHIR_JSON = "application/fhir+json"
PAS = "http://hl7.org/fhir/us/davinci-pas/StructureDefinition/"
LOINC = "http://loinc.org"
BARIATRIC_QUESTIONNAIRE = "http://demo-health-plan.example.org/fhir/Questionnaire/bariatric-surgery"


def ask(client: FlaskClient, body: Any) -> Any:
    return client.post(
        "/fhir/CoverageEligibilityRequest/$submit",
        data=json.dumps(body).encode(),
        content_type=FHIR_JSON,
    )


def load(name: str) -> dict[str, Any]:
    return json.loads((EXAMPLES / name).read_text())


def answer(client: FlaskClient, body: Any) -> dict[str, Any]:
    resp = ask(client, body)
    assert resp.status_code == 200, resp.data[:500]
    assert resp.mimetype == FHIR_JSON
    out = resp.get_json()
    CoverageEligibilityResponse.model_validate(out)
    assert out["resourceType"] == "CoverageEligibilityResponse"
    assert out["outcome"] == "complete"
    return out


def by_code(response: dict[str, Any]) -> dict[str, dict[str, Any]]:
    (insurance,) = response["insurance"]
    return {i["productOrService"]["coding"][0]["code"]: i for i in insurance.get("item", [])}


def loinc_codes(item: dict[str, Any]) -> list[str]:
    return [
        c["code"]
        for concept in item.get("authorizationSupporting", [])
        for c in concept.get("coding", [])
        if c["system"] == LOINC
    ]


# --- The two examples ------------------------------------------------------------------------


def test_the_bundle_example_lists_what_each_service_needs(client: FlaskClient) -> None:
    request = load("eligibility/auth-requirements.json")
    cer_entry = request["entry"][0]
    cer = cer_entry["resource"]
    response = answer(client, request)
    assert response["purpose"] == ["auth-requirements", "validation"]
    assert response["request"] == {"reference": cer_entry["fullUrl"]}
    assert response["patient"] == cer["patient"]
    assert response["insurer"] == cer["insurer"]
    assert response["servicedDate"] == cer["servicedDate"]
    (insurance,) = response["insurance"]
    assert insurance["inforce"] is True
    assert insurance["coverage"] == {"reference": cer["insurance"][0]["coverage"]["reference"]}
    items = by_code(response)
    assert list(items) == ["99213", "27447", "15776", "43644"]

    assert items["99213"]["authorizationRequired"] is False
    assert items["99213"]["excluded"] is False
    assert "authorizationSupporting" not in items["99213"]

    assert items["27447"]["authorizationRequired"] is True
    assert items["27447"]["excluded"] is False
    assert loinc_codes(items["27447"]) == ["11506-3"]

    assert items["15776"]["excluded"] is True
    assert "authorizationRequired" not in items["15776"]
    assert "cosmetic" in items["15776"]["description"]

    assert items["43644"]["authorizationRequired"] is True
    assert items["43644"]["excluded"] is False
    assert items["43644"]["authorizationUrl"] == BARIATRIC_QUESTIONNAIRE
    (supporting,) = items["43644"]["authorizationSupporting"]
    assert BARIATRIC_QUESTIONNAIRE in supporting["text"]

    # Items answer in the order asked, with what was asked for echoed.
    for asked, got in zip(cer["item"], insurance["item"], strict=True):
        assert got["productOrService"] == asked["productOrService"]
        assert got["category"] == asked["category"]
    assert "2 of 4" in response["disposition"] and "1 not covered" in response["disposition"]


def test_the_bare_request_with_contained_resources_is_answered(client: FlaskClient) -> None:
    request = load("eligibility/bare-with-contained.json")
    response = answer(client, request)
    (insurance,) = response["insurance"]
    assert insurance["inforce"] is True
    assert insurance["coverage"] == {"reference": "#coverage"}
    # Its references point at contained resources, which the response carries along.
    assert response["patient"] == {"reference": "#patient"}
    assert response["contained"] == request["contained"]
    assert response["request"] == {"identifier": request["identifier"][0]}
    items = by_code(response)
    assert items["72148"]["authorizationRequired"] is True
    assert loinc_codes(items["72148"]) == ["11506-3"]
    assert items["99203"]["authorizationRequired"] is False
    assert not any(i["excluded"] for i in items.values())


def test_a_parameters_wrapper_is_accepted(client: FlaskClient) -> None:
    request = load("eligibility/bare-with-contained.json")
    wrapped = {
        "resourceType": "Parameters",
        "parameter": [{"name": "resource", "resource": request}],
    }
    assert by_code(answer(client, wrapped)) == by_code(answer(client, request))


def test_validation_alone_answers_coverage_without_items(client: FlaskClient) -> None:
    request = load("eligibility/auth-requirements.json")
    request["entry"][0]["resource"]["purpose"] = ["validation"]
    response = answer(client, request)
    (insurance,) = response["insurance"]
    assert insurance["inforce"] is True and "item" not in insurance


# --- What is refused ---------------------------------------------------------------------------


def assert_outcome(resp: Any, status: int) -> dict[str, Any]:
    assert resp.status_code == status
    assert resp.mimetype == FHIR_JSON
    body = resp.get_json()
    OperationOutcome.model_validate(body)
    assert body["resourceType"] == "OperationOutcome"
    return body


@pytest.mark.parametrize(
    ("name", "expression"),
    [
        ("eligibility/auth-requirements.json", "Bundle.entry[0].resource.purpose[1]"),
        ("eligibility/bare-with-contained.json", "CoverageEligibilityRequest.purpose[1]"),
    ],
)
def test_the_benefits_purpose_is_400_pointing_at_the_purpose(
    client: FlaskClient, name: str, expression: str
) -> None:
    request = load(name)
    cer = request["entry"][0]["resource"] if request["resourceType"] == "Bundle" else request
    cer["purpose"] = ["auth-requirements", "benefits"]
    outcome = assert_outcome(ask(client, request), 400)
    (issue,) = outcome["issue"]
    assert issue["severity"] == "error"
    assert issue["expression"] == [expression]
    assert "benefits" in issue["diagnostics"]


def test_a_patient_reference_that_resolves_to_nothing_is_400(client: FlaskClient) -> None:
    request = load("eligibility/bare-with-contained.json")
    request["patient"] = {"reference": "#nobody"}
    outcome = assert_outcome(ask(client, request), 400)
    assert outcome["issue"][0]["expression"] == ["CoverageEligibilityRequest.patient.reference"]


def test_a_bundle_that_does_not_start_with_the_request_is_400(client: FlaskClient) -> None:
    request = load("eligibility/auth-requirements.json")
    request["entry"].append(request["entry"].pop(0))
    outcome = assert_outcome(ask(client, request), 400)
    assert outcome["issue"][0]["expression"] == ["Bundle.entry[0].resource"]


@pytest.mark.parametrize(
    "name", ["eligibility/auth-requirements.json", "eligibility/bare-with-contained.json"]
)
def test_coverage_that_ended_is_not_in_force(client: FlaskClient, name: str) -> None:
    request = load(name)
    resources = (
        [e["resource"] for e in request["entry"]]
        if request["resourceType"] == "Bundle"
        else request["contained"]
    )
    (coverage,) = [r for r in resources if r["resourceType"] == "Coverage"]
    coverage["period"] = {"start": "2024-01-01", "end": "2025-12-31"}
    response = answer(client, request)
    (insurance,) = response["insurance"]
    assert insurance["inforce"] is False
    assert "item" not in insurance
    (error,) = response["error"]
    assert error["code"]["coding"][0] == {
        "system": "https://codesystem.x12.org/005010/901",
        "code": "78",
    }
    assert "not in force" in response["disposition"]


def test_nothing_is_stored(client: FlaskClient, services: Services) -> None:
    from sqlalchemy import func, select

    from fhirauth.store.models import Authorization, Submission

    answer(client, load("eligibility/auth-requirements.json"))
    with services.sessions() as session:
        for model in (Authorization, Submission):
            assert session.scalar(select(func.count()).select_from(model)) == 0


# --- Agreement with Claim/$submit --------------------------------------------------------------


def request_bundles() -> list[Path]:
    """Every initial PAS request Bundle in examples/, the error example included (not the
    updates, cancellations and inquiries, which follow one of them, nor billing claims)."""
    out = []
    for path in sorted(EXAMPLES.rglob("*.json")):
        data = json.loads(path.read_text())
        first = data["entry"][0]["resource"] if data.get("resourceType") == "Bundle" else {}
        profiles = " ".join((first.get("meta") or {}).get("profile") or [])
        follows = "claim-update" in profiles or "claim-inquiry" in profiles or "related" in first
        billing = first.get("use") == "claim"
        if first.get("resourceType") == "Claim" and not follows and not billing:
            out.append(path)
    return out


def eligibility_from_claim(bundle: dict[str, Any]) -> dict[str, Any]:
    """The CoverageEligibilityRequest that asks about what a PAS request Bundle asks for: the
    same patient, coverage, insurer and provider, each item's code, modifiers, quantity and
    diagnoses, the Claim's dates of service and its supporting information."""
    entries = copy.deepcopy(bundle["entry"])
    claim_entry = entries[0]
    claim = claim_entry["resource"]
    dx = {d["sequence"]: d["diagnosisCodeableConcept"] for d in claim.get("diagnosis", [])}
    items, starts, ends = [], [], []
    for raw in claim["item"]:
        item = {
            k: raw[k] for k in ("category", "productOrService", "modifier", "quantity") if k in raw
        }
        seqs = [s for s in raw.get("diagnosisSequence", []) if s in dx] or list(dx)
        if seqs:
            item["diagnosis"] = [{"diagnosisCodeableConcept": dx[s]} for s in seqs]
        items.append(item)
        if "servicedDate" in raw:
            starts.append(raw["servicedDate"])
            ends.append(raw["servicedDate"])
        elif "servicedPeriod" in raw:
            starts.append(raw["servicedPeriod"]["start"])
            ends.append(raw["servicedPeriod"].get("end", raw["servicedPeriod"]["start"]))
    cer: dict[str, Any] = {
        "resourceType": "CoverageEligibilityRequest",
        "id": claim["id"],
        # The level of service (emergency, urgent) is a condition input, as on the Claim.
        "extension": [
            e
            for e in claim.get("extension", [])
            if e["url"] == PAS + "extension-levelOfServiceCode"
        ],
        "status": "active",
        "priority": claim["priority"],
        "purpose": ["auth-requirements", "validation"],
        "patient": claim["patient"],
        "created": claim["created"],
        "provider": claim["provider"],
        "insurer": claim["insurer"],
        "insurance": [{"focal": True, "coverage": i["coverage"]} for i in claim["insurance"]],
        "item": items,
    }
    if not cer["extension"]:
        del cer["extension"]
    if starts and min(starts) == max(ends):
        cer["servicedDate"] = min(starts)
    elif starts:
        cer["servicedPeriod"] = {"start": min(starts), "end": max(ends)}
    info = [
        {"sequence": s["sequence"], "information": s["valueReference"]}
        for s in claim.get("supportingInfo", [])
        if "valueReference" in s
    ]
    if info:
        cer["supportingInfo"] = info
    full_url = claim_entry["fullUrl"]
    if not full_url.startswith("urn:"):
        full_url = full_url.replace("/Claim/", "/CoverageEligibilityRequest/")
    entries[0] = {"fullUrl": full_url, "resource": cer}
    return {
        "resourceType": "Bundle",
        "identifier": {"system": "urn:fhirauth:test", "value": f"eligibility-{claim['id']}"},
        "type": "collection",
        "timestamp": bundle["timestamp"],
        "entry": entries,
    }


def actions(bundle: dict[str, Any]) -> dict[int, str]:
    out = {}
    for item in bundle["entry"][0]["resource"].get("item", []):
        for ext in item["adjudication"][0]["extension"]:
            for sub in ext["extension"]:
                if sub["url"] == PAS + "extension-reviewActionCode":
                    out[item["itemSequence"]] = sub["valueCodeableConcept"]["coding"][0]["code"]
    return out


@pytest.mark.parametrize(
    "path",
    [pytest.param(p, id=p.relative_to(EXAMPLES).as_posix()) for p in request_bundles()],
)
def test_eligibility_agrees_with_submit(
    client: FlaskClient, services: Services, path: Path
) -> None:
    """authorizationRequired is false exactly where $submit answers NA, and excluded exactly
    where $submit answers A3 because the service is not a covered benefit."""
    request = json.loads(path.read_text())
    resp = client.post(
        "/fhir/Claim/$submit", data=json.dumps(request).encode(), content_type=FHIR_JSON
    )
    assert resp.status_code == 200
    submitted = resp.get_json()
    cr = submitted["entry"][0]["resource"]
    eligibility = answer(client, eligibility_from_claim(request))
    (insurance,) = eligibility["insurance"]

    if cr["outcome"] == "error":
        assert insurance["inforce"] is False and "item" not in insurance
        return
    assert insurance["inforce"] is True
    review = actions(submitted)
    stored = client.get(f"/admin/authorizations/{cr['preAuthRef']}").get_json()
    rules = {r.id: r for policy in services.policies.policies for r in policy.rules}
    not_covered = {
        i["sequence"]
        for i in stored["items"]
        if i["rule"] in rules and rules[i["rule"]].outcome == "not-covered"
    }
    claim_items = request["entry"][0]["resource"]["item"]
    assert len(insurance["item"]) == len(claim_items)
    for raw, item in zip(claim_items, insurance["item"], strict=True):
        seq = raw["sequence"]
        assert item["productOrService"] == raw["productOrService"]
        assert (item.get("authorizationRequired") is False) == (review[seq] == "NA"), seq
        assert item["excluded"] == (review[seq] == "A3" and seq in not_covered), seq


def test_the_agreement_covers_every_decision_the_examples_make() -> None:
    names = {p.relative_to(EXAMPLES).as_posix() for p in request_bundles()}
    assert "errors/error-coverage-ended.json" in names
    assert {p.name for p in EXAMPLES.glob("*.json")} <= names
