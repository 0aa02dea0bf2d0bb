"""Event notifications to a real receiver: shape, headers, retries with backoff, error,
redirects, timeouts, ordering and lease takeover (one delivery pass at a time)."""

from __future__ import annotations

import json
import threading
from datetime import timedelta
from typing import Any

import orjson
from fhir.resources.R4B.bundle import Bundle
from fhir.resources.R4B.parameters import Parameters
from flask.testing import FlaskClient
from sqlalchemy import select, update

from fhirauth.fhir.bundle import parse_request
from fhirauth.notifications import outbox
from fhirauth.notifications.settings import NotificationSettings
from fhirauth.notifications.worker import deliver_pending
from fhirauth.operations import subscription as ops
from fhirauth.principal import ANONYMOUS
from fhirauth.services import Services
from fhirauth.store.models import Authorization, ClaimResponseVersion, OutboxEvent, Subscription
from tests.conftest import BASE_URL, EXAMPLES
from tests.notifications.helpers import FHIR_JSON, Receiver, TestClock, subscription
from tests.pas import review_actions

pytest_plugins = ("tests.notifications.fixtures",)


def load(name: str) -> dict[str, Any]:
    return json.loads((EXAMPLES / name).read_text())


def subscribe(
    services: Services, receiver: Receiver, notify: NotificationSettings, **kw: Any
) -> str:
    """Create a subscription and complete its handshake; returns its id."""
    sub_id = ops.create(subscription(receiver.url, **kw), ANONYMOUS, services).id
    assert deliver_pending(services, limit=5, settings=notify) == 1
    assert ops.read(sub_id, ANONYMOUS, services).resource["status"] == "active"
    receiver.arrivals.clear()
    return sub_id


def change(services: Services, bundle: dict[str, Any], payload: bytes, auth: str = "a1") -> int:
    with services.sessions.begin() as session:
        return outbox.record_change(
            session,
            authorization_id=auth,
            request=parse_request(bundle),
            response_bundle=payload,
            at=services.clock(),
        )


def payload(n: int) -> bytes:
    return orjson.dumps(
        {
            "resourceType": "Bundle",
            "id": f"b{n}",
            "identifier": {
                "system": "urn:ietf:rfc:3986",
                "value": f"urn:uuid:{n:08d}-0000-4000-8000-000000000000",
            },
            "type": "collection",
            "entry": [],
        }
    )


def test_notification_carries_the_stored_pas_response(
    nclient: FlaskClient,
    nservices: Services,
    receiver: Receiver,
    notify: NotificationSettings,
) -> None:
    sub_id = subscribe(
        nservices,
        receiver,
        notify,
        headers=("Authorization: Bearer inferno-token", "X-Correlation: 42"),
    )
    request = load("pend-mri-brain.json")
    resp = nclient.post("/fhir/Claim/$submit", data=json.dumps(request), content_type=FHIR_JSON)
    assert resp.status_code == 200
    assert "A4" in review_actions(resp.get_json()).values()
    with nservices.sessions() as session:
        auth = session.scalars(select(Authorization)).one()
        stored = session.get(ClaimResponseVersion, (auth.id, auth.current_version))
        assert stored is not None
        raw = stored.bundle
    # What the reviewer's decision does, in its transaction.
    with nservices.sessions.begin() as session:
        session.execute(
            update(Authorization).values(decided_at=nservices.clock(), delivered_at=None)
        )
        n = outbox.record_change(
            session,
            authorization_id=auth.id,
            request=parse_request(request),
            response_bundle=raw,
            at=nservices.clock(),
        )
    assert n == 1
    assert receiver.arrivals == []
    assert deliver_pending(nservices, limit=10, settings=notify) == 1

    [note] = receiver.arrivals
    assert note.headers["Content-Type"] == FHIR_JSON
    assert note.headers["Authorization"] == "Bearer inferno-token"
    assert note.headers["X-Correlation"] == "42"
    assert raw in note.body  # the stored bytes, spliced in unchanged

    bundle = note.json
    Bundle.model_validate(bundle)
    assert bundle["type"] == "history" and len(bundle["entry"]) == 2
    first, second = bundle["entry"]
    Parameters.model_validate(first["resource"])
    assert first["resource"]["meta"]["profile"] == [
        "http://hl7.org/fhir/uv/subscriptions-backport/StructureDefinition/"
        "backport-subscription-status-r4"
    ]
    p = note.params
    assert p["subscription"]["reference"] == f"{BASE_URL}/Subscription/{sub_id}"
    assert p["topic"] == ops.PAS_TOPIC
    assert p["status"] == "active"
    assert p["type"] == "event-notification"
    assert p["events-since-subscription-start"] == "1"
    event = p["notification-event"]
    assert event["event-number"] == "1"
    assert event["timestamp"].endswith("Z")
    # Inferno 2.3.2.03/04: the focus resolves to an entry that is the PAS response Bundle.
    assert event["focus"]["reference"] == second["fullUrl"]
    focus = second["resource"]
    assert focus == orjson.loads(raw)
    assert focus["type"] == "collection"
    assert focus["entry"][0]["resource"]["resourceType"] == "ClaimResponse"
    for entry in bundle["entry"]:
        assert entry["request"]["method"] and entry["request"]["url"]
        assert entry["response"]["status"] == "200"
    with nservices.sessions() as session:
        assert session.get(Authorization, auth.id).delivered_at == nservices.clock()


