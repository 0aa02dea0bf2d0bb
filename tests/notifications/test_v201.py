"""Subscriptions made through the PAS 2.0.1 base, over real HTTP: an ``id-only`` subscription
filtered by ``identifier=`` gets a notification naming the decided ClaimResponse under the 2.0.1
base and nothing more, which the EHR then reads there; a 2.0.1 ``full-resource`` subscription
gets the response Bundle in 2.0.1 terms, beside a 2.2.1 one that gets the stored bytes."""

from __future__ import annotations

import json
from typing import Any

import orjson
import pytest
from fhir.resources.R4B.bundle import Bundle
from fhir.resources.R4B.claimresponse import ClaimResponse
from fhir.resources.R4B.parameters import Parameters
from flask.testing import FlaskClient
from sqlalchemy import select

from fhirauth.notifications import bundles
from fhirauth.notifications.settings import NotificationSettings
from fhirauth.notifications.worker import deliver_pending
from fhirauth.services import Services
from fhirauth.store.models import Authorization, ClaimResponseVersion
from tests.conftest import BASE_URL, EXAMPLES, NOW
from tests.notifications.helpers import FHIR_JSON, Arrival, Receiver, subscription
from tests.pas import PAS, review_actions

pytest_plugins = ("tests.notifications.fixtures",)

V201 = "/fhir/pas/v2.0.1"
BASE_201 = BASE_URL + "/pas/v2.0.1"
NPI = "http://hl7.org/fhir/sid/us-npi"
REQUESTOR_NPI = "1752039689"  # the requesting organization of pend-mri-brain.json
REVIEWER = {"npi": "1922067835"}  # who decides is the caller (its access token)


def load(name: str) -> dict[str, Any]:
    return json.loads((EXAMPLES / name).read_text())


def post(client: FlaskClient, path: str, body: Any) -> Any:
    return client.post(path, data=json.dumps(body), content_type=FHIR_JSON)


def subscribe(
    client: FlaskClient,
    services: Services,
    receiver: Receiver,
    notify: NotificationSettings,
    path: str,
    body: dict[str, Any],
) -> dict[str, Any]:
    """POST a Subscription and complete its handshake; returns it as read back."""
    created = post(client, path, body)
    assert created.status_code == 201, created.get_json()
    sub_id = created.get_json()["id"]
    base = BASE_201 if path.startswith(V201) else BASE_URL
    assert created.headers["Location"] == f"{base}/Subscription/{sub_id}/_history/1"
    assert deliver_pending(services, limit=5, settings=notify) == 1
    (handshake,) = [a for a in receiver.arrivals if a.subscription_id == sub_id]
    assert handshake.kind == "handshake"
    Bundle.model_validate(handshake.json)
    read = client.get(f"{path}/{sub_id}")
    assert read.status_code == 200 and read.get_json()["status"] == "active"
    return read.get_json()


def pend_then_approve(client: FlaskClient, services: Services) -> str:
    """A request pends through the 2.0.1 base and a reviewer approves it; returns the
    ClaimResponse id."""
    pended = post(client, f"{V201}/Claim/$submit", load("pend-mri-brain.json"))
    assert pended.status_code == 200
    body = pended.get_json()
    assert set(review_actions(body).values()) == {"A4"}
    cr_id = body["entry"][0]["resource"]["id"]
    with services.sessions() as session:
        auth_id = session.scalars(select(Authorization.id)).one()
    for seq in review_actions(body):
        approved = client.post(
            f"/admin/review/{auth_id}/decisions",
            json={"item": seq, "action": "approve", "reviewer": REVIEWER},
        )
        assert approved.status_code == 200
    return cr_id


def events(receiver: Receiver, sub_id: str) -> list[Arrival]:
    return [a for a in receiver.of_kind("event-notification") if a.subscription_id == sub_id]


def test_id_only_notification_names_the_201_claim_response_which_the_ehr_reads(
    nclient: FlaskClient, nservices: Services, receiver: Receiver, notify: NotificationSettings
) -> None:
    body = subscription(receiver.url, filters=(f"identifier={REQUESTOR_NPI}",), content="id-only")
    sub = subscribe(nclient, nservices, receiver, notify, f"{V201}/Subscription", body)
    assert sub["channel"]["_payload"] == body["channel"]["_payload"]  # id-only, kept
    assert sub["_criteria"] == body["_criteria"]

    cr_id = pend_then_approve(nclient, nservices)
    assert deliver_pending(nservices, limit=5, settings=notify) == 1

    (note,) = events(receiver, sub["id"])
    assert note.headers["Content-Type"] == FHIR_JSON
    assert note.headers["Authorization"] == "Bearer notify-token-1"
    bundle = note.json
    Bundle.model_validate(bundle)
    assert bundle["type"] == "history"
    (only,) = bundle["entry"]  # the SubscriptionStatus and no resource besides it
    Parameters.model_validate(only["resource"])
    assert only["request"]["url"].endswith(f"/Subscription/{sub['id']}/$status")
    focus = f"{BASE_201}/ClaimResponse/{cr_id}"
    assert note.params["notification-event"]["focus"] == {"reference": focus}
    assert note.params["type"] == "event-notification"
    assert note.event_number == 1
    assert b'"ClaimResponse"' not in note.body and b"preAuthRef" not in note.body

    # The EHR reads the focus through the 2.0.1 base and finds the decision.
    read = nclient.get(focus.removeprefix("http://fhirauth.test"))
    assert read.status_code == 200
    cr = read.get_json()
    ClaimResponse.model_validate(cr)
    assert cr["id"] == cr_id
    assert cr["meta"]["profile"] == [PAS + "profile-claimresponse|2.0.1"]
    assert set(review_actions({"entry": [{"resource": cr}]}).values()) == {"A1"}

    status = nclient.get(f"{V201}/Subscription/{sub['id']}/$status")
    assert status.status_code == 200
    params = {p["name"]: p for p in status.get_json()["entry"][0]["resource"]["parameter"]}
    assert params["events-since-subscription-start"]["valueString"] == "1"
    assert params["status"]["valueCode"] == "active"


