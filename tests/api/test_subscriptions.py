"""/fhir/Subscription over HTTP, with handshakes to a real receiver on 127.0.0.1."""

from __future__ import annotations

import json
from typing import Any

import pytest
from fhir.resources.R4B.bundle import Bundle
from fhir.resources.R4B.operationoutcome import OperationOutcome
from fhir.resources.R4B.parameters import Parameters
from fhir.resources.R4B.subscription import Subscription as R4Subscription
from flask.testing import FlaskClient

from fhirauth.notifications.settings import NotificationSettings
from fhirauth.notifications.worker import deliver_pending
from fhirauth.operations import subscription as ops
from fhirauth.principal import Principal
from fhirauth.services import Services
from tests.conftest import BASE_URL
from tests.notifications.helpers import FHIR_JSON, RULES, Receiver, broken, subscription

pytest_plugins = ("tests.notifications.fixtures",)


def post(client: FlaskClient, body: Any) -> Any:
    return client.post("/fhir/Subscription", data=json.dumps(body), content_type=FHIR_JSON)


def outcome(resp: Any) -> dict[str, Any]:
    assert resp.mimetype == FHIR_JSON
    body = resp.get_json()
    OperationOutcome.model_validate(body)
    return body


def test_create_answers_requested_then_handshake_makes_it_active(
    nclient: FlaskClient, nservices: Services, receiver: Receiver, notify: NotificationSettings
) -> None:
    resp = post(nclient, subscription(receiver.url))
    assert resp.status_code == 201
    created = resp.get_json()
    R4Subscription.model_validate(created)
    assert created["status"] == "requested"
    assert created["channel"]["type"] == "rest-hook"
    sub_id = created["id"]
    assert resp.headers["Location"] == f"{BASE_URL}/Subscription/{sub_id}/_history/1"
    assert resp.headers["ETag"] == 'W/"1"'
    assert receiver.arrivals == []  # never inside the request

    assert deliver_pending(nservices, limit=10, settings=notify) == 1
    [hs] = receiver.arrivals
    assert hs.headers["Content-Type"] == FHIR_JSON
    assert hs.headers["Authorization"] == "Bearer notify-token-1"
    bundle = hs.json
    Bundle.model_validate(bundle)
    assert bundle["type"] == "history" and len(bundle["entry"]) == 1
    status = bundle["entry"][0]["resource"]
    Parameters.model_validate(status)
    assert status["resourceType"] == "Parameters"
    assert hs.params["type"] == "handshake"
    assert hs.params["status"] == "requested"
    assert hs.params["events-since-subscription-start"] == "0"
    assert hs.params["subscription"]["reference"] == f"{BASE_URL}/Subscription/{sub_id}"
    assert hs.params["topic"] == ops.PAS_TOPIC
    assert bundle["entry"][0]["request"]["url"].endswith(f"/Subscription/{sub_id}/$status")

    read = nclient.get(f"/fhir/Subscription/{sub_id}")
    assert read.status_code == 200
    assert read.get_json()["status"] == "active"
    assert read.get_json()["meta"]["versionId"] == "2"
    assert deliver_pending(nservices, limit=10, settings=notify) == 0


def test_failed_handshake_puts_the_subscription_in_error(
    nclient: FlaskClient,
    nservices: Services,
    receiver: Receiver,
    notify: NotificationSettings,
) -> None:
    receiver.behaviour = lambda _a: 503
    sub_id = post(nclient, subscription(receiver.url)).get_json()["id"]
    once = NotificationSettings(**{**notify.__dict__, "max_attempts": 1})
    assert deliver_pending(nservices, limit=10, settings=once) == 1
    sub = nclient.get(f"/fhir/Subscription/{sub_id}").get_json()
    assert sub["status"] == "error"
    assert "503" in sub["error"]
    status = nclient.get(f"/fhir/Subscription/{sub_id}/$status").get_json()
    params = {p["name"]: p for p in status["entry"][0]["resource"]["parameter"]}
    assert params["status"]["valueCode"] == "error"
    assert "503" in params["error"]["valueCodeableConcept"]["text"]


def test_unreachable_endpoint(
    nclient: FlaskClient, nservices: Services, notify: NotificationSettings
) -> None:
    # A port nobody listens on: connection refused.
    sub_id = post(nclient, subscription("http://127.0.0.1:9/notify")).get_json()["id"]
    once = NotificationSettings(**{**notify.__dict__, "max_attempts": 1})
    deliver_pending(nservices, limit=10, settings=once)
    sub = nclient.get(f"/fhir/Subscription/{sub_id}").get_json()
    assert sub["status"] == "error" and "ConnectionError" in sub["error"]


@pytest.mark.parametrize("change", RULES)
def test_invalid_subscriptions_get_one_operation_outcome(nclient: FlaskClient, change: str) -> None:
    body, status, path = broken(change)
    if change == "http-endpoint":
        # These tests allow http://; a scheme nobody can POST to is refused the same way.
        body["channel"]["endpoint"] = "ftp://ehr.example.org/notify"
    resp = post(nclient, body)
    assert resp.status_code == status
    oo = outcome(resp)
    assert [i["expression"] for i in oo["issue"]] == [[path]]


