"""Every decision shape the demo policy makes, through POST /fhir/Claim/$submit with the
examples in examples/: partial and modified approvals, pends for documentation and for a
reviewer, approvals on supporting documents and questionnaires, expedited requests, and
membership errors (from the submitted Coverage or from a payer roster)."""

from __future__ import annotations

import copy
import json
from collections.abc import Callable, Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
from fhir.resources.R4B.bundle import Bundle
from fhir.resources.R4B.claimresponse import ClaimResponse
from fhir.resources.R4B.communicationrequest import CommunicationRequest
from flask.testing import FlaskClient

from fhirauth import create_app
from fhirauth.clock import fixed_clock
from fhirauth.config import Settings
from fhirauth.services import Services
from tests.conftest import EXAMPLES, NOW
from tests.pas import PAS, assert_pas_response, references, review_actions

FHIR_JSON = "application/fhir+json"
REJECT_REASON_SYSTEM = "https://codesystem.x12.org/005010/901"
BARIATRIC_QUESTIONNAIRE = "http://demo-health-plan.example.org/fhir/Questionnaire/bariatric-surgery"


def post(client: FlaskClient, body: Any) -> Any:
    data = body if isinstance(body, bytes) else json.dumps(body).encode()
    return client.post("/fhir/Claim/$submit", data=data, content_type=FHIR_JSON)


def load(name: str) -> dict[str, Any]:
    return json.loads((EXAMPLES / name).read_text())


def submit(client: FlaskClient, request: dict[str, Any]) -> dict[str, Any]:
    """Post a request that must be decided; the response Bundle."""
    resp = post(client, request)
    assert resp.status_code == 200, resp.data[:500]
    assert resp.mimetype == FHIR_JSON
    return resp.get_json()


def claim_response(bundle: dict[str, Any]) -> dict[str, Any]:
    return bundle["entry"][0]["resource"]


def review(item: dict[str, Any]) -> dict[str, Any]:
    """The reviewAction sub-extensions of an item (or addItem), by url."""
    (adj,) = item["adjudication"]
    (ext,) = [e for e in adj["extension"] if e["url"] == PAS + "extension-reviewAction"]
    return {e["url"].rsplit("/", 1)[-1]: e for e in ext["extension"]}


def item_extensions(item: dict[str, Any]) -> dict[str, Any]:
    return {e["url"].rsplit("/", 1)[-1]: e for e in item.get("extension", [])}


def entry_index(request: dict[str, Any], resource_type: str) -> int:
    (index,) = [
        i for i, e in enumerate(request["entry"]) if e["resource"]["resourceType"] == resource_type
    ]
    return index


def assert_pas_error_response(response: dict[str, Any], request: dict[str, Any]) -> dict[str, Any]:
    """The parts of the PAS response Bundle rules that apply to an outcome=error answer (an
    X12 AAA rejection: no items, an error with its 901 code); returns the ClaimResponse."""
    Bundle.model_validate(response)
    assert response["type"] == "collection"
    assert response["identifier"]["system"] and response["identifier"]["value"]
    assert response["timestamp"]
    for entry in response["entry"]:
        assert entry["fullUrl"] and entry["resource"]
        assert not {"request", "response", "search"} & entry.keys()
    urls = [e["fullUrl"] for e in response["entry"]]
    assert len(urls) == len(set(urls))

    cr = claim_response(response)
    ClaimResponse.model_validate(cr)
    assert cr["resourceType"] == "ClaimResponse"
    assert cr["status"] == "active" and cr["use"] == "preauthorization"
    assert cr["outcome"] == "error"
    for key in ("patient", "created", "insurer", "requestor", "request", "error"):
        assert cr.get(key), f"ClaimResponse.{key} missing"
    assert cr["request"]["reference"] == request["entry"][0]["fullUrl"]
    assert "item" not in cr and "addItem" not in cr
    for error in cr["error"]:
        (coding,) = error["code"]["coding"]
        assert coding["system"] == REJECT_REASON_SYSTEM and coding["code"]

    sent = {e["fullUrl"]: e["resource"] for e in request["entry"]}
    got = {e["fullUrl"]: e["resource"] for e in response["entry"]}
    for ref in references(cr):
        assert ref in got, f"ClaimResponse references {ref}, which is not in the bundle"
    for url, resource in list(got.items())[1:]:
        if resource["resourceType"] != "CommunicationRequest":
            assert sent.get(url) == resource, f"{url} is not echoed as sent"
    return cr


