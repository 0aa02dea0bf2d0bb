"""The payer's admin API at /admin: stored authorizations, their decision traces, and the
sandbox scripts that make the next submission answer a chosen outcome."""

from __future__ import annotations

import json
from typing import Any

import pytest
from fhir.resources.R4B.bundle import Bundle
from fhir.resources.R4B.claimresponse import ClaimResponse
from fhir.resources.R4B.operationoutcome import OperationOutcome
from flask.testing import FlaskClient
from sqlalchemy import func, select

from fhirauth.services import Services
from fhirauth.store.models import Authorization, SandboxScript
from tests.conftest import EXAMPLES, NOW
from tests.pas import PAS, assert_pas_response, references, review_actions

FHIR_JSON = "application/fhir+json"


def load(name: str) -> dict[str, Any]:
    return json.loads((EXAMPLES / name).read_text())


def post(client: FlaskClient, body: dict[str, Any] | bytes) -> Any:
    data = body if isinstance(body, bytes) else json.dumps(body).encode()
    resp = client.post("/fhir/Claim/$submit", data=data, content_type=FHIR_JSON)
    assert resp.status_code == 200, resp.data[:500]
    return resp


def claim_response(resp: Any) -> dict[str, Any]:
    return resp.get_json()["entry"][0]["resource"]


def assert_outcome(resp: Any, status: int) -> dict[str, Any]:
    assert resp.status_code == status
    assert resp.mimetype == FHIR_JSON
    body = resp.get_json()
    OperationOutcome.model_validate(body)
    assert body["resourceType"] == "OperationOutcome"
    return body


def count(services: Services, model: type) -> int:
    with services.sessions() as session:
        return session.scalar(select(func.count()).select_from(model)) or 0


# --- Authorizations and traces -----------------------------------------------------------------


def test_an_authorization_reads_back_by_pre_auth_ref_and_by_id(client: FlaskClient) -> None:
    cr = claim_response(post(client, load("approve-ct-head.json")))
    resp = client.get(f"/admin/authorizations/{cr['preAuthRef']}")
    assert resp.status_code == 200
    auth = resp.get_json()
    assert client.get(f"/admin/authorizations/{auth['id']}").get_json() == auth
    assert auth["preAuthRef"] == cr["preAuthRef"]
    assert auth["claimResponse"] == f"ClaimResponse/{cr['id']}"
    assert auth["status"] == "decided"
    assert auth["policy"] == "demo-health-plan"
    assert auth["expedited"] is False
    assert auth["version"] == 1
    assert auth["receivedAt"] == auth["decidedAt"] == auth["deliveredAt"] == NOW.isoformat()
    (item,) = auth["items"]
    (period,) = [
        e["valuePeriod"]
        for e in cr["item"][0]["extension"]
        if e["url"] == PAS + "extension-itemPreAuthPeriod"
    ]
    expected = {
        "sequence": 1,
        "code": "http://www.ama-assn.org/go/cpt|70450",
        "reviewAction": "A1",
        "authorizationNumber": f"{cr['preAuthRef']}-1",
        "period": [period["start"], period["end"]],
        "reasonCode": None,
        "rule": "ct-head",
    }
    assert {k: item.get(k) for k in expected} == expected


def test_the_trace_of_an_approval_names_the_rule_and_each_condition(client: FlaskClient) -> None:
    cr = claim_response(post(client, load("approve-ct-head.json")))
    auth = client.get(f"/admin/authorizations/{cr['preAuthRef']}").get_json()
    resp = client.get(f"/admin/authorizations/{cr['preAuthRef']}/trace")
    assert resp.status_code == 200
    trace = resp.get_json()
    assert client.get(f"/admin/authorizations/{auth['id']}/trace").get_json() == trace
    assert trace["id"] == auth["id"] and trace["preAuthRef"] == cr["preAuthRef"]
    (event,) = trace["events"]
    assert event["item"] == 1
    assert event["actor"] == "rule:ct-head"
    assert event["action"] == "A1"
    assert event["at"] == NOW.isoformat()
    t = event["trace"]
    assert t["policy"] == "demo-health-plan"
    assert t["decided_by"] == "ct-head"
    assert t["outcome"] == "A1"
    assert t["codes"] == ["http://www.ama-assn.org/go/cpt|70450"]
    assert [c["rule"] for c in t["candidates"]] == ["ct-head"]
    assert t["steps"] == [
        {
            "step": "approve",
            "conditions": [{"expression": "%diagnoses.exists()", "result": True}],
            "met": True,
        }
    ]