def test_retries_with_exponential_backoff_then_error_then_repair(
    nservices: Services, receiver: Receiver, notify: NotificationSettings, clock: TestClock
) -> None:
    sub_id = subscribe(nservices, receiver, notify)
    receiver.behaviour = lambda _a: 500
    assert change(nservices, load("pend-mri-brain.json"), payload(1)) == 1

    def row() -> OutboxEvent:
        with nservices.sessions() as session:
            return session.scalars(
                select(OutboxEvent).where(OutboxEvent.kind == "event-notification")
            ).one()

    start = clock()
    assert deliver_pending(nservices, limit=10, settings=notify) == 1
    assert row().attempts == 1 and row().next_attempt_at == start + timedelta(seconds=10)
    assert deliver_pending(nservices, limit=10, settings=notify) == 0  # not due yet
    clock.advance(10)
    assert deliver_pending(nservices, limit=10, settings=notify) == 1
    assert row().attempts == 2 and row().next_attempt_at == clock() + timedelta(seconds=20)
    clock.advance(19)
    assert deliver_pending(nservices, limit=10, settings=notify) == 0
    clock.advance(1)
    assert deliver_pending(nservices, limit=10, settings=notify) == 1  # the third: give up
    assert row().status == "pending" and row().attempts == 3
    sub = ops.read(sub_id, ANONYMOUS, nservices).resource
    assert sub["status"] == "error" and "HTTP 500" in sub["error"]
    clock.advance(3600)
    assert deliver_pending(nservices, limit=10, settings=notify) == 0
    assert [a.event_number for a in receiver.arrivals] == [1, 1, 1]

    # A change while in error is kept for later.
    assert change(nservices, load("pend-mri-brain.json"), payload(2)) == 1
    # The client repairs the subscription: a new handshake, then the backlog in order.
    receiver.behaviour = lambda _a: 200
    receiver.arrivals.clear()
    ops.update(sub_id, {**subscription(receiver.url), "id": sub_id}, ANONYMOUS, nservices)
    assert deliver_pending(nservices, limit=10, settings=notify) == 3
    assert [a.kind for a in receiver.arrivals] == ["handshake", *["event-notification"] * 2]
    assert [a.event_number for a in receiver.arrivals[1:]] == [1, 2]
    assert receiver.arrivals[0].params["events-since-subscription-start"] == "2"


def test_a_redirect_is_a_failure_and_is_not_followed(
    nservices: Services, receiver: Receiver, notify: NotificationSettings
) -> None:
    subscribe(nservices, receiver, notify)
    receiver.behaviour = lambda _a: (307, {"Location": receiver.url + "/elsewhere"})
    change(nservices, load("pend-mri-brain.json"), payload(1))
    assert deliver_pending(nservices, limit=10, settings=notify) == 1
    assert [a.path for a in receiver.arrivals] == ["/notify"]
    with nservices.sessions() as session:
        ev = session.scalars(select(OutboxEvent).where(OutboxEvent.kind != "handshake")).one()
    assert ev.status == "pending" and "HTTP 307" in (ev.last_error or "")


def test_a_slow_endpoint_times_out(
    nservices: Services, receiver: Receiver, notify: NotificationSettings
) -> None:
    subscribe(nservices, receiver, notify)
    release = threading.Event()

    def slow(_a: Any) -> int:
        release.wait(5)
        return 200

    receiver.behaviour = slow
    fast = NotificationSettings(**{**notify.__dict__, "read_timeout": 0.3})
    change(nservices, load("pend-mri-brain.json"), payload(1))
    try:
        assert deliver_pending(nservices, limit=10, settings=fast) == 1
    finally:
        release.set()
    with nservices.sessions() as session:
        ev = session.scalars(select(OutboxEvent).where(OutboxEvent.kind != "handshake")).one()
    assert ev.status == "pending" and "Timeout" in (ev.last_error or "")


def test_a_later_event_waits_for_an_earlier_one(
    nservices: Services, receiver: Receiver, notify: NotificationSettings, clock: TestClock
) -> None:
    subscribe(nservices, receiver, notify)
    first_time = threading.Event()

    def fail_once(_a: Any) -> int:
        if not first_time.is_set():
            first_time.set()
            return 500
        return 200

    receiver.behaviour = fail_once
    for n in (1, 2, 3):
        change(nservices, load("pend-mri-brain.json"), payload(n))
    assert deliver_pending(nservices, limit=10, settings=notify) == 1  # 1 fails; 2, 3 wait
    assert [a.event_number for a in receiver.arrivals] == [1]
    clock.advance(10)
    assert deliver_pending(nservices, limit=10, settings=notify) == 3
    assert [a.event_number for a in receiver.arrivals] == [1, 1, 2, 3]


def test_a_dead_loops_claim_runs_out_and_the_event_is_resent(
    nservices: Services, receiver: Receiver, notify: NotificationSettings, clock: TestClock
) -> None:
    """A loop that claimed an event and stopped (its thread died) holds it for the lease only."""
    sub_id = subscribe(nservices, receiver, notify)
    change(nservices, load("pend-mri-brain.json"), payload(1))
    change(nservices, load("pend-mri-brain.json"), payload(2))
    now = clock()
    with nservices.sessions.begin() as session:
        [first, *_] = outbox.due(session, now, 10)
        assert outbox.claim(session, first, "dead-loop", now, now + timedelta(seconds=10))
    assert deliver_pending(nservices, limit=10, settings=notify) == 0  # leased, and 2 waits
    clock.advance(10.001)
    assert deliver_pending(nservices, limit=10, settings=notify) == 2
    assert [a.event_number for a in receiver.arrivals] == [1, 2]
    with nservices.sessions.begin() as session:
        # The dead loop, were it to wake up, cannot record anything for the event any more.
        j = outbox.job(session, first)
        assert j is not None
        assert not outbox.delivered(session, j, "dead-loop", clock())
        assert session.get(Subscription, sub_id).events_since_start == 2