def error_extensions(error: dict[str, Any]) -> dict[str, Any]:
    return {e["url"].rsplit("/", 1)[-1]: e for e in error.get("extension", [])}


@pytest.fixture
def build_client(settings: Settings) -> Iterator[Callable[..., FlaskClient]]:
    """A client for an app built with changed settings (a member roster, sandbox mode)."""
    built: list[Services] = []

    def make(**changes: Any) -> FlaskClient:
        services = Services.build(replace(settings, **changes), clock=fixed_clock(NOW))
        built.append(services)
        app = create_app(services=services)
        app.config["TESTING"] = False
        return app.test_client()

    yield make
    for services in built:
        services.engine.dispose()


# --- A2: certified in part ------------------------------------------------------------------


def test_psychotherapy_over_the_visit_limit_is_certified_for_20_visits(
    client: FlaskClient,
) -> None:
    request = load("partial-psychotherapy.json")
    response = submit(client, request)
    cr = assert_pas_response(response, request)
    assert review_actions(response) == {1: "A2"}
    (item,) = cr["item"]
    rv = review(item)
    assert rv["number"]["valueString"] == f"{cr['preAuthRef']}-1"
    assert rv["reasonCode"]["valueCodeableConcept"]["coding"][0]["code"]
    detail = item_extensions(item)["extension-itemAuthorizedDetail"]
    (quantity,) = [e for e in detail["extension"] if e["url"] == "quantity"]
    assert quantity["valueQuantity"]["value"] == 20
    (note,) = [n for n in cr["processNote"] if n["number"] in item["noteNumber"]]
    assert "20 visits" in note["text"]
    period = item_extensions(item)["extension-itemPreAuthPeriod"]["valuePeriod"]
    assert period == {"start": "2026-12-09", "end": "2027-06-06"}  # 180 days


# --- A6: modified, with what was authorized in addItem ----------------------------------------


def test_two_wheelchairs_are_modified_to_one_in_add_item(client: FlaskClient) -> None:
    request = load("modify-wheelchair.json")
    response = submit(client, request)
    cr = assert_pas_response(response, request)
    assert review_actions(response) == {1: "A6"}
    (item,) = cr["item"]
    number = review(item)["number"]["valueString"]
    assert number == f"{cr['preAuthRef']}-1"
    (added,) = cr["addItem"]
    assert added["itemSequence"] == [1]
    requested = request["entry"][0]["resource"]["item"][0]
    assert added["productOrService"] == requested["productOrService"]
    assert added["quantity"] == {"value": 1, "unit": "unit"}
    added_review = review(added)
    coding = added_review["extension-reviewActionCode"]["valueCodeableConcept"]["coding"][0]
    assert coding["code"] == "A1"
    assert added_review["number"]["valueString"] == number
    assert item["noteNumber"] and cr["processNote"]


# --- A4: pended for documentation, with a CommunicationRequest --------------------------------


def test_a_knee_replacement_without_the_progress_note_pends_and_asks_for_it(
    client: FlaskClient,
) -> None:
    request = load("pend-knee-needs-note.json")
    response = submit(client, request)
    cr = assert_pas_response(response, request)
    assert review_actions(response) == {1: "A4"}
    assert "number" not in review(cr["item"][0])
    (ref,) = cr["communicationRequest"]
    entries = {e["fullUrl"]: e["resource"] for e in response["entry"]}
    resource = entries[ref["reference"]]
    comm = CommunicationRequest.model_validate(resource)
    assert comm.status == "active"
    assert comm.identifier and comm.identifier[0].value  # the attachment control number
    (payload,) = comm.payload
    assert payload.contentString == "11506-3"
    (line,) = [e for e in comm.extension if e.url == PAS + "extension-serviceLineNumber"]
    assert line.valuePositiveInt == 1
    insurer = request["entry"][0]["resource"]["insurer"]["reference"]
    assert resource["requester"]["reference"] == insurer
    assert resource["subject"]["reference"] == cr["patient"]["reference"]
    assert [r["reference"] for r in resource["recipient"]] == [cr["requestor"]["reference"]]


