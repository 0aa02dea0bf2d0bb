"""POST /fhir/Claim/$submit over HTTP (Flask's test client)."""

from __future__ import annotations

import copy
import json
import logging
import re
from dataclasses import replace
from pathlib import Path
from typing import Any

import orjson
import pytest
from fhir.resources.R4B.operationoutcome import OperationOutcome
from flask.testing import FlaskClient
from sqlalchemy import func, select

from fhirauth.operations import pipeline
from fhirauth.services import Services
from fhirauth.store.models import (
    Authorization,
    AuthorizationItem,
    ClaimResponseVersion,
    DecisionEvent,
    Submission,
)
from tests.conftest import EXAMPLES, SHARED_PAS
from tests.pas import assert_pas_response, review_actions

FHIR_JSON = "application/fhir+json"


def post(client: FlaskClient, body: Any, content_type: str = FHIR_JSON) -> Any:
    data = body if isinstance(body, bytes) else json.dumps(body).encode()
    return client.post("/fhir/Claim/$submit", data=data, content_type=content_type)


def load(name: str) -> dict[str, Any]:
    return json.loads((EXAMPLES / name).read_text())


def documented_decisions() -> list[tuple[str, dict[int, str]]]:
    """The table in examples/README.md: the decision each example is documented to get."""
    rows = []
    for line in (EXAMPLES / "README.md").read_text().splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if len(cells) == 3 and cells[0].endswith(".json"):
            decisions = dict(re.findall(r"(\d+):\s*(\w+)", cells[2]))
            rows.append((cells[0], {int(k): v for k, v in decisions.items()}))
    return rows


def count(services: Services, model: type) -> int:
    with services.sessions() as session:
        return session.scalar(select(func.count()).select_from(model)) or 0


def assert_one_outcome(resp: Any, status: int) -> dict[str, Any]:
    assert resp.status_code == status
    assert resp.mimetype == FHIR_JSON
    body = resp.get_json(force=True)
    OperationOutcome.model_validate(body)
    assert body["resourceType"] == "OperationOutcome"
    return body


def test_every_example_gets_the_decision_its_readme_documents(client: FlaskClient) -> None:
    rows = documented_decisions()
    assert {name for name, _ in rows} == {p.name for p in EXAMPLES.glob("*.json")}
    assert {"A1", "A3", "A4", "NA"} <= {code for _, d in rows for code in d.values()}
    for name, expected in rows:
        request = load(name)
        resp = post(client, request)
        assert resp.status_code == 200, name
        assert resp.mimetype == FHIR_JSON
        assert_pas_response(resp.get_json(), request)
        assert review_actions(resp.get_json()) == expected, name


def test_an_approval_carries_its_number_period_and_issue_date(client: FlaskClient) -> None:
    cr = post(client, load("approve-ct-head.json")).get_json()["entry"][0]["resource"]
    (item,) = cr["item"]
    review = {e["url"]: e for e in item["adjudication"][0]["extension"][0]["extension"]}
    assert review["number"]["valueString"] == f"{cr['preAuthRef']}-1"
    ext = {e["url"].rsplit("/", 1)[-1]: e for e in item["extension"]}
    assert ext["extension-itemPreAuthIssueDate"]["valueDate"] == "2026-12-01"
    period = ext["extension-itemPreAuthPeriod"]["valuePeriod"]
    assert period["start"] >= "2026-12-01" and period["end"] > period["start"]
    assert cr["preAuthPeriod"] == period


def test_a_denial_gives_an_x12_reason_and_a_note_the_clinician_can_read(
    client: FlaskClient,
) -> None:
    cr = post(client, load("deny-cosmetic-hair-transplant.json")).get_json()["entry"][0]["resource"]
    (item,) = cr["item"]
    review = {e["url"]: e for e in item["adjudication"][0]["extension"][0]["extension"]}
    reason = review["reasonCode"]["valueCodeableConcept"]["coding"][0]
    assert reason["system"] == "https://codesystem.x12.org/external/886" and reason["code"]
    (note,) = [n for n in cr["processNote"] if n["number"] in item["noteNumber"]]
    assert "cosmetic" in note["text"]
    assert "number" not in review


def test_a_parameters_body_is_accepted_like_a_raw_bundle(client: FlaskClient) -> None:
    request = load("approve-ct-head.json")
    wrapped = {
        "resourceType": "Parameters",
        "parameter": [{"name": "resource", "resource": request}],
    }
    resp = post(client, wrapped, content_type="application/json")
    assert resp.status_code == 200
    assert review_actions(resp.get_json()) == {1: "A1"}


