"""Additional documentation: CDex $submit-attachment and Claim Updates carrying documents."""

from __future__ import annotations

import base64
import json
from typing import Any

from flask.testing import FlaskClient

from fhirauth.membership import member_id
from tests.conftest import EXAMPLES
from tests.pas import PAS, review_actions
from tests.updates import update_of

LOINC = "http://loinc.org"


def load(name: str) -> dict[str, Any]:
    return json.loads((EXAMPLES / name).read_text())


def submit(client: FlaskClient, bundle: dict[str, Any]) -> dict[str, Any]:
    resp = client.post(
        "/fhir/Claim/$submit", data=json.dumps(bundle), content_type="application/fhir+json"
    )
    assert resp.status_code == 200
    return resp.get_json()


def note(code: str = "11506-3") -> dict[str, Any]:
    return {
        "resourceType": "DocumentReference",
        "status": "current",
        "type": {"coding": [{"system": LOINC, "code": code}]},
        "content": [
            {
                "attachment": {
                    "contentType": "text/plain",
                    "data": base64.b64encode(
                        b"Right knee OA, failed 6 months of PT and NSAIDs."
                    ).decode(),
                }
            }
        ],
    }


def member_of(request: dict[str, Any]) -> str:
    by_type = {e["resource"]["resourceType"]: e["resource"] for e in request["entry"]}
    return str(member_id(by_type["Coverage"], by_type["Patient"]))


def attachment(tracking: str, member: str, doc: dict[str, Any], line: str = "1") -> dict[str, Any]:
    return {
        "resourceType": "Parameters",
        "parameter": [
            {"name": "TrackingId", "valueIdentifier": {"value": tracking}},
            {"name": "AttachTo", "valueCode": "preauthorization"},
            {"name": "MemberId", "valueIdentifier": {"value": member}},
            {
                "name": "Attachment",
                "part": [
                    {"name": "LineItem", "valueString": line},
                    {"name": "Code", "valueCodeableConcept": {"coding": doc["type"]["coding"]}},
                    {"name": "Content", "resource": doc},
                ],
            },
        ],
    }


def post_attachment(client: FlaskClient, params: dict[str, Any]) -> Any:
    return client.post(
        "/fhir/$submit-attachment", data=json.dumps(params), content_type="application/fhir+json"
    )


def tracking_of(bundle: dict[str, Any]) -> str:
    (comm,) = [
        e["resource"]
        for e in bundle["entry"]
        if e["resource"]["resourceType"] == "CommunicationRequest"
    ]
    return str(comm["identifier"][0]["value"])


def current(client: FlaskClient, bundle: dict[str, Any]) -> dict[str, Any]:
    cr_id = bundle["entry"][0]["resource"]["id"]
    return client.get(f"/fhir/ClaimResponse/{cr_id}").get_json()


def test_the_requested_note_by_submit_attachment_lets_the_policy_approve(
    client: FlaskClient,
) -> None:
    request = load("pend-knee-needs-note.json")
    first = submit(client, request)
    assert review_actions(first) == {1: "A4"}
    resp = post_attachment(client, attachment(tracking_of(first), member_of(request), note()))
    assert resp.status_code == 200
    outcome = resp.get_json()
    assert outcome["resourceType"] == "OperationOutcome"
    assert "item 1: A1" in outcome["issue"][0]["diagnostics"]
    cr = current(client, first)
    assert cr["meta"]["versionId"] == "2"
    action = cr["item"][0]["adjudication"][0]["extension"][0]["extension"][0]
    assert action["valueCodeableConcept"]["coding"][0]["code"] == "A1"


def test_documents_that_do_not_satisfy_the_policy_return_the_case_marked_received(
    client: FlaskClient,
) -> None:
    request = load("pend-mri-brain.json")
    first = submit(client, request)
    ref = first["entry"][0]["resource"]["preAuthRef"]
    resp = client.post(
        f"/admin/review/{ref}/decisions",
        json={
            "item": 1,
            "action": "request-info",
            "documents": ["18748-4"],
        },
    )
    asked = resp.get_json()
    assert (
        post_attachment(
            client, attachment(tracking_of(asked), member_of(request), note("18748-4"))
        ).status_code
        == 200
    )
    (case,) = client.get("/admin/review/queue").get_json()["pended"]
    assert case["preAuthRef"] == ref and case["documentationReceivedAt"]
    detail = client.get(f"/admin/review/{ref}").get_json()
    assert detail["items"][0]["requestedDocuments"] == []  # nothing outstanding


def test_an_unknown_tracking_id_or_the_wrong_member_gets_404(client: FlaskClient) -> None:
    request = load("pend-knee-needs-note.json")
    first = submit(client, request)
    assert (
        post_attachment(
            client, attachment("PA0000000000-1-1", member_of(request), note())
        ).status_code
        == 404
    )
    assert (
        post_attachment(client, attachment(tracking_of(first), "SOMEONE-ELSE", note())).status_code
        == 404
    )
    assert current(client, first)["meta"]["versionId"] == "1"  # nothing changed


def test_a_malformed_attachment_request_gets_400_with_an_operation_outcome(
    client: FlaskClient,
) -> None:
    resp = post_attachment(
        client,
        {"resourceType": "Parameters", "parameter": [{"name": "AttachTo", "valueCode": "claim"}]},
    )
    assert resp.status_code == 400
    codes = {i["code"] for i in resp.get_json()["issue"]}
    assert {"required", "not-supported"} <= codes


def test_a_claim_update_carrying_the_note_decides_the_pended_item(client: FlaskClient) -> None:
    request = load("pend-knee-needs-note.json")
    first = submit(client, request)
    update = update_of(request, 1)
    claim = update["entry"][0]["resource"]
    update["entry"].append(
        {"fullUrl": "urn:uuid:6f1a3e52-8d7b-4c1e-9a55-0b7d2c4e9f10", "resource": note()}
    )
    claim.setdefault("supportingInfo", []).append(
        {
            "extension": [
                {
                    "url": PAS + "extension-documentInformation",
                    "extension": [
                        {
                            "url": "reportTypeCode",
                            "valueCodeableConcept": {
                                "coding": [
                                    {
                                        "system": "https://codesystem.x12.org/005010/755",
                                        "code": "09",
                                    }
                                ]
                            },
                        }
                    ],
                },
                {"url": PAS + "extension-infoChanged", "valueCode": "added"},
            ],
            "sequence": 1,
            "category": {
                "coding": [
                    {
                        "system": "http://hl7.org/fhir/us/davinci-pas/CodeSystem/PASTempCodes",
                        "code": "additionalInformation",
                    }
                ]
            },
            "valueReference": {"reference": "urn:uuid:6f1a3e52-8d7b-4c1e-9a55-0b7d2c4e9f10"},
        }
    )
    second = submit(client, update)
    assert review_actions(second) == {1: "A1"}
    assert second["entry"][0]["resource"]["id"] == first["entry"][0]["resource"]["id"]