def test_the_trace_of_a_mixed_request_has_one_event_per_item(client: FlaskClient) -> None:
    cr = claim_response(post(client, load("mixed-outcomes.json")))
    trace = client.get(f"/admin/authorizations/{cr['preAuthRef']}/trace").get_json()
    assert [(e["item"], e["actor"], e["action"]) for e in trace["events"]] == [
        (1, "rule:office-visits", "NA"),
        (2, "rule:ct-head", "A1"),
        (3, "rule:mri-brain", "A4"),
        (4, "rule:cosmetic-hair-transplant", "A3"),
    ]
    mri = trace["events"][2]["trace"]
    (approve,) = [s for s in mri["steps"] if s["step"] == "approve"]
    assert approve["met"] is False
    assert [c["result"] for c in approve["conditions"]] == [False]
    denial = trace["events"][3]
    assert denial["reasonCode"] == "NC" and "cosmetic" in denial["note"]


@pytest.mark.parametrize(
    "path",
    ["/admin/authorizations/PA0000000000", "/admin/authorizations/PA0000000000/trace"],
)
def test_an_unknown_authorization_is_404_with_an_operation_outcome(
    client: FlaskClient, path: str
) -> None:
    body = assert_outcome(client.get(path), 404)
    assert body["issue"][0]["code"] == "not-found"


# --- Sandbox off ---------------------------------------------------------------------------------


@pytest.mark.parametrize("method", ["get", "post", "delete"])
def test_sandbox_endpoints_are_404_when_sandbox_mode_is_off(
    client: FlaskClient, method: str
) -> None:
    resp = getattr(client, method)("/admin/sandbox/scripts", json={"outcome": "A3"})
    assert_outcome(resp, 404)


def test_with_sandbox_mode_off_a_repost_replays_whatever_was_asked(
    client: FlaskClient, services: Services
) -> None:
    client.post("/admin/sandbox/scripts", json={"outcome": "A3"})
    data = (EXAMPLES / "approve-ct-head.json").read_bytes()
    first, second = post(client, data), post(client, data)
    assert review_actions(first.get_json()) == {1: "A1"}
    assert second.data == first.data
    assert count(services, SandboxScript) == 0
    assert count(services, Authorization) == 1


# --- Sandbox on ----------------------------------------------------------------------------------


def script(client: FlaskClient, outcome: str, count: int = 1) -> list[str]:
    resp = client.post("/admin/sandbox/scripts", json={"outcome": outcome, "count": count})
    assert resp.status_code == 201, resp.data
    return [s["outcome"] for s in resp.get_json()["pending"]]


def test_scripts_answer_the_same_bundle_a3_then_a1_then_the_policy_decides(
    sandbox: FlaskClient, sandbox_services: Services
) -> None:
    assert script(sandbox, "A3") == ["A3"]
    assert script(sandbox, "A1") == ["A3", "A1"]
    data = (EXAMPLES / "approve-ct-head.json").read_bytes()
    request = json.loads(data)

    denied = post(sandbox, data)
    assert review_actions(denied.get_json()) == {1: "A3"}
    assert_pas_response(denied.get_json(), request)
    approved = post(sandbox, data)
    assert review_actions(approved.get_json()) == {1: "A1"}
    assert_pas_response(approved.get_json(), request)
    refs = {claim_response(r)["preAuthRef"] for r in (denied, approved)}
    assert len(refs) == 2
    assert count(sandbox_services, Authorization) == 2
    assert sandbox.get("/admin/sandbox/scripts").get_json() == {"pending": []}

    # No script left: the policy decides, and the same bundle again is a duplicate.
    decided = post(sandbox, data)
    assert review_actions(decided.get_json()) == {1: "A1"}
    assert claim_response(decided)["preAuthRef"] not in refs
    trace = sandbox.get(f"/admin/authorizations/{claim_response(decided)['preAuthRef']}/trace")
    assert trace.get_json()["events"][0]["actor"] == "rule:ct-head"
    assert count(sandbox_services, Authorization) == 3
    replayed = post(sandbox, data)
    assert replayed.data == decided.data
    assert count(sandbox_services, Authorization) == 3


def test_a_scripted_denial_is_traced_to_the_sandbox(sandbox: FlaskClient) -> None:
    script(sandbox, "A3")
    cr = claim_response(post(sandbox, load("approve-ct-head.json")))
    (event,) = sandbox.get(f"/admin/authorizations/{cr['preAuthRef']}/trace").get_json()["events"]
    assert event["actor"] == "rule:sandbox"
    assert event["trace"]["decided_by"] == "sandbox"
    review = {e["url"]: e for e in cr["item"][0]["adjudication"][0]["extension"][0]["extension"]}
    assert review["reasonCode"]["valueCodeableConcept"]["coding"][0]["code"] == "SANDBOX"