def test_resources_we_create_get_our_ids_and_our_fullurls(client: FlaskClient) -> None:
    bundle = post(client, load("approve-ct-head.json")).get_json()
    cr_entry = bundle["entry"][0]
    assert (
        cr_entry["fullUrl"]
        == f"http://fhirauth.test/fhir/ClaimResponse/{cr_entry['resource']['id']}"
    )
    again = post(client, load("pend-mri-brain.json")).get_json()
    assert again["id"] != bundle["id"]
    assert again["entry"][0]["resource"]["id"] != cr_entry["resource"]["id"]
    assert again["identifier"]["value"] != bundle["identifier"]["value"]


@pytest.mark.parametrize(
    "name",
    [
        "Bundle-ReferralAuthorizationBundleExample.json",
        "Bundle-HomecareAuthorizationBundleExample.json",
        "Bundle-MedicalServicesAuthorizationBundleExample.json",
        "Bundle-SurgicalRequestBundleExample.json",
    ],
)
def test_the_ig_initial_request_examples_get_a_conformant_answer(
    client: FlaskClient, name: str
) -> None:
    path = SHARED_PAS / "examples" / name
    if not path.exists():
        pytest.skip(f"{path} is absent: the IG examples live in ../shared beside the checkout")
    request = json.loads(path.read_text())
    resp = post(client, request)
    assert resp.status_code == 200
    assert_pas_response(resp.get_json(), request)


def test_the_empty_entry_bundle_gets_400_and_one_operation_outcome(client: FlaskClient) -> None:
    request = load("approve-ct-head.json")
    request["entry"] = []
    body = assert_one_outcome(post(client, request), 400)
    assert body["issue"][0]["expression"] == ["Bundle.entry"]


@pytest.mark.parametrize(
    ("body", "expression"),
    [
        (b"{not json", None),
        (b'{"resourceType": "Patient"}', "Patient"),
        (b"[1, 2]", None),
    ],
)
def test_bodies_that_are_not_bundles_get_400(
    client: FlaskClient, body: bytes, expression: str | None
) -> None:
    outcome = assert_one_outcome(post(client, body), 400)
    if expression:
        assert outcome["issue"][0]["expression"] == [expression]


def test_an_unresolvable_patient_reference_is_400_with_its_fhirpath(client: FlaskClient) -> None:
    request = load("approve-ct-head.json")
    request["entry"][0]["resource"]["patient"]["reference"] = "Patient/nobody"
    outcome = assert_one_outcome(post(client, request), 400)
    assert outcome["issue"][0]["expression"] == ["Bundle.entry[0].resource.patient.reference"]


def test_other_content_types_get_415(client: FlaskClient) -> None:
    data = (EXAMPLES / "approve-ct-head.json").read_bytes()
    assert_one_outcome(post(client, data, content_type="application/fhir+xml"), 415)
    assert_one_outcome(post(client, data, content_type="text/plain"), 415)


def test_a_body_over_the_size_limit_gets_413(client: FlaskClient, app: Any) -> None:
    app.config["MAX_CONTENT_LENGTH"] = 1000
    assert_one_outcome(post(client, load("approve-ct-head.json")), 413)


def test_everything_is_stored_before_the_answer(client: FlaskClient, services: Services) -> None:
    request = load("mixed-outcomes.json")
    cr = post(client, request).get_json()["entry"][0]["resource"]
    with services.sessions() as session:
        auth = session.scalars(select(Authorization)).one()
        assert auth.claim_response_id == cr["id"] and auth.pre_auth_ref == cr["preAuthRef"]
        assert auth.status == "pended" and auth.decided_at is None
        assert [(i.sequence, i.review_action) for i in auth.items] == [
            (1, "NA"),
            (2, "A1"),
            (3, "A4"),
            (4, "A3"),
        ]
        sub = session.scalars(select(Submission)).one()
        assert orjson.loads(sub.raw) == request
        assert sub.principal == "anonymous"
        events = session.scalars(select(DecisionEvent).order_by(DecisionEvent.id)).all()
        assert [(e.item_sequence, e.action, e.actor) for e in events] == [
            (1, "NA", "rule:office-visits"),
            (2, "A1", "rule:ct-head"),
            (3, "A4", "rule:mri-brain"),
            (4, "A3", "rule:cosmetic-hair-transplant"),
        ]


def test_reposting_the_same_bundle_replays_the_stored_answer_and_creates_nothing(
    client: FlaskClient, services: Services
) -> None:
    data = (EXAMPLES / "approve-ct-head.json").read_bytes()
    first = post(client, data)
    # Same content, different key order and whitespace: still the same submission.
    reordered = json.dumps(dict(reversed(list(json.loads(data).items()))), indent=4).encode()
    second = post(client, reordered)
    assert second.status_code == 200
    assert second.data == first.data
    for model in (Authorization, Submission, ClaimResponseVersion):
        assert count(services, model) == 1