def test_the_same_knee_replacement_with_the_note_is_approved(client: FlaskClient) -> None:
    request = load("approve-knee-with-note.json")
    response = submit(client, request)
    cr = assert_pas_response(response, request)
    assert review_actions(response) == {1: "A1"}
    assert "communicationRequest" not in cr
    period = item_extensions(cr["item"][0])["extension-itemPreAuthPeriod"]["valuePeriod"]
    assert period == {"start": "2027-01-19", "end": "2027-05-18"}  # 120 days
    trace = client.get(f"/admin/authorizations/{cr['preAuthRef']}/trace").get_json()
    (event,) = trace["events"]
    steps = {s["step"]: s for s in event["trace"]["steps"]}
    assert steps["documentation"] == {
        "step": "documentation",
        "required": ["11506-3"],
        "missing": [],
    }
    assert steps["approve"]["met"] is True


# --- Questionnaires: approved for an adult, a recommended denial for a minor -----------------


def test_bariatric_surgery_with_the_completed_questionnaire_is_approved(
    client: FlaskClient,
) -> None:
    request = load("approve-bariatric-questionnaire.json")
    response = submit(client, request)
    cr = assert_pas_response(response, request)
    assert review_actions(response) == {1: "A1"}
    period = item_extensions(cr["item"][0])["extension-itemPreAuthPeriod"]["valuePeriod"]
    assert period == {"start": "2027-01-26", "end": "2027-07-24"}  # 180 days
    trace = client.get(f"/admin/authorizations/{cr['preAuthRef']}/trace").get_json()
    (event,) = trace["events"]
    assert event["actor"] == "rule:bariatric-surgery"
    steps = {s["step"]: s for s in event["trace"]["steps"]}
    assert steps["deny"]["met"] is False
    assert steps["documentation"]["missing"] == []
    assert steps["documentation"]["required"] == [BARIATRIC_QUESTIONNAIRE]


def test_the_same_questionnaire_answered_for_a_minor_pends_with_a_recommended_denial(
    client: FlaskClient,
) -> None:
    request = load("recommend-deny-bariatric-minor.json")
    response = submit(client, request)
    cr = assert_pas_response(response, request)
    assert review_actions(response) == {1: "A4"}
    # The reviewer decides: the provider sees a pend, not the recommended denial's reason.
    assert "reasonCode" not in review(cr["item"][0])
    assert "communicationRequest" not in cr
    trace = client.get(f"/admin/authorizations/{cr['preAuthRef']}/trace").get_json()
    (event,) = trace["events"]
    assert event["action"] == "A4"
    assert event["trace"]["recommendation"] == "A3"
    assert event["trace"]["outcome"] == "A4"
    steps = {s["step"]: s for s in event["trace"]["steps"]}
    assert steps["deny"]["met"] is True
    auth = client.get(f"/admin/authorizations/{cr['preAuthRef']}").get_json()
    assert auth["status"] == "pended"
    assert auth["items"][0]["reviewAction"] == "A4"


# --- Expedited ---------------------------------------------------------------------------------


def test_an_emergency_psychiatric_admission_is_expedited_and_approved_for_3_days(
    client: FlaskClient,
) -> None:
    request = load("expedited-inpatient-psych.json")
    response = submit(client, request)
    cr = assert_pas_response(response, request)
    assert review_actions(response) == {1: "A1"}
    period = item_extensions(cr["item"][0])["extension-itemPreAuthPeriod"]["valuePeriod"]
    assert period == {"start": "2026-12-01", "end": "2026-12-03"}
    auth = client.get(f"/admin/authorizations/{cr['preAuthRef']}").get_json()
    assert auth["expedited"] is True
    assert auth["items"][0]["rule"] == "inpatient-psychiatric"
    assert auth["items"][0]["period"] == ["2026-12-01", "2026-12-03"]


def test_an_elective_request_is_not_expedited(client: FlaskClient) -> None:
    cr = claim_response(submit(client, load("approve-knee-with-note.json")))
    auth = client.get(f"/admin/authorizations/{cr['preAuthRef']}").get_json()
    assert auth["expedited"] is False


# --- outcome=error: coverage that is not in force ---------------------------------------------