def test_a_scripted_error_answers_outcome_error(sandbox: FlaskClient) -> None:
    script(sandbox, "error")
    request = load("approve-ct-head.json")
    response = post(sandbox, request).get_json()
    Bundle.model_validate(response)
    cr = claim_response_of(response)
    ClaimResponse.model_validate(cr)
    assert cr["outcome"] == "error"
    assert "item" not in cr
    (error,) = cr["error"]
    assert error["code"]["coding"][0]["system"] == "https://codesystem.x12.org/005010/901"
    assert error["code"]["coding"][0]["code"] == "75"
    got = {e["fullUrl"] for e in response["entry"]}
    assert all(ref in got for ref in references(cr))
    assert "preAuthRef" not in cr  # refused: no authorization number, found by its id
    auth = sandbox.get(f"/admin/authorizations/{cr['id']}").get_json()
    assert auth["status"] == "error" and auth["preAuthRef"] is None


def claim_response_of(bundle: dict[str, Any]) -> dict[str, Any]:
    return bundle["entry"][0]["resource"]


@pytest.mark.parametrize("outcome", ["A1", "A2", "A3", "A4", "A6", "NA", "CT"])
def test_every_scripted_outcome_is_a_conformant_answer_for_every_item(
    sandbox: FlaskClient, outcome: str
) -> None:
    script(sandbox, outcome)
    request = load("mixed-outcomes.json")
    response = post(sandbox, request).get_json()
    cr = assert_pas_response(response, request)
    assert review_actions(response) == dict.fromkeys((1, 2, 3, 4), outcome)
    if outcome in ("A1", "A2", "A6"):
        for item in cr["item"]:
            review = {e["url"] for e in item["adjudication"][0]["extension"][0]["extension"]}
            assert "number" in review
    if outcome == "A4":  # a document and a questionnaire for each item, one Task each
        assert len(cr["communicationRequest"]) == 8
        tasks = [e for e in response["entry"] if e["resource"]["resourceType"] == "Task"]
        assert len(tasks) == 4
    if outcome == "A6":
        assert [a["itemSequence"] for a in cr["addItem"]] == [[1], [2], [3], [4]]
    if outcome == "A2":
        for item in cr["item"]:
            urls = {e["url"] for e in item["extension"]}
            assert PAS + "extension-itemAuthorizedDetail" in urls


def test_count_scripts_several_submissions_and_clear_drops_them(sandbox: FlaskClient) -> None:
    assert script(sandbox, "A4", count=3) == ["A4", "A4", "A4"]
    post(sandbox, load("approve-ct-head.json"))
    pending = sandbox.get("/admin/sandbox/scripts").get_json()["pending"]
    assert [s["outcome"] for s in pending] == ["A4", "A4"]
    assert sandbox.delete("/admin/sandbox/scripts").get_json() == {"pending": []}
    assert sandbox.get("/admin/sandbox/scripts").get_json() == {"pending": []}
    response = post(sandbox, load("pend-mri-brain.json")).get_json()
    assert review_actions(response) == {1: "A4"}  # the policy's own pend


def test_scripts_belong_to_a_principal(sandbox: FlaskClient) -> None:
    resp = sandbox.post("/admin/sandbox/scripts", json={"outcome": "A3", "principal": "ehr-7"})
    assert resp.status_code == 201
    assert [s["principal"] for s in resp.get_json()["pending"]] == ["ehr-7"]
    assert sandbox.get("/admin/sandbox/scripts").get_json() == {"pending": []}
    # An anonymous submission is not the scripted client's: the policy decides.
    response = post(sandbox, load("approve-ct-head.json")).get_json()
    assert review_actions(response) == {1: "A1"}
    listed = sandbox.get("/admin/sandbox/scripts?principal=ehr-7").get_json()["pending"]
    assert [s["outcome"] for s in listed] == ["A3"]


@pytest.mark.parametrize(
    ("payload", "field"),
    [
        ({"outcome": "A5"}, "outcome"),
        ({"outcome": "approve"}, "outcome"),
        ({"outcome": "A1", "count": 0}, "count"),
        ({"outcome": "A1", "count": 101}, "count"),
        ({"count": 1}, "outcome"),
        ({}, "outcome"),
    ],
)
def test_invalid_scripts_are_400_with_an_operation_outcome(
    sandbox: FlaskClient, sandbox_services: Services, payload: dict[str, Any], field: str
) -> None:
    body = assert_outcome(sandbox.post("/admin/sandbox/scripts", json=payload), 400)
    assert [i["expression"] for i in body["issue"]] == [[field]]
    assert all(i["severity"] == "error" for i in body["issue"])
    assert count(sandbox_services, SandboxScript) == 0


def test_a_body_that_is_not_json_is_400(sandbox: FlaskClient) -> None:
    resp = sandbox.post("/admin/sandbox/scripts", data=b"{A3", content_type="application/json")
    assert_outcome(resp, 400)