def test_full_resource_201_gets_the_201_bundle_and_221_the_stored_one(
    nclient: FlaskClient, nservices: Services, receiver: Receiver, notify: NotificationSettings
) -> None:
    full201 = subscribe(
        nclient,
        nservices,
        receiver,
        notify,
        f"{V201}/Subscription",
        subscription(receiver.url, filters=(f"identifier={NPI}|{REQUESTOR_NPI}",)),
    )
    sub221 = subscribe(
        nclient, nservices, receiver, notify, "/fhir/Subscription", subscription(receiver.url)
    )
    cr_id = pend_then_approve(nclient, nservices)
    assert deliver_pending(nservices, limit=5, settings=notify) == 2

    (note,) = events(receiver, full201["id"])
    bundle = note.json
    Bundle.model_validate(bundle)
    status, focus = bundle["entry"]
    Parameters.model_validate(status["resource"])
    assert note.params["notification-event"]["focus"]["reference"] == focus["fullUrl"]
    pushed = focus["resource"]
    Bundle.model_validate(pushed)
    assert pushed["type"] == "collection"
    first = pushed["entry"][0]
    assert first["fullUrl"] == f"{BASE_201}/ClaimResponse/{cr_id}"
    assert first["resource"]["meta"]["profile"] == [PAS + "profile-claimresponse|2.0.1"]
    assert set(review_actions(pushed).values()) == {"A1"}
    assert "extension-claimResponseReviewer" not in json.dumps(first["resource"])

    (note221,) = events(receiver, sub221["id"])
    Bundle.model_validate(note221.json)
    with nservices.sessions() as session:
        auth = session.scalars(select(Authorization)).one()
        stored = session.get(ClaimResponseVersion, (auth.id, auth.current_version))
        assert stored is not None
        raw = stored.bundle
    assert raw.strip() in note221.body  # 2.2.1: the stored bytes, spliced in unchanged
    pushed221 = note221.json["entry"][1]["resource"]
    assert pushed221["entry"][0]["fullUrl"] == f"{BASE_URL}/ClaimResponse/{cr_id}"
    assert pushed221["entry"][0]["resource"]["meta"]["profile"] == [PAS + "profile-claimresponse"]


# --- the notification shapes, without HTTP ---------------------------------------------------

STATE = bundles.SubscriptionState("s1", "active", 3)


def _response(first: dict[str, Any]) -> bytes:
    return orjson.dumps(
        {
            "resourceType": "Bundle",
            "id": "b1",
            "type": "collection",
            "entry": [{"fullUrl": f"{BASE_URL}/ClaimResponse/cr1", "resource": first}],
        }
    )


def test_id_only_shape() -> None:
    event = bundles.Event(3, NOW, _response({"resourceType": "ClaimResponse", "id": "cr1"}))
    raw = bundles.event_notification(
        BASE_URL, STATE, event, NOW, content="id-only", pas_version="2.0.1"
    )
    note = orjson.loads(raw)
    Bundle.model_validate(note)
    assert len(note["entry"]) == 1
    (nev,) = [
        p for p in note["entry"][0]["resource"]["parameter"] if p["name"] == "notification-event"
    ]
    parts = {p["name"]: p for p in nev["part"]}
    assert parts["focus"]["valueReference"] == {"reference": f"{BASE_201}/ClaimResponse/cr1"}
    assert parts["event-number"]["valueString"] == "3"


@pytest.mark.parametrize(
    ("payload", "content", "version"),
    [
        (_response({"resourceType": "Bundle", "id": "x"}), "id-only", "2.0.1"),
        (_response({"resourceType": "ClaimResponse"}), "id-only", "2.0.1"),
        (_response({"resourceType": "ClaimResponse", "id": "cr1"}), "other", "2.0.1"),
        (_response({"resourceType": "ClaimResponse", "id": "cr1"}), "id-only", "9.9.9"),
    ],
)
def test_what_cannot_be_notified(payload: bytes, content: str, version: str) -> None:
    with pytest.raises(ValueError):
        bundles.event_notification(
            BASE_URL,
            STATE,
            bundles.Event(1, NOW, payload),
            NOW,
            content=content,
            pas_version=version,
        )