def test_coverage_that_ended_is_an_error_with_x12_code_78(client: FlaskClient) -> None:
    request = load("errors/error-coverage-ended.json")
    response = submit(client, request)
    cr = assert_pas_error_response(response, request)
    (error,) = cr["error"]
    assert error["code"]["coding"][0]["code"] == "78"
    ext = error_extensions(error)
    coverage = entry_index(request, "Coverage")
    assert ext["extension-errorPath"]["valueString"] == f"Bundle.entry[{coverage}].resource.period"
    assert ext["extension-errorFollowupAction"]["valueCodeableConcept"]["coding"][0]["code"]
    assert any(n["text"] == error["code"]["text"] for n in cr["processNote"])
    auth = client.get(f"/admin/authorizations/{cr['id']}").get_json()
    assert auth["status"] == "error"


def test_an_error_response_asks_for_no_documentation(client: FlaskClient) -> None:
    request = load("pend-knee-needs-note.json")
    coverage = request["entry"][entry_index(request, "Coverage")]["resource"]
    coverage["period"] = {"start": "2024-01-01", "end": "2025-12-31"}
    response = submit(client, request)
    cr = assert_pas_error_response(response, request)
    assert "communicationRequest" not in cr
    assert "CommunicationRequest" not in {e["resource"]["resourceType"] for e in response["entry"]}


def test_an_error_response_stores_no_authorization_number(client: FlaskClient) -> None:
    cr = claim_response(submit(client, load("errors/error-coverage-ended.json")))
    assert "preAuthRef" not in cr  # a refused request is found by its ClaimResponse id
    auth = client.get(f"/admin/authorizations/{cr['id']}").get_json()
    assert auth["status"] == "error" and auth["preAuthRef"] is None
    for item in auth["items"]:
        assert item["authorizationNumber"] is None
        assert item["reviewAction"] not in {"A1", "A2", "A6"}


# --- A member roster ---------------------------------------------------------------------------


def member_id(request: dict[str, Any]) -> str:
    coverage = request["entry"][entry_index(request, "Coverage")]["resource"]
    return coverage["subscriberId"]


def plan(request: dict[str, Any]) -> str:
    coverage = request["entry"][entry_index(request, "Coverage")]["resource"]
    (value,) = [c["value"] for c in coverage["class"] if c["type"]["coding"][0]["code"] == "plan"]
    return value


def roster(tmp_path: Path, rows: list[tuple[str, str, str, str]]) -> Path:
    path = tmp_path / "roster.csv"
    lines = ["member_id,plan,start,end", *(",".join(r) for r in rows)]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def test_with_a_roster_an_unknown_member_is_an_error_and_a_known_one_is_decided(
    build_client: Callable[..., FlaskClient], tmp_path: Path
) -> None:
    known = load("approve-ct-head.json")
    unknown = load("pend-mri-brain.json")
    path = roster(
        tmp_path,
        [
            (member_id(known), plan(known), "2026-01-01", ""),
            ("DHP000000001", "DHP-HMO-2026", "2026-01-01", "2027-12-31"),
        ],
    )
    client = build_client(member_roster=path)

    response = submit(client, known)
    assert_pas_response(response, known)
    assert review_actions(response) == {1: "A1"}

    response = submit(client, unknown)
    cr = assert_pas_error_response(response, unknown)
    (error,) = cr["error"]
    assert error["code"]["coding"][0]["code"] == "75"
    coverage = entry_index(unknown, "Coverage")
    assert (
        error_extensions(error)["extension-errorPath"]["valueString"]
        == f"Bundle.entry[{coverage}].resource.identifier"
    )


def test_with_a_roster_a_member_not_enrolled_on_the_service_date_is_code_78(
    build_client: Callable[..., FlaskClient], tmp_path: Path
) -> None:
    request = load("approve-ct-head.json")
    path = roster(tmp_path, [(member_id(request), plan(request), "2026-01-01", "2026-11-30")])
    client = build_client(member_roster=path)
    cr = assert_pas_error_response(submit(client, request), request)
    assert cr["error"][0]["code"]["coding"][0]["code"] == "78"


def test_the_roster_decides_membership_not_the_submitted_coverage(
    build_client: Callable[..., FlaskClient], tmp_path: Path
) -> None:
    """With a roster, a Coverage whose period has ended no longer matters: the payer's own
    enrollment does."""
    request = load("errors/error-coverage-ended.json")
    path = roster(tmp_path, [(member_id(request), plan(request), "2026-01-01", "")])
    client = build_client(member_roster=path)
    response = submit(client, copy.deepcopy(request))
    assert_pas_response(response, request)
    assert review_actions(response) == {1: "A1"}
