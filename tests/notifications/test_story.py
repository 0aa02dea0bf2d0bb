"""The pended story over real HTTP: subscribe, handshake, a request pends, the reviewer asks
for documentation, the provider sends it with $submit-attachment, the reviewer approves, the
notification with the approved ClaimResponse arrives, and ``$inquire`` agrees."""

from __future__ import annotations

import json

from fhir.resources.R4B.bundle import Bundle
from flask.testing import FlaskClient

from fhirauth.membership import member_id
from fhirauth.notifications.settings import NotificationSettings
from fhirauth.notifications.worker import start_worker_thread
from fhirauth.services import Services
from fhirauth.store.models import Authorization
from tests.inquiries import inquiry_of
from tests.notifications.helpers import FHIR_JSON, WAIT, Receiver, pend_mri, subscribed
from tests.pas import assert_pas_response, review_actions

pytest_plugins = ("tests.notifications.fixtures",)


def test_pended_request_approved_by_a_reviewer_is_pushed_to_the_subscriber(
    nclient: FlaskClient,
    nservices: Services,
    receiver: Receiver,
    notify: NotificationSettings,
) -> None:
    worker = start_worker_thread(nservices, settings=notify)
    try:
        subscribed(nclient, receiver, "org-identifier=NSNEURO")
        pended = pend_mri(nclient, nservices)
        request, actions, auth_id = pended.request, pended.actions, pended.authorization_id
        reviewer = {"npi": "1922067835"}  # who decides is the caller
        asked = nclient.post(
            f"/admin/review/{auth_id}/decisions",
            json={
                "item": 1,
                "action": "request-info",
                "documents": ["18748-4"],
                "reviewer": reviewer,
            },
        ).get_json()
        receiver.wait_for(lambda arr: len(arr) == 2, WAIT)
        requested = receiver.arrivals[1].json["entry"][1]["resource"]
        (comm,) = [
            e["resource"]
            for e in requested["entry"]
            if e["resource"]["resourceType"] == "CommunicationRequest"
        ]
        assert comm == next(
            e["resource"]
            for e in asked["entry"]
            if e["resource"]["resourceType"] == "CommunicationRequest"
        )
        by_type = {e["resource"]["resourceType"]: e["resource"] for e in request["entry"]}
        sent = nclient.post(
            "/fhir/$submit-attachment",
            content_type=FHIR_JSON,
            data=json.dumps(
                {
                    "resourceType": "Parameters",
                    "parameter": [
                        {"name": "TrackingId", "valueIdentifier": comm["identifier"][0]},
                        {"name": "AttachTo", "valueCode": "preauthorization"},
                        {
                            "name": "MemberId",
                            "valueIdentifier": {
                                "value": member_id(by_type["Coverage"], by_type["Patient"])
                            },
                        },
                        {
                            "name": "Attachment",
                            "part": [
                                {"name": "LineItem", "valueString": "1"},
                                {
                                    "name": "Content",
                                    "resource": {
                                        "resourceType": "DocumentReference",
                                        "status": "current",
                                        "type": {
                                            "coding": [
                                                {"system": "http://loinc.org", "code": "18748-4"}
                                            ]
                                        },
                                        "content": [
                                            {
                                                "attachment": {
                                                    "contentType": "text/plain",
                                                    "data": "Q1QgMjAyNi0xMS0yMDogbm9ybWFsLg==",
                                                }
                                            }
                                        ],
                                    },
                                },
                            ],
                        },
                    ],
                }
            ),
        )
        assert sent.status_code == 200
        (case,) = nclient.get("/admin/review/queue").get_json()["pended"]
        assert case["documentationReceivedAt"]  # back to the reviewer, marked
        for seq in actions:
            approved = nclient.post(
                f"/admin/review/{auth_id}/decisions",
                json={"item": seq, "action": "approve", "reviewer": reviewer},
            )
            assert approved.status_code == 200
        receiver.wait_for(lambda arr: len(arr) == 2 + len(actions), WAIT)
    finally:
        worker.stop(WAIT)

    final = receiver.arrivals[-1]
    assert final.kind == "event-notification"
    assert final.event_number == 1 + len(actions)
    assert final.headers["Authorization"] == "Bearer notify-token-1"
    note = final.json
    Bundle.model_validate(note)
    pushed = note["entry"][1]["resource"]
    assert (
        note["entry"][0]["resource"]["parameter"][-1]["part"][-1]["valueReference"]["reference"]
        == note["entry"][1]["fullUrl"]
    )
    assert_pas_response(pushed, request)
    assert set(review_actions(pushed).values()) == {"A1"}

    answer = nclient.post(
        "/fhir/Claim/$inquire", data=json.dumps(inquiry_of(request)), content_type=FHIR_JSON
    )
    assert answer.status_code == 200
    [found] = [p["resource"] for p in answer.get_json()["parameter"] if p["name"] == "return"]
    cr = found["entry"][0]["resource"]
    assert cr["preAuthRef"] == pushed["entry"][0]["resource"]["preAuthRef"]
    assert review_actions(found) == review_actions(pushed)
    with nservices.sessions() as session:
        auth = session.get(Authorization, auth_id)
        assert auth is not None and auth.status == "decided"
        assert auth.delivered_at is not None