@pytest.mark.parametrize("base", ["/fhir", "/fhir/pas/v2.0.1"])
def test_unsafe_headers_are_refused_on_create_and_update(
    nclient: FlaskClient, receiver: Receiver, base: str
) -> None:
    unsafe = ("X-Ok: 1", "X-Token: a\r\nX-Injected: evil")
    resp = nclient.post(
        f"{base}/Subscription",
        data=json.dumps(subscription(receiver.url, headers=unsafe)),
        content_type=FHIR_JSON,
    )
    assert resp.status_code == 400
    oo = outcome(resp)
    assert [i["expression"] for i in oo["issue"]] == [["Subscription.channel.header[1]"]]
    assert "evil" not in json.dumps(oo)

    created = nclient.post(
        f"{base}/Subscription", data=json.dumps(subscription(receiver.url)), content_type=FHIR_JSON
    )
    assert created.status_code == 201
    sub_id = created.get_json()["id"]
    for headers in (unsafe, ("Content-Length: 0",), tuple(f"X-H{i}: {i}" for i in range(11))):
        body = {**subscription(receiver.url, headers=headers), "id": sub_id}
        resp = nclient.put(
            f"{base}/Subscription/{sub_id}", data=json.dumps(body), content_type=FHIR_JSON
        )
        assert resp.status_code == 400
        index = 10 if len(headers) > 10 else len(headers) - 1
        assert outcome(resp)["issue"][0]["expression"] == [f"Subscription.channel.header[{index}]"]
    read = nclient.get(f"{base}/Subscription/{sub_id}").get_json()
    assert read["meta"]["versionId"] == "1"
    assert read["channel"]["header"] == ["Authorization: Bearer notify-token-1"]


def test_not_json_or_wrong_media_type(nclient: FlaskClient) -> None:
    resp = nclient.post("/fhir/Subscription", data=b"{", content_type=FHIR_JSON)
    assert resp.status_code == 400 and outcome(resp)
    resp = nclient.post("/fhir/Subscription", data=b"<x/>", content_type="application/fhir+xml")
    assert resp.status_code == 415 and outcome(resp)


def test_only_the_owner_reads_changes_or_deletes(
    nclient: FlaskClient, nservices: Services, receiver: Receiver
) -> None:
    theirs = ops.create(
        subscription(receiver.url), Principal("someone-else", ("NSNEURO",)), nservices
    ).id
    for resp in (
        nclient.get(f"/fhir/Subscription/{theirs}"),
        nclient.put(
            f"/fhir/Subscription/{theirs}",
            data=json.dumps({**subscription(receiver.url), "id": theirs}),
            content_type=FHIR_JSON,
        ),
        nclient.delete(f"/fhir/Subscription/{theirs}"),
        nclient.get(f"/fhir/Subscription/{theirs}/$status"),
        nclient.post(f"/fhir/Subscription/{theirs}/$status"),
    ):
        assert resp.status_code == 404
        assert outcome(resp)["issue"][0]["code"] == "not-found"
    assert nclient.get("/fhir/Subscription/$status").get_json()["total"] == 0
    assert (
        ops.read(theirs, Principal("someone-else", ("NSNEURO",)), nservices).resource["status"]
        == "requested"
    )


def test_update_and_delete(nclient: FlaskClient, receiver: Receiver) -> None:
    sub_id = post(nclient, subscription(receiver.url)).get_json()["id"]
    changed = {**subscription(receiver.url, headers=("X-Token: 2",)), "id": sub_id}
    resp = nclient.put(
        f"/fhir/Subscription/{sub_id}", data=json.dumps(changed), content_type=FHIR_JSON
    )
    assert resp.status_code == 200
    assert resp.get_json()["channel"]["header"] == ["X-Token: 2"]
    assert resp.headers["ETag"] == 'W/"2"'
    assert nclient.delete(f"/fhir/Subscription/{sub_id}").status_code == 204
    assert nclient.get(f"/fhir/Subscription/{sub_id}").status_code == 404
    assert nclient.delete(f"/fhir/Subscription/{sub_id}").status_code == 404


def test_status_operation_get_and_post(nclient: FlaskClient, receiver: Receiver) -> None:
    one = post(nclient, subscription(receiver.url)).get_json()["id"]
    two = post(nclient, subscription(receiver.url)).get_json()["id"]
    for resp in (
        nclient.get(f"/fhir/Subscription/{one}/$status"),
        nclient.post(f"/fhir/Subscription/{one}/$status"),
    ):
        assert resp.status_code == 200 and resp.mimetype == FHIR_JSON
        bundle = resp.get_json()
        Bundle.model_validate(bundle)
        assert bundle["type"] == "searchset" and bundle["total"] == 1
        ref = bundle["entry"][0]["resource"]["parameter"][0]["valueReference"]["reference"]
        assert ref == f"{BASE_URL}/Subscription/{one}"
    assert nclient.get("/fhir/Subscription/$status").get_json()["total"] == 2
    assert nclient.get(f"/fhir/Subscription/$status?id={two}").get_json()["total"] == 1
    by_post = nclient.post(
        "/fhir/Subscription/$status",
        data=json.dumps(
            {
                "resourceType": "Parameters",
                "parameter": [
                    {"name": "id", "valueId": one},
                    {"name": "status", "valueCode": "off"},
                ],
            }
        ),
        content_type=FHIR_JSON,
    )
    assert by_post.status_code == 200 and by_post.get_json()["total"] == 0