def test_a_new_bundle_reusing_a_bundle_identifier_is_a_new_submission(
    client: FlaskClient, services: Services
) -> None:
    request = load("approve-ct-head.json")
    first = post(client, request).get_json()
    changed = copy.deepcopy(request)
    changed["timestamp"] = "2026-11-30T09:00:00-05:00"
    second = post(client, changed).get_json()
    assert (
        second["entry"][0]["resource"]["preAuthRef"] != first["entry"][0]["resource"]["preAuthRef"]
    )
    assert count(services, Authorization) == 2


def test_a_crash_midway_leaves_nothing_stored_and_answers_500_without_outcome(
    client: FlaskClient,
    services: Services,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    def explode(*_: Any) -> Any:
        raise RuntimeError(" ".join(["JOHN", "Q", "DOE"]))  # a message that quotes PHI

    monkeypatch.setattr(pipeline, "item_event", explode)
    with caplog.at_level(logging.INFO):
        resp = post(client, load("approve-ct-head.json"))
    assert resp.status_code == 500
    assert resp.data == b""
    for model in (Authorization, AuthorizationItem, Submission, ClaimResponseVersion):
        assert count(services, model) == 0
    assert "RuntimeError" in caplog.text
    assert "JOHN Q DOE" not in caplog.text


def test_logs_hold_ids_and_counts_not_patient_data(
    client: FlaskClient, caplog: pytest.LogCaptureFixture
) -> None:
    request = load("mixed-outcomes.json")
    with caplog.at_level(logging.DEBUG):
        post(client, request)
        bad = copy.deepcopy(request)
        bad["entry"][0]["resource"]["item"][0]["sequence"] = "one"
        post(client, bad)
    patient = next(
        e["resource"] for e in request["entry"] if e["resource"]["resourceType"] == "Patient"
    )
    secrets = [patient["name"][0]["family"], patient["birthDate"]]
    secrets += [i["value"] for i in patient.get("identifier", [])]
    assert caplog.records
    for secret in secrets:
        assert secret not in caplog.text


def test_claim_and_claim_response_can_be_read_back(client: FlaskClient, services: Services) -> None:
    request = load("approve-ct-head.json")
    cr = post(client, request).get_json()["entry"][0]["resource"]
    got = client.get(f"/fhir/ClaimResponse/{cr['id']}")
    assert got.status_code == 200 and got.mimetype == FHIR_JSON
    assert got.get_json() == cr
    with services.sessions() as session:
        claim_id = session.scalars(select(Submission.claim_id)).one()
    claim = client.get(f"/fhir/Claim/{claim_id}").get_json()
    assert claim["id"] == claim_id
    assert claim["item"] == request["entry"][0]["resource"]["item"]


@pytest.mark.parametrize("path", ["/fhir/Claim/nope", "/fhir/ClaimResponse/nope", "/fhir/Nothing"])
def test_unknown_ids_and_paths_get_404_with_an_operation_outcome(
    client: FlaskClient, path: str
) -> None:
    assert_one_outcome(client.get(path), 404)


def test_examples_folder_is_what_the_readme_lists() -> None:
    assert all(Path(EXAMPLES / name).exists() for name, _ in documented_decisions())


def test_a_certified_item_names_its_authorized_provider_and_detail(client: FlaskClient) -> None:
    bundle = post(client, load("approve-ct-head.json")).get_json()
    cr = bundle["entry"][0]["resource"]
    (reviewer,) = [e for e in cr["extension"] if e["url"].endswith("claimResponseReviewer")]
    assert reviewer["extension"] == [{"url": "wasHumanReviewedFlag", "valueBoolean": False}]
    ext = {e["url"].rsplit("/", 1)[-1]: e for e in cr["item"][0]["extension"]}
    provider = {e["url"]: e for e in ext["extension-itemAuthorizedProvider"]["extension"]}
    entries = {e["fullUrl"]: e["resource"] for e in bundle["entry"]}
    target = entries[provider["provider"]["valueReference"]["reference"]]
    assert target["resourceType"] in ("Practitioner", "Organization")
    detail = {e["url"]: e for e in ext["extension-itemAuthorizedDetail"]["extension"]}
    assert detail["productOrServiceCode"]["valueCodeableConcept"]["coding"][0]["code"] == "70450"
    assert detail["quantity"]["valueQuantity"]["value"] == 1


def test_strict_validation_makes_a_deviation_in_data_we_need_an_outcome_error_in_the_aaa_style(
    client: FlaskClient, services: Services
) -> None:
    services.settings = replace(services.settings, validation="strict")
    request = load("approve-ct-head.json")
    del request["entry"][0]["resource"]["item"][0]["category"]  # PAS Claim: item.category 1..1
    resp = post(client, request)
    assert resp.status_code == 200
    cr = resp.get_json()["entry"][0]["resource"]
    assert cr["outcome"] == "error"
    (error,) = cr["error"]
    assert error["code"]["coding"][0] == {
        "system": "https://codesystem.x12.org/005010/901",
        "code": "15",
    }
    ext = {e["url"].rsplit("/", 1)[-1]: e for e in error["extension"]}
    assert ext["extension-errorPath"]["valueString"].startswith("Bundle.entry[0].resource.item[0]")
    assert ext["extension-errorFollowupAction"]["valueCodeableConcept"]["coding"][0]["code"]
    assert [i["itemSequence"] for i in cr["item"]] == [1]  # answered, not decided: CT
    assert review_actions(resp.get_json()) == {1: "CT"}


def test_a_deviation_outside_what_we_need_is_kept_as_a_warning_not_an_error(
    client: FlaskClient, services: Services
) -> None:
    request = load("mixed-outcomes.json")
    role = next(
        e["resource"]
        for e in request["entry"]
        if e["resource"]["resourceType"] == "PractitionerRole"
    )
    del role["practitioner"]  # PAS PractitionerRole: practitioner 1..1
    resp = post(client, request)
    assert resp.status_code == 200
    assert resp.get_json()["entry"][0]["resource"]["outcome"] == "complete"
    with services.sessions() as session:
        warnings = session.scalars(select(Submission.warnings)).one()["issues"]
    assert any("practitioner" in w["diagnostics"] for w in warnings)


def test_by_default_a_profile_deviation_is_reported_and_the_request_decided(
    client: FlaskClient, services: Services
) -> None:
    request = load("approve-ct-head.json")
    del request["entry"][0]["resource"]["item"][0]["category"]  # PAS Claim: item.category 1..1
    resp = post(client, request)
    assert resp.status_code == 200
    cr = resp.get_json()["entry"][0]["resource"]
    assert cr["outcome"] == "complete"
    assert review_actions(resp.get_json()) == {1: "A1"}
    (note,) = [n for n in cr["processNote"] if n["type"] == "printoper"]
    assert "deviates from the PAS profiles in 1 place" in note["text"]
    with services.sessions() as session:
        warnings = session.scalars(select(Submission.warnings)).one()["issues"]
    assert any("item.category" in w["diagnostics"] for w in warnings)
    assert_pas_response(resp.get_json(), request)


def test_a_conformant_request_gets_no_note_about_deviations(client: FlaskClient) -> None:
    cr = post(client, load("approve-ct-head.json")).get_json()["entry"][0]["resource"]
    assert all(n["type"] != "printoper" for n in cr.get("processNote", []))


def aaa_errors(resp: Any) -> list[tuple[str, str]]:
    cr = resp.get_json()["entry"][0]["resource"]
    assert cr["outcome"] == "error"
    out = []
    for e in cr["error"]:
        path = next(x["valueString"] for x in e["extension"] if x["url"].endswith("errorPath"))
        out.append((e["code"]["coding"][0]["code"], path))
    return out


def test_a_request_without_coverage_is_not_fhir_and_gets_a_400(client: FlaskClient) -> None:
    request = load("approve-ct-head.json")
    del request["entry"][0]["resource"]["insurance"]  # R4 Claim.insurance is 1..*
    resp = post(client, request)
    assert_one_outcome(resp, 400)
    issue = resp.get_json()["issue"][0]
    assert issue["expression"] == ["Bundle.entry[0].resource.insurance"]


def test_a_request_without_any_member_id_cannot_be_decided(client: FlaskClient) -> None:
    request = load("approve-ct-head.json")
    for e in request["entry"]:
        res = e["resource"]
        if res["resourceType"] == "Coverage":
            res.pop("identifier", None)
            res.pop("subscriberId", None)
            at = request["entry"].index(e)
        if res["resourceType"] == "Patient":
            res["identifier"] = [{"type": {"text": "MR"}, "value": "MRN-1"}]
    resp = post(client, request)
    assert aaa_errors(resp) == [("72", f"Bundle.entry[{at}].resource.identifier")]


def test_a_service_without_a_code_cannot_be_decided(client: FlaskClient) -> None:
    request = load("approve-ct-head.json")
    request["entry"][0]["resource"]["item"][0]["productOrService"] = {"text": "CT of the head"}
    resp = post(client, request)
    assert aaa_errors(resp) == [("15", "Bundle.entry[0].resource.item[0].productOrService")]
    assert review_actions(resp.get_json()) == {1: "CT"}
